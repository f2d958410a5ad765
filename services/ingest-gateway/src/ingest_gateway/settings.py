"""The gateway's settings: one frozen object, read from the environment once, in `__main__`."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, SecretStr

from incident_shared.settings import CommonSettings


class GatewaySettings(CommonSettings):
    host: str = Field("0.0.0.0", validation_alias="HOST")  # noqa: S104 - a service listens on all interfaces
    port: int = Field(5000, validation_alias="PORT")
    # Comma-separated bearer tokens that may write (POST/PATCH). Empty: the API is open.
    api_tokens: SecretStr = Field(SecretStr(""), validation_alias="API_TOKENS")
    max_body_bytes: int = Field(5 * 1024 * 1024, validation_alias="MAX_BODY_BYTES")
    max_batch_events: int = Field(1000, validation_alias="MAX_BATCH_EVENTS")
    produce_timeout_seconds: float = Field(5.0, validation_alias="PRODUCE_TIMEOUT_SECONDS")
    command_wait_seconds: float = Field(5.0, validation_alias="COMMAND_WAIT_SECONDS")
    summarizer_url: str = Field("http://127.0.0.1:5001", validation_alias="SUMMARIZER_URL")
    broadcaster_url: str = Field("http://127.0.0.1:5002", validation_alias="BROADCASTER_URL")
    cors_origins: str = Field("*", validation_alias="CORS_ORIGINS")
    # The correlation config the aggregator reads: its topology decides each event's Kafka key.
    correlation_config: str = Field("deploy/config/correlation.toml", validation_alias="CORRELATION_CONFIG")
    # Whether incidents are being updated (/health/detailed): the aggregator's consumer group (its
    # Faust app id, as the aggregator reads it), how often to look, and how long events may wait
    # without any progress before the aggregator counts as stuck.
    aggregator_app_id: str = Field("aggregator", validation_alias="AGGREGATOR_APP_ID")
    aggregator_check_seconds: float = Field(5.0, gt=0, validation_alias="AGGREGATOR_CHECK_SECONDS")
    aggregator_stall_seconds: float = Field(60.0, gt=0, validation_alias="AGGREGATOR_STALL_SECONDS")

    @cached_property
    def tokens(self) -> frozenset[str]:
        """The write tokens, parsed once (the settings object is frozen)."""
        return frozenset(t.strip() for t in self.api_tokens.get_secret_value().split(",") if t.strip())
