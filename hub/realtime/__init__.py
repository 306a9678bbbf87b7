"""Realtime fan-out: connections, subscriptions, send queues, the outbox relay."""
