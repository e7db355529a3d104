"""Scaffolding and provisioning: a Phase 0 test-clan (`dendrite init`), host modules, the Hetzner
server as terranix / OpenTofu (`dendrite infra hetzner`), and disko layouts (`dendrite infra disko`).

The library computes file texts and writes them through RepoFS; it never prints.
"""
