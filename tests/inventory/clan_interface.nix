# clan-core service interfaces evaluated by the real module system (nixpkgs' lib from tests/oracle):
#   options: every declared option of every role, with its type name and its default where it has one
#   check:   whether each role accepts its settings (`checksJSON`: a list of [service, role, settings]),
#            reading what the settings set, as clan's modules read settings (lazily)
{
  libPath,
  servicesDir,
  checksJSON ? "[]",
}:
let
  lib = import libPath;
  clanLib = {
    # as clan-core's lib/default.nix defines it
    mkRemovedOption =
      name: message:
      lib.mkOption {
        visible = false;
        default = null;
        type = lib.types.raw;
        apply = _: throw "The option '${name}' was removed. ${message}";
      };
    buildScopeKey = _: "scope";
  };
  load =
    name:
    let
      raw = import (servicesDir + "/${name}/default.nix");
      args = {
        inherit lib clanLib;
        config = {
          instances = { };
          manifest.name = name;
        };
        directory = servicesDir;
      };
    in
    if builtins.isFunction raw then raw (builtins.mapAttrs (a: _: args.${a} or null) (builtins.functionArgs raw)) else raw;
  evalRole =
    svc: r: extra:
    lib.evalModules {
      modules = [ (svc.roles.${r}.interface or { }) ] ++ extra;
    };
  describe =
    options:
    lib.mapAttrsRecursiveCond (x: !lib.isOption x) (
      _path: o:
      {
        type = o.type.name;
      }
      // lib.optionalAttrs (o ? default) {
        default = builtins.tryEval (builtins.deepSeq o.default o.default);
      }
    ) (builtins.removeAttrs options [ "_module" ]);
  names = builtins.attrNames (lib.filterAttrs (_: t: t == "directory") (builtins.readDir servicesDir));
  live = builtins.filter (n: (builtins.tryEval (builtins.seq (load n) true)).success) names;
in
{
  options = lib.genAttrs live (
    n:
    let
      svc = load n;
    in
    lib.mapAttrs (r: _: describe (evalRole svc r [ ]).options) (svc.roles or { })
  );
  check = map (
    c:
    let
      service = builtins.elemAt c 0;
      role = builtins.elemAt c 1;
      settings = builtins.elemAt c 2;
      evaluated = evalRole (load service) role [ { config = settings; } ];
      read = lib.mapAttrsRecursive (path: _: lib.getAttrFromPath path evaluated.config) settings;
    in
    builtins.deepSeq read "${service}/${role}"
  ) (builtins.fromJSON checksJSON);
}
