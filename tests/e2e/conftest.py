"""The end-to-end stack: every service of `deploy/local/services.conf` as real processes.

It runs beside anything `make up` started: its ports are shifted by II_PORT_OFFSET (10000: the API
on :15000, the dashboard on :13000), it has its own topics (a random prefix), consumer groups and
database, and its pid files and logs live in `.local/e2e/`. Started once per test session, stopped
at the end, its topics deleted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from support.e2e_stack import ROOT, Stack, run_stack

# Another port offset (II_E2E_PORT_OFFSET) lets two people run the end-to-end tests on one machine.
OFFSET = int(os.environ.get("II_E2E_PORT_OFFSET", "10000"))

__all__ = ["OFFSET", "Stack"]


@pytest.fixture(scope="session")
def stack(kafka_bootstrap: str, mongo_uri: str) -> Iterator[Stack]:
    home = ROOT / ".local" / ("e2e" if OFFSET == 10000 else f"e2e-{OFFSET}")
    with run_stack(kafka_bootstrap, mongo_uri, offset=OFFSET, home=home) as running:
        yield running
