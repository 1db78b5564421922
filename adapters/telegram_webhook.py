"""The webhook door: Telegram POSTs each update to us; we answer only once it is handled.

A tornado server (python-telegram-bot's own webhook dependency) runs on the process's
event loop. Unlike a queue-and-acknowledge webhook, an update is acknowledged with 200
only after the core has handled it, so if Tessera dies in between, Telegram delivers it
again (and the remembered update id stops it from being handled twice). Each request
must carry the secret token given to setWebhook.
"""
from __future__ import annotations

import hmac
import json
import logging
from typing import Any, Awaitable, Callable

import tornado.httpserver
import tornado.netutil
import tornado.web

log = logging.getLogger("tessera.telegram")

Receiver = Callable[[dict[str, Any]], Awaitable[None]]


class _UpdateHandler(tornado.web.RequestHandler):
    def initialize(self, receive: Receiver, secret: str) -> None:
        self.receive = receive
        self.secret = secret

    async def post(self) -> None:
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            self.set_status(403)
            return
        try:
            data = json.loads(self.request.body or b"null")
        except ValueError:
            self.set_status(400)
            return
        if not isinstance(data, dict) or "update_id" not in data:
            self.set_status(400)
            return
        try:
            await self.receive(data)
        except Exception:  # Telegram will deliver it again
            log.exception("telegram webhook update %s failed", data.get("update_id"))
            self.set_status(500)
            return
        self.set_status(200)

    def log_exception(self, typ, value, tb) -> None:  # never echo requests (secret header)
        log.error("telegram webhook error: %s", typ.__name__ if typ else "?")


class WebhookListener:
    """Listens on `listen:port` at `path` and hands each update's JSON to `receive`."""

    def __init__(self, receive: Receiver, secret: str, path: str, listen: str, port: int) -> None:
        self.app = tornado.web.Application(
            [(path or "/", _UpdateHandler, {"receive": receive, "secret": secret})],
            log_function=lambda handler: None,  # access logs would show paths and addresses
        )
        self.listen, self.port = listen, port
        self.server: tornado.httpserver.HTTPServer | None = None

    async def start(self) -> int:
        """Bind and serve on the running loop; returns the port (useful with port 0)."""
        sockets = tornado.netutil.bind_sockets(self.port, self.listen)
        self.server = tornado.httpserver.HTTPServer(self.app)
        self.server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop accepting and close open connections."""
        if self.server is not None:
            self.server.stop()
            await self.server.close_all_connections()
            self.server = None
