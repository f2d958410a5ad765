"""Who may read and write: browser origins and bearer tokens, one policy for the gateway and the
broadcaster (which serves the live feed directly behind an ingress).

- **Origins.** A browser sends `Origin` with every cross-site request and WebSocket handshake; a
  page from an origin not in `CORS_ORIGINS` is refused (403), so a web page someone happens to
  open cannot read the live feed or the API through their browser. Allowed always: requests
  without `Origin` (servers, scripts, curl) and same-origin pages (the dashboard served under the
  API's own host). The default is the local dashboard's origin; `*` allows any page (not for a
  team deployment).
- **Read tokens** (`READ_TOKENS`): when set, reads of events and incidents (REST under `/api`, and
  the WebSocket) need one of them, or a write token. Browsers cannot set headers on a WebSocket, so
  there the token may also come as the `token` query parameter.
- **Write tokens** (`API_TOKENS`): when set, every write under `/api` needs one.
Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

# The dashboard of a local run (`make up`), however the browser names the machine.
DASHBOARD_ORIGINS: Final = "http://localhost:3000,http://127.0.0.1:3000"
TOKEN_QUERY_PARAMETER: Final = "token"  # noqa: S105 - the name of a query parameter, not a secret


def _split(value: str) -> frozenset[str]:
    return frozenset(v.strip() for v in value.split(",") if v.strip())


def _normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def _any_matches(given: str, tokens: Iterable[str]) -> bool:
    # Every token is compared, so the time taken does not tell which one (or whether any) matched.
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given.encode(), token.encode())
    return found


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    origins: frozenset[str]
    read_tokens: frozenset[str]
    write_tokens: frozenset[str]

    @classmethod
    def from_settings(cls, cors_origins: str, read_tokens: str = "", write_tokens: str = "") -> AccessPolicy:
        """From the comma-separated settings (CORS_ORIGINS, READ_TOKENS, API_TOKENS)."""
        return cls(
            origins=frozenset(_normalise_origin(o) for o in _split(cors_origins)),
            read_tokens=_split(read_tokens),
            write_tokens=_split(write_tokens),
        )

    @property
    def any_origin(self) -> bool:
        return "*" in self.origins

    @property
    def reads_protected(self) -> bool:
        return bool(self.read_tokens)

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """Whether a request with this `Origin` header, sent to this `Host`, may be served."""
        if origin is None or self.any_origin:
            return True
        normalised = _normalise_origin(origin)
        if normalised in self.origins:
            return True
        # Same origin: the page was served by the host the request goes to (an ingress in front of all).
        return host is not None and urlsplit(normalised).netloc == host.strip().lower()

    def may_read(self, token: str | None) -> bool:
        if not self.read_tokens:
            return True
        return token is not None and _any_matches(token, self.read_tokens | self.write_tokens)

    def may_write(self, token: str | None) -> bool:
        if not self.write_tokens:
            return True
        return token is not None and _any_matches(token, self.write_tokens)


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str] | None = None) -> str | None:
    """The token of `Authorization: Bearer <token>`, else (for WebSockets) of `?token=`."""
    scheme, _, given = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given.strip():
        return given.strip()
    if query is not None:
        return query.get(TOKEN_QUERY_PARAMETER) or None
    return None
