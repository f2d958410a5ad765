"""The ingest gateway: events in over HTTP, durably into Kafka; the read API over MongoDB."""
