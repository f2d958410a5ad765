"""A bare aiohttp endpoint that parses the JSON body and answers 201: the gateway's yardstick."""

from __future__ import annotations

import os

import orjson
from aiohttp import web


async def handle(request: web.Request) -> web.Response:
    orjson.loads(await request.read())
    return web.Response(status=201, body=b'{"success":true}', content_type="application/json")


async def health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


app = web.Application()
app.router.add_post("/api/events", handle)
app.router.add_get("/health/ready", health)

if __name__ == "__main__":
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), access_log=None, print=None)
