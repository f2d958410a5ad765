"""Masks: the obviously variable parts of a message, replaced before mining.

One generic set of rules, most specific first: times, URLs (the host is kept, the path masked),
emails, UUIDs, IP addresses, `host:port` (the host is kept, the port masked), file paths, quoted
values, hex, `key=value` values, numbers with units, and identifiers.

The last rule decides between an identifier and a name for every remaining token that holds a
digit. Instance identifiers are masked (`ORD-118812`, `pool-1-thread-3`, `checkout-7f9c8d6b5-x2k4p`,
`nvme0n1p1`, `req-Ab12Cd34`, `v2.3.1`); names that happen to hold a digit are kept (`s3`, `k8s.io`,
`http2`, `oauth2`, `utf8`, `ssh2`, `ext4`, `eth0`, `sha256`, `psycopg2`, `m5.xlarge`,
`e2e-orders-db`): they tell failures apart, and cascade evidence often is such a name. A part of a
token (split at `-`, `_`, `.`, `/`, `:`, `#`, `@`) is an identifier when it is all digits, holds two
or more separate runs of digits, a run of four or more, starts with a digit and is four or more
characters long, or is twelve or more characters long with a digit in it.
"""

from __future__ import annotations

import re
from typing import Final

_MONTHS: Final = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
# Timestamps that span several tokens (syslog's "Nov 30 14:22:01", PostgreSQL's "2026-11-30 14:22:01.123",
# the common log format's "30/Nov/2026:14:22:01 +0000") are masked before the line is split into tokens.
_TIMES: Final = re.compile(
    rf"\b(?:{_MONTHS})\s+\d{{1,2}}\s+\d{{1,2}}:\d{{2}}:\d{{2}}(?:\.\d+)?\b"
    r"|\b\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2}(?!\d))?"
    rf"|\b\d{{1,2}}/(?:{_MONTHS})/\d{{4}}:\d{{2}}:\d{{2}}:\d{{2}}(?:\s[+-]\d{{4}})?"
)
_QUOTED: Final = re.compile(r"\"[^\"\n]{0,200}\"|(?<!\w)'[^'\n]{0,200}'(?!\w)")

_RULES: Final = [
    (
        "TS",
        r"\b\d{4}-\d{2}-\d{2}(?:T\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?\b|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b",
    ),
    (
        "URL",
        r"\b(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://(?:[^@/\s]+@)?(?P<urlhost>[^/\s\"'<>?#:]+)(?::\d+)?(?P<rest>[^\s\"'<>]*)",
    ),
    ("EMAIL", r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"),
    ("UUID", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ("IP", r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b|\b(?:[0-9a-fA-F]{1,4}:){3,7}[0-9a-fA-F]{1,4}\b"),
    ("HOSTPORT", r"\b(?P<hphost>[A-Za-z][\w-]*(?:\.[\w-]+)*):\d{1,5}\b(?!\.\d)"),
    ("PATH", r"(?<![\w/.])(?:/[\w.@%+-]+){2,}/?"),
    ("HEX", r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"),
    ("KV", r"\b(?P<kvkey>[A-Za-z_][\w.-]*)=(?P<kvval>[^\s,;&)\]]+)"),
    ("NUM", r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:ms|us|µs|ns|s|m|h|d|[kKMGTP]i?[bB]?|bytes|x|%)?(?!\w|\.\w)"),
    ("ID", r"\b[\w.-]*\d[\w.-]*\b"),
]
_MASK_RE: Final = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _RULES))
_SEPARATORS: Final = re.compile(r"[-_./:#@]+")
_DIGIT_RUNS: Final = re.compile(r"\d+")


def is_identifier(token: str) -> bool:
    """Whether a token holding a digit names an instance (masked) rather than a thing (kept)."""
    for part in _SEPARATORS.split(token):
        if not part:
            continue
        runs = _DIGIT_RUNS.findall(part)
        if not runs:
            continue
        if (
            part.isdigit()
            or len(runs) >= 2
            or max(map(len, runs)) >= 4
            or (part[0].isdigit() and len(part) >= 4)
            or len(part) >= 12
        ):
            return True
    return False


def _name_or_id(token: str) -> str:
    return "<ID>" if is_identifier(token) else token


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "ID":
        return _name_or_id(match.group())
    if kind == "KV":
        return f"{match.group('kvkey')}=<*>"
    if kind == "HOSTPORT":
        return f"{_name_or_id(match.group('hphost'))}:<NUM>"
    if kind == "URL":
        host = match.group("urlhost")
        if _IP_RE.fullmatch(host):
            host = "<IP>"
        elif any(c.isdigit() for c in host):
            host = _name_or_id(host)
        rest = match.group("rest")
        return f"{match.group('scheme')}://{host}" + ("/<PATH>" if rest.strip("/") else "")
    return f"<{kind}>"


_IP_RE: Final = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
# Whole tokens of the commonest variable shapes, recognised without the general rules (which give
# the same result for them): an address, a number with its unit, a path.
_WHOLE_IP: Final = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?")
_WHOLE_NUM: Final = re.compile(r"\d+(?:\.\d+)?(?:ms|us|µs|ns|s|m|h|d|[kKMGTP]i?[bB]?|bytes|x|%)?")
_WHOLE_PATH: Final = re.compile(r"(?:/[\w.@%+-]+){2,}/?")


def _mask_token(tok: str) -> str:
    first = tok[0]
    if first.isdigit():
        if tok.isdigit() and tok.isascii():
            return "<NUM>"
        if _WHOLE_IP.fullmatch(tok):
            return "<IP>"
        if _WHOLE_NUM.fullmatch(tok):
            return "<NUM>"
    elif first == "/" and _WHOLE_PATH.fullmatch(tok):
        return "<PATH>"
    if _SUSPECT.search(tok):
        return _MASK_RE.sub(_replace, tok)
    return tok


_SUSPECT: Final = re.compile(r"[\d/@:=]")
# Masking is token by token, and the same tokens come back line after line (words, durations,
# host:port pairs): each distinct token is masked once (the cache is bounded; full, it starts over).
_TOKEN_CACHE: dict[str, str] = {}
_TOKEN_CACHE_SIZE: Final = 100_000


def mask(message: str) -> str:
    """The message with its obviously variable parts replaced by `<KIND>` placeholders.

    Timestamps spanning tokens and quoted values first (they may hold spaces); then, token by token,
    only tokens holding a digit or one of `/@:=` go through the rules: most words never need them.
    """
    if "'" in message or '"' in message:
        message = _QUOTED.sub("<STR>", message)
    if ":" in message:
        message = _TIMES.sub("<TS>", message)
    cache = _TOKEN_CACHE
    tokens = message.split()
    out: list[str | None] = list(map(cache.get, tokens))
    if None in out:
        for i, hit in enumerate(out):
            if hit is None:
                tok = tokens[i]
                masked = _mask_token(tok)
                if len(cache) >= _TOKEN_CACHE_SIZE:
                    cache.clear()
                cache[tok] = out[i] = masked
    return " ".join(out)  # type: ignore[arg-type]  # every None was replaced above
