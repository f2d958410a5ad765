"""API errors: one JSON shape, `{"success": false, "error": {"code", "message", "details"?}}`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from incident_shared.web.health import json_response


class ApiError(Exception):
    """Raised by handlers; the error middleware turns it into a JSON answer with `status`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"success": False, "error": error}


def error_response(err: ApiError) -> web.Response:
    return json_response(error_body(err.code, err.message, err.details), status=err.status, headers=err.headers)
