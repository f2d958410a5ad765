"""AI-quality cases: collected only with AI_QUALITY=1 (they call a real provider; see README.md)."""

from __future__ import annotations

import os

import pytest

collect_ignore_glob = [] if os.environ.get("AI_QUALITY") == "1" else ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ai_quality: checks a real provider's summaries (AI_QUALITY=1)")
