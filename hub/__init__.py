"""The POS hub: tenants, users, catalogue, sales and the realtime fan-out."""

__version__ = "0.1.0"
