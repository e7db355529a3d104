"""dendrite: clan-core fleets and the move from nixos-unified to the dendritic pattern."""

__version__ = "0.1.0"
