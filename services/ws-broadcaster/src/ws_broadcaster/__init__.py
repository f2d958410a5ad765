"""The WebSocket broadcaster: events and incident changes, live, to every dashboard.

Each replica reads the `events` and `incidents` topics for itself (no consumer group: every replica
needs every message) and serves its own clients, so replicas scale out behind any load balancer and
a client may reconnect to any of them.
"""
