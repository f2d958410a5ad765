"""The gateway's settings: one frozen object, read from the environment once, in `__main__`."""

from __future__ import annotations

from functools import cached_property
from typing import Final, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from incident_shared.schemas.events import SERVICE_PATTERN
from incident_shared.settings import CommonSettings, RetentionSettings
from incident_shared.web.access import DASHBOARD_ORIGINS, AccessPolicy

# OpenTelemetry's severity ranges: each name covers four numbers (INFO is 9-12: INFO, INFO2, ...).
OTLP_SEVERITY_NAMES: Final = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "WARNING": 13, "ERROR": 17, "FATAL": 21}


def parse_routing_keys(text: str) -> dict[str, str]:
    """`key=service,key2=service2` into a map; raises ValueError naming what is wrong."""
    mapping: dict[str, str] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, service = (part.strip() for part in item.partition("="))
        if not sep or not key or not SERVICE_PATTERN.match(service):
            # The routing key is a credential: the message shows the service side only.
            raise ValueError(
                "PAGERDUTY_ROUTING_KEYS must be comma-separated 'routing_key=service' pairs, each service 1-100"
                f" letters, digits, '.', '_' or '-' (an entry with service {service[:100]!r} is not)"
            )
        mapping[key] = service
    return mapping


def parse_otlp_severity(text: str) -> int:
    """An OpenTelemetry severity name (`WARN`, `ERROR4`) or number (1-24); raises ValueError."""
    value = text.strip().upper()
    if value.isdigit() and 1 <= int(value) <= 24:
        return int(value)
    name, step = value.rstrip("1234"), value[len(value.rstrip("1234")) :] or "1"
    if name in OTLP_SEVERITY_NAMES and len(step) == 1:
        return OTLP_SEVERITY_NAMES[name] + int(step) - 1
    raise ValueError(
        f"OTLP_MIN_SEVERITY must be an OpenTelemetry severity: TRACE, DEBUG, INFO, WARN, ERROR or FATAL"
        f" (optionally with 2-4, e.g. WARN2), or a number from 1 to 24; got {text!r}"
    )


class GatewaySettings(CommonSettings, RetentionSettings):
    # A bad value is named in the error, never echoed: several of these settings are credentials.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    host: str = Field("0.0.0.0", validation_alias="HOST")  # noqa: S104 - a service listens on all interfaces
    port: int = Field(5000, validation_alias="PORT")
    # Comma-separated bearer tokens that may write (POST/PATCH). Empty: writes are open.
    api_tokens: SecretStr = Field(SecretStr(""), validation_alias="API_TOKENS")
    # Comma-separated bearer tokens that may read events and incidents (REST and WebSocket); a write
    # token may read too. Empty: reads are open to whoever may reach the API from an allowed origin.
    read_tokens: SecretStr = Field(SecretStr(""), validation_alias="READ_TOKENS")
    max_body_bytes: int = Field(5 * 1024 * 1024, validation_alias="MAX_BODY_BYTES")
    max_batch_events: int = Field(1000, validation_alias="MAX_BATCH_EVENTS")
    produce_timeout_seconds: float = Field(5.0, validation_alias="PRODUCE_TIMEOUT_SECONDS")
    command_wait_seconds: float = Field(5.0, validation_alias="COMMAND_WAIT_SECONDS")
    summarizer_url: str = Field("http://127.0.0.1:5001", validation_alias="SUMMARIZER_URL")
    broadcaster_url: str = Field("http://127.0.0.1:5002", validation_alias="BROADCASTER_URL")
    # The browser origins (scheme://host:port, comma-separated) that may call the API and open the
    # live feed; same-origin pages and clients that send no Origin are always served. `*`: any page.
    cors_origins: str = Field(DASHBOARD_ORIGINS, validation_alias="CORS_ORIGINS")
    # The correlation config the aggregator reads: its topology decides each event's Kafka key.
    correlation_config: str = Field("deploy/config/correlation.toml", validation_alias="CORRELATION_CONFIG")
    # PagerDuty Events API v2: `routing_key=service` pairs. A listed key names the service of every
    # event sent with it (a trigger and its resolve alike). Routing keys are credentials: a secret.
    pagerduty_routing_keys: SecretStr = Field(SecretStr(""), validation_alias="PAGERDUTY_ROUTING_KEYS")
    # OTLP logs: records below this OpenTelemetry severity are dropped (and counted), never stored.
    otlp_min_severity: str = Field("WARN", validation_alias="OTLP_MIN_SEVERITY")

    # Whether incidents are being updated (/health/detailed): the aggregator's consumer group (its
    # Faust app id, as the aggregator reads it), how often to look, and how long events may wait
    # without any progress before the aggregator counts as stuck.
    aggregator_app_id: str = Field("aggregator", validation_alias="AGGREGATOR_APP_ID")
    aggregator_check_seconds: float = Field(5.0, gt=0, validation_alias="AGGREGATOR_CHECK_SECONDS")
    aggregator_stall_seconds: float = Field(60.0, gt=0, validation_alias="AGGREGATOR_STALL_SECONDS")

    @model_validator(mode="after")
    def _check_sources(self) -> Self:
        parse_routing_keys(self.pagerduty_routing_keys.get_secret_value())
        parse_otlp_severity(self.otlp_min_severity)
        return self

    @cached_property
    def access(self) -> AccessPolicy:
        """Origins and tokens, parsed once (the settings object is frozen)."""
        return AccessPolicy.from_settings(
            self.cors_origins, self.read_tokens.get_secret_value(), self.api_tokens.get_secret_value()
        )

    @cached_property
    def pagerduty_services(self) -> dict[str, str]:
        """Routing key -> service, from PAGERDUTY_ROUTING_KEYS."""
        return parse_routing_keys(self.pagerduty_routing_keys.get_secret_value())

    @cached_property
    def otlp_min_severity_number(self) -> int:
        """OTLP_MIN_SEVERITY as an OpenTelemetry severity number (1-24)."""
        return parse_otlp_severity(self.otlp_min_severity)
