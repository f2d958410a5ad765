"""The aggregator's settings: one frozen object, read from the environment once in `__main__`."""

from __future__ import annotations

from pydantic import Field

from incident_shared.settings import CommonSettings


class AggregatorSettings(CommonSettings):
    port: int = Field(6066, validation_alias="PORT")
    correlation_config: str = Field("deploy/config/correlation.toml", validation_alias="CORRELATION_CONFIG")
    # The Faust application id: consumer group, and the prefix of its changelog topics.
    app_id: str = Field("aggregator", validation_alias="AGGREGATOR_APP_ID")
    # memory:// rebuilds the tables from their changelogs at each start; rocksdb:// keeps them on disk.
    store: str = Field("memory://", validation_alias="AGGREGATOR_STORE")
    data_dir: str = Field(".local/aggregator", validation_alias="AGGREGATOR_DATA_DIR")
    # The most events per batch; batches are smaller unless there is a backlog (see `batch_seconds`).
    batch_size: int = Field(5000, validation_alias="AGGREGATOR_BATCH_SIZE")
    batch_seconds: float = Field(0.5, validation_alias="AGGREGATOR_BATCH_SECONDS")
    # A bad deploy upstream must halt the worker, not quietly dead-letter the whole stream.
    max_invalid_ratio: float = Field(0.5, validation_alias="AGGREGATOR_MAX_INVALID_RATIO")
    invalid_window: int = Field(1000, validation_alias="AGGREGATOR_INVALID_WINDOW")
    # This worker also runs the history writer (its own consumer: MongoDB never holds up incidents).
    project_to_mongo: bool = Field(True, validation_alias="AGGREGATOR_PROJECT_TO_MONGO")
    # The history writer runs inside each worker; false: as its own process (`python -m aggregator.history`).
    history_in_worker: bool = Field(True, validation_alias="AGGREGATOR_HISTORY_IN_WORKER")
    # A write that fails for no known reason is retried this many times, then dead-lettered.
    max_attempts: int = Field(5, ge=1, validation_alias="AGGREGATOR_MAX_ATTEMPTS")
    quiet_check_seconds: float = Field(30.0, validation_alias="AGGREGATOR_QUIET_CHECK_SECONDS")
