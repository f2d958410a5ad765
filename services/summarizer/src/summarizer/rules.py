"""The rule-based summarizer: a useful summary from the digest when no model can write one.

It names the probable origin and the dominant failure, infers a likely cause from the error family
(timeouts, refused connections, exhausted pools, memory, disk, certificates, authentication, rate
limits, crashes, upstream 5xx ...) and lists that family's standard first actions. Its text says
plainly that it is rule-based, and its `kind` and `provider` are `rule-based`, so no screen can
mistake it for a model's assessment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from incident_shared.schemas import Incident, IncidentSummary
from incident_shared.schemas.incidents import SummaryEvidence
from incident_shared.timeutil import iso
from summarizer.digest import Digest

RULES_VERSION: Final = "rules.v1"
LABEL: Final = "Rule-based summary (no AI):"


@dataclass(frozen=True, slots=True)
class ErrorFamily:
    name: str
    pattern: re.Pattern[str]
    cause: str  # completes "… most likely {cause}"
    actions: tuple[str, ...]


def _family(name: str, pattern: str, cause: str, *actions: str) -> ErrorFamily:
    return ErrorFamily(name, re.compile(pattern, re.IGNORECASE), cause, actions)


# Most specific first: the first family whose pattern matches the dominant failure wins.
FAMILIES: Final = (
    _family(
        "pool-exhausted",
        r"pool (is )?exhausted|too many connections|connection pool|max_?connections",
        "an exhausted connection pool to {target}: connections are held too long or the pool is too small",
        "Check {target}'s active connections and slow queries.",
        "Look for connection leaks or a traffic increase in {origin}.",
        "Raise the pool size or shed load only after confirming {target} has headroom.",
    ),
    _family(
        "deadlock",
        r"deadlock|lock wait|could not obtain lock|lock timeout",
        "lock contention in {target}: concurrent transactions block each other",
        "Inspect {target}'s lock waits and the longest-running transactions.",
        "Check for a recent deploy or migration in {origin} that changed transaction order.",
    ),
    _family(
        "timeout",
        r"time(d)? ?out|deadline exceeded|timeouterror|took too long|ETIMEDOUT",
        "a slow or unresponsive dependency ({target}) that {origin} waits on",
        "Check {target}'s latency, saturation and error rate.",
        "Compare {origin}'s timeout settings with {target}'s current latency.",
        "Look for a deploy or traffic change on {target} at the start of the incident.",
    ),
    _family(
        "connection",
        r"connection refused|ECONNREFUSED|connection reset|ECONNRESET|broken pipe|"
        r"no route to host|unreachable|connecterror|connection closed",
        "{target} refusing or dropping connections: it is down, restarting, or out of capacity",
        "Check whether {target} is up and its instances are healthy.",
        "Check recent restarts, deploys or network policy changes affecting {target}.",
    ),
    _family(
        "dns",
        r"dns|name resolution|could not resolve|nxdomain|getaddrinfo|unknown host",
        "name resolution failing for {target}",
        "Check the DNS records and resolver health for {target}.",
        "Check for recent DNS, service discovery or network changes.",
    ),
    _family(
        "tls",
        r"certificate|x509|tls|ssl|handshake",
        "a TLS or certificate problem between {origin} and {target} (expired or untrusted certificate)",
        "Check the certificate expiry and chain presented by {target}.",
        "Check recent certificate rotations or trust store changes.",
    ),
    _family(
        "memory",
        r"out ?of ?memory|\boom\b|oomkilled|heap|memoryerror|cannot allocate",
        "memory exhaustion in {origin}",
        "Check {origin}'s memory usage and restart count (OOMKilled).",
        "Look for a memory leak or a larger workload since the last deploy.",
        "Raise memory limits temporarily if the pods are being killed.",
    ),
    _family(
        "disk",
        r"no space left|disk (is )?full|ENOSPC|quota exceeded|volume full",
        "a full disk or volume on {origin}",
        "Check disk and volume usage on {origin}'s hosts.",
        "Free space (old logs, temp files) or expand the volume.",
    ),
    _family(
        "auth",
        r"unauthori[sz]ed|forbidden|\b401\b|\b403\b|permission denied|access denied|"
        r"invalid token|token expired|authentication",
        "an authentication or authorization failure: an expired or rotated credential, or a policy change",
        "Check the credentials and tokens {origin} uses, and when they were last rotated.",
        "Check recent IAM, policy or secret changes.",
    ),
    _family(
        "rate-limit",
        r"rate.?limit|too many requests|\b429\b|throttl|quota",
        "{origin} being rate limited by {target}",
        "Check {origin}'s request rate against {target}'s limits.",
        "Look for retry storms or a traffic spike; add backoff or reduce concurrency.",
    ),
    _family(
        "crash",
        r"crashloop|segfault|panic|fatal|killed|exit code|core dumped|terminated",
        "{origin} crashing and restarting",
        "Check {origin}'s restart count and the logs just before each crash.",
        "Roll back {origin}'s most recent deploy if the crashes started with it.",
    ),
    _family(
        "upstream-5xx",
        r"\b50[0-4]\b|internal server error|bad gateway|service unavailable|gateway timeout",
        "errors returned by an upstream dependency ({target})",
        "Check {target}'s error rate and logs for the same period.",
        "Check recent deploys of {target}.",
    ),
    _family(
        "queue",
        r"consumer lag|backlog|queue (is )?full|kafka|rebalanc",
        "a messaging backlog: consumers of {origin} are falling behind",
        "Check consumer lag and consumer health for {origin}'s topics or queues.",
        "Scale consumers or reduce producer rate until the backlog drains.",
    ),
)

_GENERIC_ACTIONS: Final = (
    "Check recent deploys and configuration changes on {origin} around {since}.",
    "Check {origin}'s dashboards (error rate, latency, saturation) for the incident window.",
)
_TARGET = re.compile(r"(?:calling|to|from|at|host|upstream|connect(?:ing)? to)\s+([A-Za-z][\w.-]*[A-Za-z0-9])")


def _target(text: str, origin: str) -> str:
    """The dependency a failure message names (`… calling db-primary`), or the origin itself."""
    for match in _TARGET.finditer(text):
        word = match.group(1)
        if not word.startswith("<") and word.lower() not in {"the", "a", "an", "be", "connect"}:
            return word
    return f"{origin}'s dependencies"


def classify(text: str) -> ErrorFamily | None:
    for family in FAMILIES:
        if family.pattern.search(text):
            return family
    return None


def summarize_by_rules(
    incident: Incident, digest: Digest, *, generated_at: datetime, reason: str = ""
) -> IncidentSummary:
    """A summary from the digest alone. `reason` (why no model wrote it) is recorded in the text."""
    origin = incident.probableOrigin or (incident.affectedServices[0] if incident.affectedServices else "the service")
    dominant = digest.dominant
    failure_text = " ".join(filter(None, [dominant.errorType, dominant.template])) if dominant else incident.title
    family = classify(failure_text) or classify(incident.title)
    target = _target(failure_text, origin)
    fill = {"origin": origin, "target": target, "since": iso(incident.firstSeen)}

    services = incident.affectedServices
    where = ", ".join(services[:5]) + (f" and {len(services) - 5} more" if len(services) > 5 else "")
    parts = [
        f"{LABEL} {incident.eventCount} events across {len(services)} service(s) ({where or origin})"
        f" since {iso(incident.firstSeen)}, severity {incident.severityScore}/5."
    ]
    if dominant is not None:
        share = dominant.count / max(incident.eventCount, 1)
        parts.append(
            f'The dominant failure is "{_short(dominant.template)}" in {dominant.service}'
            f" ({dominant.count} events, {share:.0%})."
        )
    if incident.flapping:
        parts.append(f"It is flapping ({incident.flapCount} recurrences).")
    summary = " ".join(parts)

    if family is not None:
        root = f"Most likely {family.cause.format(**fill)}, starting in {origin}."
        actions = [a.format(**fill) for a in family.actions]
        confidence = 0.5
    else:
        root = f"The failure pattern in {origin} matches no known error family; the cause is undetermined."
        actions = []
        confidence = 0.2
    if len(services) > 1:
        root += f" {len(services)} services are affected; {origin} is the probable origin."
    root += " (Inferred by rules from error patterns" + (f"; {reason}" if reason else "") + ".)"
    actions += [a.format(**fill) for a in _GENERIC_ACTIONS]
    if dominant is not None and dominant.count / max(incident.eventCount, 1) < 0.5:
        confidence -= 0.1  # several failures of similar weight: the dominant one may not be the cause

    return IncidentSummary(
        incidentId=incident.incidentId,
        basedOnVersion=incident.version,
        kind="rule-based",
        provider="rule-based",
        model=RULES_VERSION,
        summary=summary,
        rootCause=root,
        suggestedActions=list(dict.fromkeys(actions))[:5],
        confidence=round(max(confidence, 0.1), 2),
        evidence=SummaryEvidence(
            templates=[dominant.fingerprint] if dominant else [],
            services=[origin] if origin in digest.services else [],
        ),
        promptVersion=None,
        generatedAt=generated_at,
    )


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
