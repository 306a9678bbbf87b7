"""Adapters: the database, security primitives, brokers; everything with I/O."""
