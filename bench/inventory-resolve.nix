# The anchor of bench/inventory.py: clan's tag resolution and settings merge, with builtins only.
# Per instance and role: members = explicit machines + machines carrying any role tag; each member's
# settings = role settings, machine settings and its tags' settings, merged (sets merge, lists
# concatenate, scalars must agree).
{ file }:
let
  inv = builtins.fromJSON (builtins.readFile file);
  machines = inv.machines or { };
  machineTags = name: [ "all" (machines.${name}.machineClass or "nixos") ] ++ (machines.${name}.tags or [ ]);
  tagIndex = builtins.listToAttrs (map (m: { name = m; value = machineTags m; }) (builtins.attrNames machines));
  hasTag = m: t: builtins.elem t tagIndex.${m};
  merge = a: b:
    if builtins.isAttrs a && builtins.isAttrs b then
      builtins.zipAttrsWith (n: vs: if builtins.length vs == 1 then builtins.head vs else merge (builtins.elemAt vs 0) (builtins.elemAt vs 1)) [ a b ]
    else if builtins.isList a && builtins.isList b then a ++ b
    else if a == b then a
    else throw "conflict";
  roleTags = role: let t = role.tags or { }; in if builtins.isList t then builtins.listToAttrs (map (x: { name = x; value = { }; }) t) else t;
  resolveRole = role:
    let
      tags = roleTags role;
      explicit = builtins.attrNames (role.machines or { });
      tagged = builtins.filter (m: builtins.any (t: hasTag m t) (builtins.attrNames tags)) (builtins.attrNames machines);
      members = builtins.attrNames (builtins.listToAttrs (map (m: { name = m; value = null; }) (explicit ++ tagged)));
      settingsFor = m:
        builtins.foldl' merge (role.settings or { }) (
          [ (role.machines.${m}.settings or { }) ]
          ++ map (t: tags.${t}.settings or { }) (builtins.filter (hasTag m) (builtins.attrNames tags))
        );
    in
    builtins.listToAttrs (map (m: { name = m; value = settingsFor m; }) members);
in
builtins.mapAttrs (_: inst: builtins.mapAttrs (_: resolveRole) (inst.roles or { })) (inv.instances or { })
