"""Typed keys for what the application holds."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry
from pymongo.asynchronous.database import AsyncDatabase

from summarizer.service import SummarizerService
from summarizer.settings import SummarizerSettings

SETTINGS = web.AppKey("settings", SummarizerSettings)
REGISTRY = web.AppKey("registry", CollectorRegistry)
SERVICE = web.AppKey("service", SummarizerService)
MONGO = web.AppKey("mongo", AsyncDatabase[dict[str, Any]])
