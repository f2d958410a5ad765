"""Middlewares, outermost first: CORS, then errors and metrics, then write authorisation."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from pymongo.errors import PyMongoError

from incident_shared.web.health import json_response
from ingest_gateway.appkeys import METRICS, SETTINGS
from ingest_gateway.errors import ApiError, error_body, error_response

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@web.middleware
async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Lets the dashboard (another origin, port 3000) call the API."""
    allowed = request.app[SETTINGS].cors_origins
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS" and origin and "Access-Control-Request-Method" in request.headers:
        response: web.StreamResponse = web.Response(status=204)
    else:
        response = await handler(request)
    if origin and (allowed == "*" or origin in {o.strip() for o in allowed.split(",")}):
        response.headers["Access-Control-Allow-Origin"] = origin if allowed != "*" else "*"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
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
    except PyMongoError as exc:
        # History reads only: ingest never touches MongoDB. The store being away is not a bug here.
        log.warning("the history store did not answer", extra={"path": request.path, "error": str(exc)[:300]})
        return json_response(
            error_body(
                "store_unavailable", f"the history store (MongoDB) did not answer ({type(exc).__name__}); retry shortly"
            ),
            status=503,
            headers={"Retry-After": "5"},
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status, "http_error")
        message = exc.reason if exc.status != 404 else f"no route {request.method} {request.path}"
        kept = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
        return json_response(error_body(code, message), status=exc.status, headers=kept)
    except Exception:
        log.exception("unhandled error", extra={"method": request.method, "path": request.path})
        return json_response(error_body("internal_error", "an internal error occurred; it has been logged"), status=500)


@web.middleware
async def write_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With API_TOKENS set, writes under /api need `Authorization: Bearer <token>`; reads stay open."""
    tokens = request.app[SETTINGS].tokens
    if tokens and request.method in WRITE_METHODS and request.path.startswith("/api/"):
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not any(hmac.compare_digest(given.strip(), t) for t in tokens):
            raise ApiError(
                401,
                "unauthorized",
                "this write needs a valid token: send 'Authorization: Bearer <token>' (one of API_TOKENS)",
                headers={"WWW-Authenticate": 'Bearer realm="incident-intelligence"'},
            )
    return await handler(request)
