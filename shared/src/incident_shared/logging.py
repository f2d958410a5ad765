"""Structured logs: one JSON object a line on stderr (or plain text for a terminal).

Use `logging.getLogger(__name__)` and pass fields with `extra={...}`; they become keys of the line.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any, Final

import orjson

from incident_shared.timeutil import iso, utcnow

_STANDARD: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": iso(utcnow()),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["error"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_"))
        base = f"{iso(utcnow())} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            base += f"  {extras}"
        if record.exc_info:
            base += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return base


class RepeatFilter(logging.Filter):
    """Lets a repeated message of a chatty library through once per `interval` seconds, with the
    number of repeats left out since (`repeated`).

    aiokafka logs an error for every failed attempt of its connection and metadata loops: with Kafka
    down that was about a thousand lines a second per service (measured in the fault suite), which
    buried every other line and spent the CPU the service needed to answer. Our own retry loops log
    once per backoff step (`Outage`) and are not filtered.
    """

    _MAX_KEYS: Final = 1000

    def __init__(self, prefixes: tuple[str, ...] = ("aiokafka",), interval: float = 10.0) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._interval = interval
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._prefixes):
            return True
        key = (record.name, record.getMessage())
        last, repeats = self._seen.get(key, (float("-inf"), 0))
        if record.created - last < self._interval:
            self._seen[key] = (last, repeats + 1)
            return False
        if len(self._seen) >= self._MAX_KEYS:
            self._seen.clear()
        self._seen[key] = (record.created, 0)
        if repeats:
            record.repeated = repeats
        return True


def setup_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Routes all logging (ours, aiohttp's, aiokafka's, Faust's) through one formatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter())
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp logs every request at INFO; Prometheus metrics count them instead.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(max(logging.getLevelName(level), logging.WARNING))
