"""Templates and fingerprints: variable parts masked, lines of one kind share one template."""

from __future__ import annotations

import pytest

from aggregator.engine import TemplateMiner, fingerprint, mask

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Timeout after 5000ms calling db-primary:5432", "Timeout after <NUM> calling <HOST>"),
        ("GET https://api.example.com/v1/orders?id=7 returned 503", "GET <URL> returned <NUM>"),
        ("mail to ops@example.com bounced", "mail to <EMAIL> bounced"),
        ("request 7c9e6679-7425-40de-944b-e07fc1f90ae7 failed", "request <UUID> failed"),
        ("peer 10.1.2.3:8443 reset the connection", "peer <IP> reset the connection"),
        ("cannot open /var/lib/mysql/ibdata1", "cannot open <PATH>"),
        ("object 0xdeadbeef freed twice", "object <HEX> freed twice"),
        ("retry user_id=8812 status=FAILED", "retry user_id=<*> status=<*>"),
        ("key 'cart:4411' not found", "key <STR> not found"),
        ("pod payment-7d9f8-x2k4p OOMKilled using 4Gi", "pod <ID> OOMKilled using <NUM>"),
    ],
)
def test_masks_the_variable_parts(line: str, expected: str) -> None:
    assert mask(line) == expected


def test_lines_that_differ_in_words_share_one_template_once_seen() -> None:
    miner = TemplateMiner()
    users = ["alice", "bob", "carol", "dmitri", "eve"]
    templates = [
        miner.template("auth", None, f"user {u} failed to log in from 10.0.0.{i}") for i, u in enumerate(users)
    ]
    assert {t.template for t in templates[1:]} == {"user <*> failed to log in from <IP>"}
    assert len({t.fingerprint for t in templates[1:]}) == 1


def test_different_kinds_of_line_get_different_templates() -> None:
    miner = TemplateMiner()
    a = miner.template("db", None, "Lock wait timeout exceeded on table orders")
    b = miner.template("db", None, "certificate expired for host db.example.com")
    assert a.fingerprint != b.fingerprint


def test_fingerprint_includes_service_and_error_type() -> None:
    tpl = "Timeout after <NUM> calling <HOST>"
    assert fingerprint("a", None, tpl) != fingerprint("b", None, tpl)
    assert fingerprint("a", "TimeoutError", tpl) != fingerprint("a", "IOError", tpl)
    assert fingerprint("a", None, tpl) == fingerprint("a", None, tpl)
