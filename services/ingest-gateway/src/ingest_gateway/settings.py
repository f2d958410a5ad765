"""The gateway's settings: one frozen object, read from the environment once, in `__main__`."""

from __future__ import annotations

from functools import cached_property

from pydantic import Field, SecretStr

from incident_shared.settings import CommonSettings, RetentionSettings


class GatewaySettings(CommonSettings, RetentionSettings):
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

    @cached_property
    def tokens(self) -> frozenset[str]:
        """The write tokens, parsed once (the settings object is frozen)."""
        return frozenset(t.strip() for t in self.api_tokens.get_secret_value().split(",") if t.strip())
