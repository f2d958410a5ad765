"""Templates and fingerprints: variable parts masked, names kept, one fingerprint per failure."""

from __future__ import annotations

import pytest

from aggregator.engine import CorrelationEngine, MemoryStore, TemplateMiner, fingerprint, mask
from aggregator.engine.masks import is_identifier
from support.engine_scenarios import Scenario
from support.message_corpus import FAMILIES, corpus, grouping_accuracy

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Timeout after 5000ms calling db-primary:5432", "Timeout after <NUM> calling db-primary:<NUM>"),
        ("Timeout after 5000ms calling db-7:5432", "Timeout after <NUM> calling <ID>:<NUM>"),
        (
            "GET https://api.example.com/v1/orders?id=7 returned 503",
            "GET https://api.example.com/<PATH> returned <NUM>",
        ),
        ("GET http://10.0.0.7:8080/health failed", "GET http://<IP>/<PATH> failed"),
        ("mail to ops@example.com bounced", "mail to <EMAIL> bounced"),
        ("request 7c9e6679-7425-40de-944b-e07fc1f90ae7 failed", "request <UUID> failed"),
        ("peer 10.1.2.3:8443 reset the connection", "peer <IP> reset the connection"),
        ("cannot open /var/lib/mysql/ibdata1", "cannot open <PATH>"),
        ("object 0xdeadbeef freed twice", "object <HEX> freed twice"),
        ("retry user_id=8812 status=FAILED", "retry user_id=<*> status=<*>"),
        ("key 'cart:4411' not found", "key <STR> not found"),
        ("pod payment-7d9f8-x2k4p OOMKilled using 4Gi", "pod <ID> OOMKilled using <NUM>"),
        ("Nov 30 14:22:01 web-3 sshd[812]: Failed password", "<TS> <ID> sshd[<NUM>]: Failed password"),
        ("2026-11-30 14:22:01.123 UTC [77] FATAL: too many clients", "<TS> UTC [<NUM>] FATAL: too many clients"),
        ("at 2026-11-30T14:22:01Z the job ORD-118812 stopped", "at <TS> the job <ID> stopped"),
        ("request timed out after 30000ms.", "request timed out after <NUM>."),
        ("connect to ipv4:10.0.0.1:443 failed", "connect to ipv4:<IP> failed"),
    ],
)
def test_masks_the_variable_parts(line: str, expected: str) -> None:
    assert mask(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "s3: GetObject failed: SlowDown",
        "k8s.io/client-go: Failed to watch *v1.Pod",
        "http2: server sent GOAWAY",
        "oauth2: cannot fetch token",
        "utf8 decode error in payload",
        "psycopg2.OperationalError: server closed the connection",
        "sshd: Failed password for root via ssh2",
        "EXT4-fs error on device",
        "DHCPREQUEST on eth0",
        "no capacity for m5.xlarge",
        "replication slot on e2e-orders-db is inactive",
        "RSA SHA256 key rejected",
    ],
)
def test_names_that_hold_a_digit_are_kept(line: str) -> None:
    assert mask(line) == line


@pytest.mark.parametrize(
    ("token", "identifier"),
    [
        ("ORD-118812", True),
        ("pool-1-thread-3", True),
        ("checkout-7f9c8d6b5-x2k4p", True),
        ("nvme0n1p1", True),
        ("req-Ab12Cd34Ef", True),
        ("v2.3.1", True),
        ("user1234", True),
        ("s3", False),
        ("k8s", False),
        ("sha256", False),
        ("x509", False),
        ("us-east-1a", False),
    ],
)
def test_identifiers_and_names(token: str, identifier: bool) -> None:
    assert is_identifier(token) is identifier


def test_two_failures_that_differ_only_in_a_name_with_a_digit_are_two_templates() -> None:
    miner = TemplateMiner()
    s3 = miner.template("sync", None, "upload to s3 failed: SlowDown")
    gcs = miner.template("sync", None, "upload to gcs failed: SlowDown")
    assert s3.template == "upload to s3 failed: SlowDown"
    assert s3.fingerprint != gcs.fingerprint


def test_lines_that_differ_in_words_share_one_template_once_seen() -> None:
    miner = TemplateMiner()
    users = ["alice", "bob", "carol", "dmitri", "eve"]
    templates = [
        miner.template("auth", None, f"user {u} failed to log in from 10.0.0.{i}") for i, u in enumerate(users)
    ]
    assert {t.template for t in templates[1:]} == {"user <*> failed to log in from <IP>"}
    assert len({t.fingerprint for t in templates[1:]}) == 1


def test_one_services_lines_never_generalise_anothers() -> None:
    miner = TemplateMiner()
    a = miner.template("orders", None, "Timeout calling payments-db")
    b = miner.template("search", None, "Timeout calling inventory-db")
    assert a.template == "Timeout calling payments-db"
    assert b.template == "Timeout calling inventory-db"


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


# -- fingerprints that hold still ----------------------------------------------------------------


def test_a_template_generalising_mid_storm_keeps_one_fingerprint() -> None:
    s = Scenario()
    users = ["alice", "bob", "carol", "dmitri", "erin", "farah"]
    for k in range(60):
        s.emit("login", 4, f"user {users[k % 6]} failed to log in: bad password", at=k / 10)
    r = s.run()
    fingerprints = {o.fingerprint for o in r.outcomes if o is not None}
    assert len(fingerprints) == 1
    [inc] = r.incidents
    assert [t.fingerprint for t in inc.templates] == list(fingerprints)
    assert inc.templates[0].template == "user <*> failed to log in: bad password"
    assert inc.templates[0].count == 60


def test_fingerprints_survive_a_restart_of_the_miner() -> None:
    """A worker restarts (the miner's clusters are gone, the group's state is not): the same lines
    get the fingerprints they had before, from the first line on."""
    users = ["alice", "bob", "carol", "dmitri", "erin", "farah"]
    s = Scenario()
    for k in range(12):
        s.emit("login", 4, f"user {users[k % 6]} failed to log in", at=k / 10)
    later = Scenario()
    for k in range(6):
        later.emit("login", 4, f"user {users[(k + 3) % 6]} failed to log in", at=2 + k / 10)
    store = MemoryStore()
    before = CorrelationEngine(s.config, store)
    first = [before.process(e) for e in s.events]
    before.flush()
    after = CorrelationEngine(s.config, store)  # a new miner over the same store
    second = [after.process(e) for e in later.events]
    after.flush()
    fps = {o.fingerprint for o in first + second if o is not None}
    assert len(fps) == 1


def test_a_cluster_merge_keeps_old_fingerprints_resolving_to_the_survivor() -> None:
    """The miner evicts a cluster and relearns it from another line: the new cluster arrives at the
    known template and is merged; every fingerprint handed out resolves to the surviving one."""
    s = Scenario()
    s.emit("login", 4, "user alice failed to log in", at=0)
    s.emit("login", 4, "user bob failed to log in", at=0.1)
    s.emit("login", 4, "user carol failed to log in", at=0.2)
    engine = CorrelationEngine(s.config, MemoryStore())
    outcomes = [engine.process(e) for e in s.events]
    engine.flush()
    survivor = outcomes[0].fingerprint if outcomes[0] else ""
    # Forget every cluster, and what this process knew of them, as an eviction and restart would;
    # the group's aliases stay, but not its learned templates (as if evicted too).
    engine.miner = TemplateMiner()
    engine.fingerprints = type(engine.fingerprints)(engine.miner, max_aliases=1000, on_merge=engine._merge_fingerprints)
    group = engine.store.get_group("login")
    assert group is not None
    group.learned.clear()
    late = Scenario()
    late.emit("login", 4, "user dmitri failed to log in", at=1)
    late.emit("login", 4, "user erin failed to log in", at=1.1)
    transient = engine.process(late.events[0])
    merged = engine.process(late.events[1])
    engine.flush()
    assert transient is not None
    assert merged is not None
    assert transient.fingerprint != survivor  # a new cluster's first line: its own, for now
    assert merged.fingerprint == survivor
    assert engine.fingerprints.canonical(group, transient.fingerprint) == survivor
    [inc] = engine.incidents()
    assert list(inc.templates) == [survivor]
    assert inc.templates[survivor].count == 5


# -- the labelled corpus -------------------------------------------------------------------------


def test_the_corpus_covers_the_message_families_it_promises() -> None:
    families = {f.name for f in FAMILIES}
    assert {"java", "python", "go", "nginx", "envoy", "postgres", "kubernetes", "cloud", "syslog"} <= families
    lines = corpus()
    assert len(lines) > 1000
    assert len({line.label for line in lines}) > 80


def test_the_fingerprints_of_a_live_engine_group_the_corpus_well() -> None:
    """Every line through a live engine, in stream order, as the engine stores each event's
    fingerprint: the grouping accuracy stays high (the benchmark prints the figure)."""
    lines = corpus()
    s = Scenario()
    for k, line in enumerate(lines):
        s.emit(line.service, 2, line.message.replace("{", "{{").replace("}", "}}"), at=k / 600)
    engine = CorrelationEngine(s.config, MemoryStore())
    fps = []
    for e in s.events:
        o = engine.process(e)
        assert o is not None
        fps.append(o.fingerprint)
    accuracy = grouping_accuracy([line.label for line in lines], fps)
    assert accuracy >= 0.9
    masks_only = grouping_accuracy([line.label for line in lines], [f"{x.service}|{mask(x.message)}" for x in lines])
    assert accuracy > masks_only + 0.2
