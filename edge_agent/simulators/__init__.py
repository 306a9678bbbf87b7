"""Device simulators that speak the real protocols, on pty pairs, sockets or MQTT."""
