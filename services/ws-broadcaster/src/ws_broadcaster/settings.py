"""The broadcaster's settings: one frozen object, loaded once in `__main__` and passed down."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, SecretStr

from incident_shared.settings import CommonSettings
from incident_shared.web.access import DASHBOARD_ORIGINS, AccessPolicy


class BroadcasterSettings(CommonSettings):
    """Environment: PORT, HOST, and the WS_* limits below (plus the common Kafka/logging names)."""

    port: int = Field(5002, validation_alias="PORT", ge=0, le=65535)
    # Every interface by default: in a container or pod the probes and the ingress come from outside.
    host: str = Field("0.0.0.0", validation_alias="HOST")  # noqa: S104 - see the comment above
    # Per client: how many events may wait for a slow client before the oldest are dropped (and
    # the client is told how many). Incident updates are never dropped.
    max_queued_events: int = Field(2000, validation_alias="WS_MAX_QUEUED_EVENTS", ge=1)
    # Per client: incident updates and control messages waiting; beyond this the client is hopeless
    # and is disconnected (it will reconnect and get a fresh snapshot).
    max_queued_incidents: int = Field(1000, validation_alias="WS_MAX_QUEUED_INCIDENTS", ge=1)
    # A single frame that cannot be written within this time marks the client as hopeless.
    send_timeout_seconds: float = Field(10.0, validation_alias="WS_SEND_TIMEOUT_SECONDS", gt=0)
    # WebSocket PING frames (a client that does not answer is closed) and the `heartbeat` message
    # sent to idle clients, so that a browser can tell a quiet stream from a dead one.
    heartbeat_seconds: float = Field(20.0, validation_alias="WS_HEARTBEAT_SECONDS", gt=0)
    # The most events one coalesced `events` frame carries (clients that opted into batching).
    max_batch_events: int = Field(500, validation_alias="WS_MAX_BATCH_EVENTS", ge=1)
    # A replica further behind the events topic than this skips to its end (clients are told how many
    # events they missed): a live view minutes late is worse than one with a gap.
    max_events_lag: int = Field(50_000, validation_alias="WS_MAX_EVENTS_LAG", ge=1)
    # How often each reader looks for partitions added to its topic.
    partition_refresh_seconds: float = Field(60.0, validation_alias="WS_PARTITION_REFRESH_SECONDS", gt=0)
    max_clients: int = Field(10_000, validation_alias="WS_MAX_CLIENTS", ge=1)
    max_channels_per_client: int = Field(500, validation_alias="WS_MAX_CHANNELS_PER_CLIENT", ge=1)
    # permessage-deflate costs CPU per client per frame, which defeats serializing once for all
    # clients; off unless bandwidth matters more than CPU.
    compress: bool = Field(False, validation_alias="WS_COMPRESS")
    shutdown_timeout_seconds: float = Field(5.0, validation_alias="WS_SHUTDOWN_TIMEOUT_SECONDS", gt=0)
    # Who may open the live feed (the same names and meaning as the gateway's; see
    # incident_shared.web.access): browser origins, and tokens when reads are protected.
    cors_origins: str = Field(DASHBOARD_ORIGINS, validation_alias="CORS_ORIGINS")
    read_tokens: SecretStr = Field(SecretStr(""), validation_alias="READ_TOKENS")
    api_tokens: SecretStr = Field(SecretStr(""), validation_alias="API_TOKENS")

    @cached_property
    def access(self) -> AccessPolicy:
        return AccessPolicy.from_settings(
            self.cors_origins, self.read_tokens.get_secret_value(), self.api_tokens.get_secret_value()
        )
