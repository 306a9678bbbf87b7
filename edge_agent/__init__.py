"""The edge agent: runs in a shop, drives its devices, relays to the hub."""

__version__ = "0.1.0"
