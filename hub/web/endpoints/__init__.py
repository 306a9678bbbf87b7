"""REST endpoints, one module per area; each handler parses, calls a service, renders."""
