"""The summarizer's settings: one frozen object, read from the environment once, in `__main__`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from incident_shared.settings import CommonSettings

ProviderName = Literal["claude", "openai", "rule-based"]


class SummarizerSettings(CommonSettings):
    host: str = Field("0.0.0.0", validation_alias="HOST")  # noqa: S104 - a service listens on all interfaces
    port: int = Field(5001, validation_alias="PORT")
    # Comma-separated bearer tokens for protected actions (the breaker reset). Empty: open.
    api_tokens: SecretStr = Field(SecretStr(""), validation_alias="API_TOKENS")
    consumer_group: str = Field("summarizer", validation_alias="SUMMARIZER_CONSUMER_GROUP")

    # Which provider writes summaries; without its key the rule-based summarizer does.
    ai_provider: ProviderName = Field("claude", validation_alias="AI_PROVIDER")
    anthropic_api_key: SecretStr = Field(SecretStr(""), validation_alias="ANTHROPIC_API_KEY")
    claude_model: str = Field("claude-haiku-4-5", validation_alias="CLAUDE_MODEL")
    anthropic_base_url: str | None = Field(None, validation_alias="ANTHROPIC_BASE_URL")
    openai_api_key: SecretStr = Field(SecretStr(""), validation_alias="OPENAI_API_KEY")
    openai_model: str = Field("gpt-4o-mini", validation_alias="OPENAI_MODEL")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    # json_schema (OpenAI and most compatible servers), json_object, or none (prompt-only JSON).
    openai_response_format: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema", validation_alias="OPENAI_RESPONSE_FORMAT"
    )

    # Resilience.
    ai_timeout_seconds: float = Field(30.0, gt=0, validation_alias="AI_TIMEOUT_SECONDS")
    ai_max_attempts: int = Field(3, ge=1, le=10, validation_alias="AI_MAX_ATTEMPTS")
    ai_retry_max_wait_seconds: float = Field(30.0, ge=0, validation_alias="AI_RETRY_MAX_WAIT_SECONDS")
    ai_max_concurrency: int = Field(4, ge=1, validation_alias="AI_MAX_CONCURRENCY")
    ai_max_output_tokens: int = Field(1024, ge=128, validation_alias="AI_MAX_OUTPUT_TOKENS")
    ai_breaker_failure_threshold: int = Field(5, ge=1, validation_alias="AI_BREAKER_FAILURE_THRESHOLD")
    ai_breaker_cooldown_seconds: float = Field(60.0, ge=0, validation_alias="AI_BREAKER_COOLDOWN_SECONDS")
    ai_daily_budget_usd: float = Field(5.0, ge=0, validation_alias="AI_DAILY_BUDGET_USD")
    # Price overrides (USD per million tokens) for a model the built-in table does not know.
    ai_price_input_per_mtok: float | None = Field(None, ge=0, validation_alias="AI_PRICE_INPUT_PER_MTOK")
    ai_price_output_per_mtok: float | None = Field(None, ge=0, validation_alias="AI_PRICE_OUTPUT_PER_MTOK")

    # When to summarize.
    summary_settle_seconds: float = Field(20.0, ge=0, validation_alias="SUMMARY_SETTLE_SECONDS")
    summary_settle_events: int = Field(25, ge=1, validation_alias="SUMMARY_SETTLE_EVENTS")
    summary_min_interval_seconds: float = Field(120.0, ge=0, validation_alias="SUMMARY_MIN_INTERVAL_SECONDS")
    summary_growth_factor: float = Field(2.0, gt=1, validation_alias="SUMMARY_GROWTH_FACTOR")
    summary_max_digest_tokens: int = Field(2000, ge=300, validation_alias="SUMMARY_MAX_DIGEST_TOKENS")

    def tokens(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.api_tokens.get_secret_value().split(",") if t.strip())
