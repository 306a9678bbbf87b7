"""Device drivers: each builds and parses its device's bytes over a `transport.Link`."""
