"""Builds the summarizer application: the service, its routes, one cleanup context per resource."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from functools import partial

from aiohttp import web
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry

from incident_shared import mongo
from incident_shared.kafka import make_producer, probe_kafka
from incident_shared.timeutil import utcnow
from incident_shared.web.health import Check, add_health_routes
from summarizer import api
from summarizer.appkeys import MONGO, REGISTRY, SERVICE, SETTINGS
from summarizer.breaker import BreakerState, CircuitBreaker
from summarizer.budget import Budget
from summarizer.decision import DecisionConfig, SummaryPolicy
from summarizer.engine import SummaryEngine
from summarizer.metrics import SummarizerMetrics
from summarizer.providers import Provider
from summarizer.providers.claude import ClaudeProvider
from summarizer.providers.openai_compat import OpenAIProvider
from summarizer.service import SummarizerService
from summarizer.settings import SummarizerSettings

log = logging.getLogger(__name__)
VERSION = "0.1.0"


def make_provider(settings: SummarizerSettings) -> Provider | None:
    """The configured provider, or None (rule-based only) when it has no key."""
    if settings.ai_provider == "claude":
        if not settings.anthropic_api_key.get_secret_value():
            log.warning("AI_PROVIDER=claude but ANTHROPIC_API_KEY is not set: summaries are rule-based")
            return None
        return ClaudeProvider(
            api_key=settings.anthropic_api_key,
            model=settings.claude_model,
            base_url=settings.anthropic_base_url,
            timeout=settings.ai_timeout_seconds,
        )
    if settings.ai_provider == "openai":
        # A self-hosted OpenAI-compatible server usually needs no key: its base URL is enough.
        if not settings.openai_api_key.get_secret_value() and not settings.openai_base_url:
            log.warning("AI_PROVIDER=openai but neither OPENAI_API_KEY nor OPENAI_BASE_URL is set: rule-based")
            return None
        return OpenAIProvider(
            api_key=settings.openai_api_key,
            model=settings.openai_model,
            base_url=settings.openai_base_url,
            timeout=settings.ai_timeout_seconds,
            response_format=settings.openai_response_format,
        )
    log.info("AI_PROVIDER=rule-based: summaries are rule-based")
    return None


def build_service(
    settings: SummarizerSettings,
    metrics: SummarizerMetrics,
    *,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    tick_seconds: float = 1.0,
) -> SummarizerService:
    def on_transition(state: BreakerState) -> None:
        metrics.breaker_transitions.labels(state).inc()
        log.warning("circuit breaker is now %s", state, extra={"breaker": state})

    provider = make_provider(settings)
    engine = SummaryEngine(
        provider=provider,
        breaker=CircuitBreaker(
            failure_threshold=settings.ai_breaker_failure_threshold,
            cooldown_seconds=settings.ai_breaker_cooldown_seconds,
            clock=clock,
            on_transition=on_transition,
        ),
        budget=Budget(
            daily_usd=settings.ai_daily_budget_usd,
            clock=clock,
            price_override=(settings.ai_price_input_per_mtok, settings.ai_price_output_per_mtok),
        ),
        metrics=metrics,
        clock=clock,
        max_digest_tokens=settings.summary_max_digest_tokens,
        max_output_tokens=settings.ai_max_output_tokens,
        attempts=settings.ai_max_attempts,
        retry_max_wait=settings.ai_retry_max_wait_seconds,
        concurrency=settings.ai_max_concurrency,
        sleep=sleep,
    )
    policy = SummaryPolicy(
        DecisionConfig(
            settle_seconds=settings.summary_settle_seconds,
            settle_events=settings.summary_settle_events,
            min_interval_seconds=settings.summary_min_interval_seconds,
            growth_factor=settings.summary_growth_factor,
        ),
        clock,
    )
    topics = settings.topics
    consumer_factory = partial(
        AIOKafkaConsumer,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="summarizer",
        group_id=f"{settings.kafka_topic_prefix}{settings.consumer_group}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    return SummarizerService(
        policy=policy,
        engine=engine,
        consumer_factory=consumer_factory,
        producer_factory=partial(make_producer, settings.kafka_bootstrap_servers, "summarizer"),
        incidents_topic=topics.incidents,
        summaries_topic=topics.incident_summaries,
        tick_seconds=tick_seconds,
    )


async def _mongo_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    client = mongo.make_client(settings.mongodb_uri.get_secret_value(), app_name="summarizer")
    app[MONGO] = client[settings.mongodb_database]
    yield
    await client.close()


async def _service_ctx(app: web.Application) -> AsyncIterator[None]:
    service = app[SERVICE]
    await service.start()
    yield
    await service.stop()
    if service.engine.provider is not None:
        await service.engine.provider.close()


def build_app(
    settings: SummarizerSettings,
    registry: CollectorRegistry | None = None,
    service: SummarizerService | None = None,
) -> web.Application:
    """The whole summarizer; nothing connects until the app starts."""
    app = web.Application()
    app[SETTINGS] = settings
    app[REGISTRY] = registry or CollectorRegistry()
    app[SERVICE] = service or build_service(settings, SummarizerMetrics.create(app[REGISTRY]))
    app.cleanup_ctx.extend([_mongo_ctx, _service_ctx])
    log.info("summarizer configured", extra=app[SERVICE].engine.provider_info())
    app.router.add_routes(api.routes)

    async def kafka_probe() -> str:
        detail = app[SERVICE].kafka_status()
        return f"{await probe_kafka(settings.kafka_bootstrap_servers)}; {detail}"

    async def records_probe() -> str:
        return app[SERVICE].records_status()

    async def mongo_probe() -> str:
        return await mongo.probe_mongo(app[MONGO].client)

    async def provider_probe() -> str:
        engine = app[SERVICE].engine
        info = engine.provider_info()
        if engine.breaker.state == "open":
            raise ConnectionError(f"{info['provider']} failing: circuit breaker open (rule-based fallback)")
        return f"{info['provider']} {info['model'] or ''}, breaker {engine.breaker.state}".strip()

    add_health_routes(
        app,
        service="summarizer",
        version=VERSION,
        checks=[
            Check("kafka", kafka_probe),
            # Records skipped as malformed never make the service unready; the last one is shown.
            Check("incidents-topic", records_probe, required=False),
            # Only POST /api/ai/summarize reads MongoDB, and the topic's copy usually serves it.
            Check("mongodb", mongo_probe, required=False),
            # Summaries go on (rule-based) while the provider is down: not a readiness condition.
            Check("ai-provider", provider_probe, required=False),
        ],
        registry=app[REGISTRY],
    )
    if not settings.tokens():
        log.warning(
            "API_TOKENS is not set: POST /api/ai/summarize and /api/ai/circuit-breaker/reset are open to anyone"
        )
    return app
