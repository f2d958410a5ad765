"""A local stand-in for the AI providers, speaking their HTTP protocols: for tests and offline demos.

It serves the Anthropic Messages API (`POST /v1/messages`) and the OpenAI Chat Completions API
(`POST /v1/chat/completions`), so the real SDKs talk to it through their base URL
(ANTHROPIC_BASE_URL=http://127.0.0.1:PORT, OPENAI_BASE_URL=http://127.0.0.1:PORT/v1).

By default it "reads" the fenced incident digest in the prompt and answers with a plausible
assessment built from it (origin, dominant template, standard actions). Tests queue scripted replies
(errors with headers, malformed answers, delays) that are served in order before the default; every
request is recorded. It never reaches a real provider.

An outage can be switched on and off over HTTP, for a test that runs it as a separate process:
`POST /control/outage {"status": 529, "seconds": 60}` answers every request with that error (for
that long, or until `DELETE /control/outage`); `GET /health` says whether one is on.

    python -m summarizer.fakeprovider --port 5099
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiohttp import web

Protocol = Literal["anthropic", "openai"]
_FENCE = re.compile(r"<(incident-data-[0-9a-f]+)>\s*(.*?)\s*</\1>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer. `answer` is the structured answer; `text` a raw text answer instead."""

    status: int = 200
    answer: dict[str, Any] | None = None
    text: str | None = None
    error_type: str = "api_error"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    input_tokens: int = 850
    output_tokens: int = 160

    @classmethod
    def error(cls, status: int, *, headers: dict[str, str] | None = None, error_type: str | None = None) -> Reply:
        default_type = {
            429: "rate_limit_error",
            529: "overloaded_error",
            400: "invalid_request_error",
            401: "authentication_error",
        }.get(status, "api_error")
        return cls(status=status, headers=headers or {}, error_type=error_type or default_type)


@dataclass(slots=True)
class Recorded:
    protocol: Protocol
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def prompt_text(self) -> str:
        """System and user text of the request, joined."""
        if self.protocol == "anthropic":
            parts = [str(self.body.get("system", ""))]
            parts += [str(m.get("content", "")) for m in self.body.get("messages", [])]
        else:
            parts = [str(m.get("content", "")) for m in self.body.get("messages", [])]
        return "\n".join(parts)

    @property
    def user_text(self) -> str:
        """The user message(s) alone: where the prompt puts the incident data."""
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []) if m.get("role") == "user")


class FakeProvider:
    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[Recorded] = []
        self.active = 0
        self.max_active = 0  # the most requests it was answering at once
        self.base_url = ""  # set by whoever starts it, for the SDKs' base URL
        self.outage: Reply | None = None  # answers every request while set (see `set_outage`)
        self._outage_until: float | None = None
        self._ids = itertools.count(1)

    def queue(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def requests_for(self, protocol: Protocol) -> list[Recorded]:
        return [r for r in self.requests if r.protocol == protocol]

    def set_outage(self, status: int | None, seconds: float | None = None) -> None:
        """Answers every request with the error `status` (for `seconds`, or until cleared with None)."""
        self.outage = Reply.error(status) if status is not None else None
        self._outage_until = time.monotonic() + seconds if status is not None and seconds is not None else None

    def _current_outage(self) -> Reply | None:
        if self._outage_until is not None and time.monotonic() >= self._outage_until:
            self.set_outage(None)
        return self.outage

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_get("/health", self._health)
        app.router.add_post("/control/outage", self._start_outage)
        app.router.add_delete("/control/outage", self._end_outage)
        return app

    async def _health(self, _: web.Request) -> web.Response:
        outage = self._current_outage()
        return web.json_response(
            {"status": "ok", "requests": len(self.requests), "outage": outage.status if outage else None}
        )

    async def _start_outage(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        status, seconds = body.get("status", 529), body.get("seconds")
        if not isinstance(status, int) or not 400 <= status <= 599:
            return web.json_response({"error": "status must be an HTTP error status (400-599)"}, status=400)
        if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
            return web.json_response({"error": "seconds must be a positive number"}, status=400)
        self.set_outage(status, seconds)
        return web.json_response({"outage": status, "seconds": seconds})

    async def _end_outage(self, _: web.Request) -> web.Response:
        self.set_outage(None)
        return web.json_response({"outage": None})

    async def _next(self, request: web.Request, protocol: Protocol) -> tuple[Reply, dict[str, Any]]:
        body = await request.json()
        headers = {k.lower(): v for k, v in request.headers.items() if k.lower() not in ("x-api-key", "authorization")}
        self.requests.append(Recorded(protocol, request.path, headers, body))
        outage = self._current_outage()
        if outage is not None:
            return outage, body
        reply = self.script.popleft() if self.script else Reply()
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if reply.delay:
                await asyncio.sleep(reply.delay)
        finally:
            self.active -= 1
        return reply, body

    async def _anthropic(self, request: web.Request) -> web.Response:
        reply, body = await self._next(request, "anthropic")
        if reply.status != 200:
            return _json(
                {"type": "error", "error": {"type": reply.error_type, "message": f"fake {reply.status}"}},
                reply.status,
                reply.headers,
            )
        content: list[dict[str, Any]]
        if reply.text is not None:
            content = [{"type": "text", "text": reply.text}]
            stop = "end_turn"
        else:
            tool = (body.get("tool_choice") or {}).get("name") or "record_incident_summary"
            answer = reply.answer if reply.answer is not None else default_answer(_prompt_of(body))
            content = [{"type": "tool_use", "id": f"toolu_fake{next(self._ids)}", "name": tool, "input": answer}]
            stop = "tool_use"
        return _json(
            {
                "id": f"msg_fake{next(self._ids)}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "fake"),
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
            },
            200,
            reply.headers,
        )

    async def _openai(self, request: web.Request) -> web.Response:
        reply, body = await self._next(request, "openai")
        if reply.status != 200:
            return _json(
                {"error": {"message": f"fake {reply.status}", "type": reply.error_type, "code": None}},
                reply.status,
                reply.headers,
            )
        if reply.text is not None:
            text = reply.text
        else:
            answer = reply.answer if reply.answer is not None else default_answer(_prompt_of(body))
            text = orjson.dumps(answer).decode()
        return _json(
            {
                "id": f"chatcmpl-fake{next(self._ids)}",
                "object": "chat.completion",
                "created": 1_767_225_600,
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": reply.input_tokens,
                    "completion_tokens": reply.output_tokens,
                    "total_tokens": reply.input_tokens + reply.output_tokens,
                },
            },
            200,
            reply.headers,
        )


def _json(body: Any, status: int, headers: dict[str, str]) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


def _prompt_of(body: dict[str, Any]) -> str:
    parts = [str(body.get("system", ""))]
    for message in body.get("messages", []):
        content = message.get("content", "")
        parts.append(content if isinstance(content, str) else orjson.dumps(content).decode())
    return "\n".join(parts)


def default_answer(prompt: str) -> dict[str, Any]:
    """A plausible assessment from the fenced digest in `prompt` (what a model would base it on)."""
    digest: dict[str, Any] = {}
    # The instructions name the markers too; the data is the fenced part that parses as an object.
    for match in _FENCE.finditer(prompt):
        try:
            parsed = orjson.loads(match.group(2))
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, dict):
            digest = parsed
    services = digest.get("services", {})
    origin = services.get("probableOrigin") or next(iter(services.get("affected", [])), "the service")
    templates = digest.get("templates", [])
    top = templates[0] if templates else {}
    failure = top.get("template", "errors")
    count = digest.get("incident", {}).get("eventCount", 0)
    return {
        "summary": f'{origin} is failing: {count} events, mostly "{failure}".',
        "rootCause": f'The dominant failure "{failure}" in {origin} points to a problem with its dependency.',
        "suggestedActions": [
            f"Check {origin}'s dependencies named in the failure.",
            f"Check recent deploys of {origin}.",
            f"Watch {origin}'s error rate after each change.",
        ],
        "confidence": 0.72,
        "evidenceTemplates": [top["id"]] if "id" in top else [],
        "evidenceServices": [origin],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m summarizer.fakeprovider")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5099)
    args = parser.parse_args(argv)
    web.run_app(FakeProvider().app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
