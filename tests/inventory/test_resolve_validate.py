"""Resolution (tags and machines, the three-level settings merge) and validation findings."""

from __future__ import annotations

from typing import Any

from dendrite.inventory import inventory_from_plain, machine_view, resolve, validate


def inv(instances: dict[str, Any], machines: dict[str, Any] | None = None) -> Any:
    machines = (
        machines
        if machines is not None
        else {
            "cinnabar": {"machineClass": "nixos", "tags": ["vps"]},
            "orb": {"machineClass": "nixos", "tags": ["vps", "lab"]},
            "blackphos": {"machineClass": "darwin", "tags": ["workstation"]},
            "stibnite": {"machineClass": "darwin", "tags": ["workstation", "primary"]},
        }
    )
    return inventory_from_plain({"machines": machines, "instances": instances})


def codes(i: Any) -> list[tuple[str, str]]:
    return [(f.severity, f.code) for f in validate(i)]


ZT = {"module": {"name": "zerotier", "input": "clan-core"}}


def test_tags_and_explicit_machines_overlap_once_each() -> None:
    i = inv(
        {
            "zt": {
                **ZT,
                "roles": {
                    "controller": {"machines": {"cinnabar": {}}},
                    "peer": {"machines": {"orb": {}}, "tags": {"vps": {}, "lab": {}}},
                },
            }
        }
    )
    peers = [a for a in resolve(i) if a.role == "peer"]
    assert [(a.machine, a.via) for a in peers] == [
        ("cinnabar", ("tag:vps",)),
        ("orb", ("machine", "tag:vps", "tag:lab")),
    ]


def test_three_level_settings_merge_and_defaults() -> None:
    i = inv(
        {
            "ssh": {
                "module": {"name": "sshd"},
                "roles": {
                    "server": {
                        "settings": {"certificate": {"searchDomains": ["zt"]}},
                        "machines": {"orb": {"settings": {"generateRootKey": True}}},
                        "tags": {"lab": {"settings": {"hostKeys": {"rsa": {"enable": True}}}}, "vps": {}},
                    }
                },
            }
        }
    )
    (orb,) = [a for a in resolve(i) if a.machine == "orb"]
    assert orb.settings["certificate"] == {"searchDomains": ["zt"], "enable": True}
    assert orb.settings["generateRootKey"] is True and orb.settings["hostKeys"] == {"rsa": {"enable": True}}
    # in clan's order: `clan.core.vars.generators` is an attribute set, so by name
    assert [g.name for g in machine_view(i, "orb").generators] == [
        "openssh",
        "openssh-ca",
        "openssh-cert",
        "openssh-rsa",
        "sshd-root-key",
    ]
    cin = machine_view(i, "cinnabar").generators
    assert [g.name for g in cin] == ["openssh", "openssh-ca", "openssh-cert"]
    cert = next(g for g in cin if g.name == "openssh-cert")
    assert cert.validation == {"name": "cinnabar", "domains": {"clan": "clan", "zt": "zt"}}


def test_lists_concatenate_and_scalars_conflict() -> None:
    i = inv(
        {
            "zt": {
                **ZT,
                "roles": {
                    "controller": {
                        "settings": {"allowedIps": ["fd00::1"], "public": False},
                        "machines": {"orb": {"settings": {"allowedIps": ["fd00::2"], "public": True}}},
                    }
                },
            }
        }
    )
    (a,) = resolve(i)
    assert a.conflict is not None and "public" in a.conflict
    assert ("error", "settings-conflict") in codes(i)
    ok = inv(
        {
            "zt": {
                **ZT,
                "roles": {
                    "controller": {
                        "settings": {"allowedIps": ["fd00::1"]},
                        "machines": {"orb": {"settings": {"allowedIps": ["fd00::2"]}}},
                    }
                },
            }
        }
    )
    assert resolve(ok)[0].settings["allowedIps"] == ["fd00::1", "fd00::2"]


def test_two_controllers_and_a_darwin_controller() -> None:
    two = inv({"zt": {**ZT, "roles": {"controller": {"tags": {"vps": {}}}}}})
    assert ("error", "role-cardinality") in codes(two)
    darwin = inv({"zt": {**ZT, "roles": {"controller": {"machines": {"stibnite": {}}}}}})
    (f,) = [f for f in validate(darwin) if f.code == "class-unsupported"]
    assert "cannot be the controller" in f.message and "allowedIps" in f.hint


def test_darwin_peer_is_a_warning_that_explains() -> None:
    i = inv(
        {
            "zt": {
                **ZT,
                "roles": {"controller": {"machines": {"cinnabar": {}}}, "peer": {"tags": ["workstation"]}},
            }
        }
    )
    (found,) = [f for f in validate(i) if f.code == "class-no-module"]  # one finding for the group
    assert found.severity == "warning" and found.message.startswith(
        "blackphos, stibnite (darwin) are peer of 'zt'"
    )
    assert "silently does nothing" in found.message and "external member" in found.hint
    assert machine_view(i, "blackphos").generators == []  # no module, no vars


def test_unknown_machine_tag_service_role_and_settings() -> None:
    i = inv(
        {
            "zt": {
                **ZT,
                "roles": {"controller": {"machines": {"cinabar": {}}}, "peer": {"tags": {"nope": {}}}},
            },
            "x": {"module": {"name": "zerotear"}, "roles": {}},
            "u": {
                "module": {"name": "users"},
                "roles": {"default": {"machines": {"orb": {}}, "settings": {"usr": "x"}}, "admin": {}},
            },
            "s": {
                "module": {"name": "sshd"},
                "roles": {"server": {"machines": {"orb": {}}, "settings": {"generateRootKey": "yes"}}},
            },
            "ext": {
                "module": {"name": "borgbackup", "input": "other"},
                "roles": {"client": {"machines": {"orb": {}}}},
            },
        }
    )
    found = {(f.severity, f.code): f for f in validate(i)}
    assert "did you mean 'cinnabar'" in found[("error", "unknown-machine")].hint
    assert ("warning", "empty-tag") in found
    assert "did you mean 'zerotier'" in found[("error", "unknown-service")].hint
    assert ("error", "unknown-role") in found
    assert ("info", "external-service") in found
    msgs = [f.message for f in validate(i) if f.code == "settings-type"]
    assert any("unknown setting 'usr' (did you mean 'user'?)" in m for m in msgs)
    assert any("generateRootKey must be a bool, not a string" in m for m in msgs)
    assert ("error", "role-cardinality") in found  # the controller named an unknown machine: zero controllers


def test_removed_machine_still_referenced() -> None:
    i = inv(
        {
            "zt": {
                **ZT,
                "roles": {
                    "controller": {"machines": {"cinnabar": {}}},
                    "peer": {"machines": {"argentum": {}}},
                },
            }
        }
    )
    (f,) = [f for f in validate(i) if f.code == "unknown-machine"]
    assert "argentum" in f.message


def test_users_generator_follows_settings() -> None:
    i = inv(
        {
            "users-crs58": {
                "module": {"name": "users"},
                "roles": {
                    "default": {
                        "machines": {"orb": {}},
                        "settings": {"user": "crs58", "share": True, "prompt": False},
                    }
                },
            }
        }
    )
    (g,) = machine_view(i, "orb").generators
    assert g.name == "user-password-crs58" and g.share and g.prompts == ()
    assert [(f.name, f.deploy, f.needed_for) for f in g.files] == [
        ("user-password", False, "services"),
        ("user-password-hash", True, "users"),
    ]


def test_machine_names_that_differ_only_in_case() -> None:
    i = inv({}, {"cinnabar": {}, "Cinnabar": {}})
    (f,) = [f for f in validate(i) if f.code == "duplicate-name"]
    assert f.severity == "error" and "'cinnabar' and 'Cinnabar'" in f.message
