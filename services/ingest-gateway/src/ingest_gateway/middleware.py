"""Middlewares, outermost first: origins and OPTIONS, then errors and metrics, then tokens."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from pymongo.errors import ConnectionFailure, PyMongoError

from incident_shared.web.access import bearer_token
from incident_shared.web.health import json_response
from ingest_gateway.appkeys import METRICS, SETTINGS
from ingest_gateway.errors import ApiError, error_body, error_response

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


CORS_METHODS = "GET, POST, PATCH, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type"


def _allowed_methods(request: web.Request) -> list[str]:
    """The methods the matched resource answers, as routed (the documented ones: OPTIONS is ours)."""
    match = request.match_info
    error = getattr(match, "http_exception", None)
    if isinstance(error, web.HTTPMethodNotAllowed):
        methods = set(error.allowed_methods)
    elif match.route is not None and match.route.resource is not None:
        methods = {route.method for route in match.route.resource}
    else:
        methods = set()
    return sorted(methods | {"OPTIONS"} - {"*"})


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Serves browsers from the allowed origins only, and answers OPTIONS (preflight or not).

    A request from a page of another origin is refused before it reaches a handler: that is what
    keeps a web page someone opens from reading the API (or, through `/ws`, the live feed) via their
    browser. Requests without `Origin` (servers, scripts) and same-origin pages are always served.
    """
    access = request.app[SETTINGS].access
    origin = request.headers.get("Origin")
    if not access.origin_allowed(origin, request.host):
        request.app[METRICS].requests.labels(_route_label(request), request.method, "403").inc()
        return error_response(
            ApiError(
                403,
                "origin_not_allowed",
                f"pages from {origin} may not use this API; add the origin to CORS_ORIGINS to allow it",
            )
        )
    response: web.StreamResponse
    if request.method == "OPTIONS" and origin and "Access-Control-Request-Method" in request.headers:
        response = web.Response(status=204)
    elif request.method == "OPTIONS" and not isinstance(request.match_info.route, web.ResourceRoute):
        methods = _allowed_methods(request)
        if len(methods) == 1:
            return await handler(request)  # no such resource: the 404 of the error middleware
        response = web.Response(status=204, headers={"Allow": ", ".join(methods)})
    else:
        response = await handler(request)
    if origin:
        response.headers["Access-Control-Allow-Origin"] = "*" if access.any_origin else origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def _route_label(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def errors_and_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error is JSON in one shape; every request is counted and timed by route."""
    metrics = request.app[METRICS]
    start = time.perf_counter()
    response = await _json_errors(request, handler)
    route = _route_label(request)
    metrics.requests.labels(route, request.method, str(response.status)).inc()
    metrics.request_seconds.labels(route, request.method).observe(time.perf_counter() - start)
    return response


async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return error_response(err)
    except web.HTTPRequestEntityTooLarge:
        request.app[METRICS].events_rejected.labels("body_too_large").inc()
        limit = request.app[SETTINGS].max_body_bytes
        return json_response(
            error_body("body_too_large", f"the body is larger than {limit} bytes; split it into smaller batches"),
            status=413,
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        message = exc.reason if exc.status != 404 else f"no route {request.method} {request.path}"
        kept = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return json_response(error_body(code, message), status=exc.status, headers=kept)
    except PyMongoError as exc:
        # History reads only: ingest never touches MongoDB. MongoDB down, or a read past its time limit,
        # is an outage, not a bug: say so, and when to try again. Ingest goes on meanwhile.
        log.warning(
            "the history store did not answer; answering 503", extra={"path": request.path, "error": repr(exc)[:300]}
        )
        reason = "is unreachable" if isinstance(exc, ConnectionFailure) else f"did not answer ({type(exc).__name__})"
        return json_response(
            error_body(
                "mongodb_unavailable",
                f"the history store (MongoDB) {reason}; reads fail until it is back (events are still"
                " accepted): retry shortly",
            ),
            status=503,
            headers={"Retry-After": "5"},
        )
    except Exception:
        log.exception("unhandled error", extra={"method": request.method, "path": request.path})
        return json_response(error_body("internal_error", "an internal error occurred; it has been logged"), status=500)


# Writes outside /api/ that need a token too: the OTLP receiver's standard path (`/v1/logs`).
PROTECTED_PREFIXES = ("/api/", "/v1/")
# Set on a handler that checks the token itself (PagerDuty senders may put it in `routing_key`).
SELF_AUTHORISED = "authorises_itself"


def authorises_itself(handler: Handler) -> Handler:
    """Marks `handler` as checking write tokens itself (with `has_write_token`, or its own way)."""
    setattr(handler, SELF_AUTHORISED, True)
    return handler


def has_write_token(request: web.Request) -> bool:
    """True when API_TOKENS is empty or the request carries `Authorization: Bearer <one of them>`."""
    return request.app[SETTINGS].access.may_write(bearer_token(request.headers))


def _is_read(request: web.Request) -> bool:
    """Reads of events and incidents: GETs under /api (the OpenAPI document aside) and the WebSocket."""
    path = request.path
    if request.method not in ("GET", "HEAD"):
        return False
    if path.startswith("/api/"):
        return path != "/api/openapi.json"
    return path == "/ws" or (path == "/" and request.headers.get("Upgrade", "").lower() == "websocket")


@web.middleware
async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With API_TOKENS set, writes under /api (and /v1) need one of them; with READ_TOKENS set, so do reads."""
    policy = request.app[SETTINGS].access
    if request.method in WRITE_METHODS and request.path.startswith(PROTECTED_PREFIXES):
        if not getattr(request.match_info.handler, SELF_AUTHORISED, False) and not has_write_token(request):
            raise _unauthorized("this write needs a valid token: send 'Authorization: Bearer <token>' (API_TOKENS)")
    elif policy.reads_protected and _is_read(request):
        query = request.query if request.path in ("/ws", "/") else None
        if not policy.may_read(bearer_token(request.headers, query)):
            raise _unauthorized(
                "reading needs a token: send 'Authorization: Bearer <token>' (READ_TOKENS or API_TOKENS);"
                " a browser's WebSocket may pass it as ?token=<token>"
            )
    return await handler(request)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="incident-intelligence"'})
