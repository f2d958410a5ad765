"""Settings shared by the services: Kafka, MongoDB, logging.

Each service has one frozen settings class (pydantic-settings) that reads the environment names
fixed in DESIGN.md; it is loaded once in `__main__` and passed down. Nothing else reads os.environ.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from incident_shared.topics import Topics


class CommonSettings(BaseSettings):
    """What every service reads. Subclasses add their own fields."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    kafka_topic_prefix: str = Field("", validation_alias="KAFKA_TOPIC_PREFIX")
    mongodb_uri: SecretStr = Field(SecretStr("mongodb://127.0.0.1:27017"), validation_alias="MONGODB_URI")
    mongodb_database: str = Field("incident_intelligence", validation_alias="MONGODB_DATABASE")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", validation_alias="LOG_LEVEL")
    log_format: Literal["json", "text"] = Field("json", validation_alias="LOG_FORMAT")

    @property
    def topics(self) -> Topics:
        return Topics(self.kafka_topic_prefix)


class RetentionSettings(BaseSettings):
    """How long the history store keeps what (mixed into the settings of the services that read or
    prune it). Kafka keeps its own: 7 days of `events`, the latest version of every incident."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    event_retention_days: float = Field(7.0, gt=0, validation_alias="EVENT_RETENTION_DAYS")
    # The most events kept, whatever their age (0: no limit); the oldest hours go first.
    event_retention_max_events: int = Field(5_000_000, ge=0, validation_alias="EVENT_RETENTION_MAX_EVENTS")
    incident_retention_days: float = Field(30.0, gt=0, validation_alias="INCIDENT_RETENTION_DAYS")
    rollup_retention_days: float = Field(30.0, gt=0, validation_alias="ROLLUP_RETENTION_DAYS")
    retention_interval_seconds: float = Field(300.0, gt=0, validation_alias="RETENTION_INTERVAL_SECONDS")
    # Whether this process sweeps the store (one sweeper is enough; several do no harm).
    retention_enabled: bool = Field(True, validation_alias="RETENTION_ENABLED")
