"""The library every Incident Intelligence service shares.

Schemas, the topic registry, settings, JSON, logging, Kafka and MongoDB helpers, and the standard
health and metrics endpoints. It never imports service code.
"""
