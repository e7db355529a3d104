"""Facts of clan-core's services the catalogue must hold (issue 10, item 9), each checked in clan's .nix,
and the promise that a working clan inventory gets no error clan would not give."""

from __future__ import annotations

from typing import Any

from dendrite.findings import Severity
from dendrite.inventory import inventory_from_plain, machine_view, validate
from dendrite.inventory.catalogue import bundled
from tests.inventory.clanoracle import CLAN_CORE, needs_clan_core, needs_nix, nix_check

MACHINES = {
    "cinnabar": {"machineClass": "nixos", "tags": ["server"]},
    "orb": {"machineClass": "nixos", "tags": ["server", "lab"]},
    "electrum": {"machineClass": "nixos", "tags": ["laptop"]},
    "blackphos": {"machineClass": "darwin", "tags": ["laptop"]},
}


def inv(instances: dict[str, Any], machines: dict[str, Any] | None = None) -> Any:
    return inventory_from_plain({"machines": machines or MACHINES, "instances": instances})


def gens(i: Any, machine: str) -> dict[str, Any]:
    return {g.name: g for g in machine_view(i, machine).generators}


def problems(i: Any) -> list[tuple[str, str]]:
    return [(f.code, f.message) for f in validate(i) if f.severity is not Severity.INFO]


def test_admin_brings_openssh_rsa_cert_and_ca() -> None:
    """clanServices/admin/default.nix imports ./ssh.nix: openssh always, openssh-rsa under
    rsaHostKey.enable, openssh-cert and the shared openssh-ca under certificateSearchDomains != [ ];
    ./root-password.nix adds root-password."""
    base = {"module": {"name": "admin"}, "roles": {"default": {"machines": {"cinnabar": {}}}}}
    assert sorted(gens(inv({"admin": base}), "cinnabar")) == ["openssh", "root-password"]
    full = {
        "module": {"name": "admin"},
        "roles": {
            "default": {
                "machines": {"cinnabar": {}},
                "settings": {"rsaHostKey": {"enable": True}, "certificateSearchDomains": ["example.org"]},
            }
        },
    }
    g = gens(inv({"admin": full}), "cinnabar")
    assert sorted(g) == ["openssh", "openssh-ca", "openssh-cert", "openssh-rsa", "root-password"]
    assert g["openssh-ca"].share and not g["openssh-cert"].share
    assert g["openssh-cert"].dependencies == ("openssh", "openssh-ca")
    # admin's validation: genAttrs certificateSearchDomains id (no meta.domain, unlike sshd)
    assert g["openssh-cert"].validation == {"name": "cinnabar", "domains": {"example.org": "example.org"}}
    assert g["openssh-rsa"].recipe == "ssh-keygen-rsa" and g["openssh-ca"].recipe == "ssh-keygen-ed25519-ca"


def test_sshd_client_role_brings_openssh_ca() -> None:
    """clanServices/sshd/default.nix, roles.client: `clan.core.vars.generators.openssh-ca = lib.mkIf
    anyCertificateEnabled { share = true; … }` (servers' certificate.enable defaults to true)."""
    i = inv(
        {
            "sshd": {
                "module": {"name": "sshd"},
                "roles": {"server": {"machines": {"cinnabar": {}}}, "client": {"machines": {"electrum": {}}}},
            }
        }
    )
    client = gens(i, "electrum")
    assert list(client) == ["openssh-ca"] and client["openssh-ca"].share
    assert sorted(gens(i, "cinnabar")) == ["openssh", "openssh-ca", "openssh-cert"]


def test_users_system_user_identity_and_authorized_keys() -> None:
    """clanServices/users/default.nix: `systemUser` (default true; the whole nixosModule is
    `lib.mkIf settings.systemUser`, so false means no user-password generator), `identity` (attrsOf
    submodule { email, groups, displayname }), and `openssh.authorizedKeys = { keys; keyFiles; }`."""
    role = bundled().services["users"].roles["default"]
    assert role.settings["systemUser"].default is True
    assert set(role.settings["identity"].item.fields or {}) == {"email", "groups", "displayname"}  # type: ignore[union-attr]
    assert set(role.settings["openssh"].fields["authorizedKeys"].fields or {}) == {"keys", "keyFiles"}  # type: ignore[index]
    settings = {
        "user": "alice",
        "groups": ["wheel"],
        "identity": {"main": {"email": "alice@example.org", "groups": ["admins"]}},
        "openssh": {"authorizedKeys": {"keys": ["ssh-ed25519 AAAAC3Nza alice@x"], "keyFiles": []}},
    }
    on = {"module": {"name": "users"}, "roles": {"default": {"tags": {"nixos": {}}, "settings": settings}}}
    i = inv({"alice": on})
    assert problems(i) == []
    g = gens(i, "cinnabar")["user-password-alice"]
    assert g.recipe == "user-password" and [p.name for p in g.prompts] == ["user-password"]
    off = {
        "module": {"name": "users"},
        "roles": {"default": {"tags": {"nixos": {}}, "settings": {**settings, "systemUser": False}}},
    }
    i = inv({"alice": off})
    assert problems(i) == [] and gens(i, "cinnabar") == {}


def test_users_prompt_and_share_follow_settings() -> None:
    """users: `prompts.user-password = lib.mkIf settings.prompt {…}`, `share = settings.share`, and the
    generator is named after settings.user (default: the instance name, via extendSettings)."""
    i = inv(
        {
            "bob": {
                "module": {"name": "users"},
                "roles": {"default": {"machines": {"orb": {}}, "settings": {"prompt": False, "share": True}}},
            }
        }
    )
    g = gens(i, "orb")["user-password-bob"]
    assert g.prompts == () and g.share


def test_internet_settings() -> None:
    """clanServices/internet/default.nix: host (str, default ""), port (types.port, 22), user
    (nullOr str, null), jumphosts (listOf str, [])."""
    s = bundled().services["internet"].roles["default"].settings
    assert (s["host"].type, s["host"].default, s["host"].required) == ("str", "", False)
    assert (s["port"].type, s["port"].default) == ("port", 22)
    assert s["user"].nullable and s["user"].default is None
    assert (s["jumphosts"].type, s["jumphosts"].default) == ("list", [])
    ok = {"host": "203.0.113.7", "port": 2222, "user": "deploy", "jumphosts": ["bastion.example.org"]}
    i = inv(
        {
            "internet": {
                "module": {"name": "internet"},
                "roles": {"default": {"machines": {"orb": {"settings": ok}}}},
            }
        }
    )
    assert problems(i) == []
    i = inv({"internet": {"module": {"name": "internet"}, "roles": {"default": {"machines": {"orb": {}}}}}})
    assert problems(i) == []  # host is optional
    bad = inv(
        {"internet": {"module": {"name": "internet"}, "roles": {"default": {"settings": {"port": 70000}}}}}
    )
    assert [c for c, _ in problems(bad)] == ["settings-type"]


def test_a_machine_name_is_free_text() -> None:
    """modules/inventoryClass/inventory.nix: machines.<n>.name is `types.str` with `default = name`."""
    i = inventory_from_plain({"machines": {"orb": {"name": "Orb — the lab box"}}, "instances": {}})
    assert i.machines["orb"].label == "Orb — the lab box"
    from dendrite.inventory import inventory_to_plain

    assert inventory_to_plain(i)["machines"]["orb"]["name"] == "Orb — the lab box"


def test_module_name_user_is_an_error_as_in_clan() -> None:
    """lib/resolve-module/default.nix: `resolvedModuleSet.${moduleSpec.name} or (throw "clan-core
    doesn't provide clan-module with name …")`; clan-core registers `clan.modules.users`
    (clanServices/users/flake-module.nix), not `user` (the manifest name is clan-core/user)."""
    i = inv({"alice": {"module": {"name": "user"}, "roles": {"default": {"machines": {"orb": {}}}}}})
    (f,) = [f for f in validate(i) if f.code == "unknown-service"]
    assert f.severity is Severity.ERROR and "did you mean 'users'?" in f.hint


def test_unknown_service_of_another_input_is_info() -> None:
    """resolve-module: a non-null module.input is looked up in that flake input's clan.modules, which
    dendrite does not read: info, never an error."""
    i = inv({"x": {"module": {"name": "nginx-proxy", "input": "clan-community"}, "roles": {"any": {}}}})
    (f,) = [f for f in validate(i) if f.code == "external-service"]
    assert f.severity is Severity.INFO
    assert problems(i) == []


def test_removed_service_is_an_error() -> None:
    """clanServices/coredns/default.nix is a `throw`: using it from clan-core fails evaluation."""
    i = inv({"coredns": {"module": {"name": "coredns"}, "roles": {"default": {"machines": {"orb": {}}}}}})
    assert [c for c, _ in problems(i)] == ["removed-service"]


# ---- a realistic clan inventory: no error clan would not give ---------------------------------------------

REALISTIC: dict[str, Any] = {
    "admin": {
        "default": {"allowedKeys": {"me": "ssh-ed25519 AAAAC3Nza me@x"}, "certificateSearchDomains": ["lan"]}
    },
    "borgbackup": {
        "client": {
            "destinations": {"offsite": {"repo": "u@backup.example.org:/srv", "rsh": "ssh"}},
            "exclude": ["*.tmp"],
        },
        "server": {"directory": "/srv/borg"},
    },
    "certificates": {"ca": {"tlds": ["lan"], "acmeEmail": "ops@example.org"}, "default": {}},
    "data-mesher": {
        "default": {"port": 7946, "interfaces": ["ztabc"], "logLevel": "debug", "network": {"files": {}}}
    },
    "dyndns": {"default": {"period": 10, "server": {"enable": False}}},
    "emergency-access": {"default": {}},
    "garage": {"default": {}},
    "hello-world": {"morning": {"greeting": "hi"}},
    "importer": {"default": {}},
    "internet": {"default": {"host": "203.0.113.7", "port": 22, "user": "root", "jumphosts": []}},
    "localbackup": {"default": {"snapshots": 10, "targets": {"usb": {"directory": "/mnt/usb"}}}},
    "matrix-synapse": {
        "default": {
            "acmeEmail": "ops@example.org",
            "app_domain": "chat.example.org",
            "server_tld": "example.org",
        }
    },
    "monitoring": {
        "client": {"useSSL": True, "monitoredSystemdServices": "all"},
        "server": {"grafana": {"enable": True}},
    },
    "mycelium": {"peer": {"openFirewall": False}},
    "ncps": {"server": {"port": 8501, "caches": ["https://cache.nixos.org"]}, "client": {}},
    "packages": {"default": {"packages": ["htop"]}},
    "sshd": {
        "server": {"certificate": {"searchDomains": ["lan"]}, "hostKeys": {"rsa": {"enable": True}}},
        "client": {},
    },
    "syncthing": {"peer": {"folders": {"docs": {"path": "/home/alice/docs"}}, "openDefaultPorts": True}},
    "tor": {"server": {"secretHostname": False}, "client": {}},
    "trusted-nix-caches": {"default": {}},
    "users": {
        "default": {"user": "alice", "groups": ["wheel"], "identity": {"main": {"groups": ["admins"]}}}
    },
    "wifi": {"default": {"networks": {"home": {"enable": True}}}},
    "wireguard": {
        "controller": {"endpoint": "vpn.example.org", "port": 51820},
        "peer": {"controller": "cinnabar"},
    },
    "yggdrasil": {"default": {"extraPeers": ["tcp://198.51.100.1:6443"]}},
    "zerotier": {
        "controller": {"allowedIps": ["fd00::1"]},
        "peer": {},
        "moon": {"stableEndpoints": ["198.51.100.2"]},
    },
    "dm-dns": {"default": {}, "push": {}},
    "installer": {"iso": {}},
    "kde": {"default": {}},
    "p2p-ssh-iroh": {"server": {}},
    "pki": {"default": {}},
}
ONE_MACHINE_ROLES = {("zerotier", "controller"), ("monitoring", "server"), ("wireguard", "controller")}


def _realistic_inventory() -> Any:
    instances: dict[str, Any] = {}
    for service, roles in REALISTIC.items():
        rs: dict[str, Any] = {}
        for role, settings in roles.items():
            one = (service, role) in ONE_MACHINE_ROLES or role in (
                "server",
                "controller",
                "ca",
                "moon",
                "push",
            )
            rs[role] = (
                {"machines": {"cinnabar": {}}, "settings": settings}
                if one
                else {"tags": {"nixos": {}}, "settings": settings}
            )
        instances[f"my-{service}"] = {"module": {"name": service, "input": "clan-core"}, "roles": rs}
    return inv(instances, {k: v for k, v in MACHINES.items() if v["machineClass"] == "nixos"})


def test_a_realistic_inventory_gets_no_error_or_warning() -> None:
    """Every clan-core service but coredns (moved out), with settings clan accepts (test below):
    dendrite has nothing to say."""
    assert sorted(REALISTIC) == sorted(set(bundled().services) - {"coredns"})
    assert problems(_realistic_inventory()) == []


@needs_nix
@needs_clan_core
def test_clan_accepts_the_realistic_settings() -> None:
    """The real module system evaluates each role's interface with those settings and reads them, as
    clan's modules read `settings` (tests/inventory/clan_interface.nix)."""
    checks = [(s, r, settings) for s, roles in REALISTIC.items() for r, settings in roles.items()]
    ok, err = nix_check(CLAN_CORE / "clanServices", checks)
    assert ok, err


@needs_nix
@needs_clan_core
def test_clan_and_dendrite_both_reject_a_typo_and_a_wrong_type() -> None:
    for settings in ({"hots": "x"}, {"port": "22"}):
        ok, err = nix_check(CLAN_CORE / "clanServices", [("internet", "default", settings)])
        assert not ok and ("does not exist" in err or "is not of type" in err), err
        i = inv(
            {
                "internet": {
                    "module": {"name": "internet"},
                    "roles": {"default": {"machines": {"orb": {"settings": settings}}}},
                }
            }
        )
        assert [c for c, _ in problems(i)] == ["settings-type"]
