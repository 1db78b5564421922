"""Responses with explicit media types, validators (ETag, Last-Modified) and safe headers."""
from __future__ import annotations

import hashlib
import os
from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
ICS = "text/calendar; charset=utf-8"
MARKDOWN = "text/markdown; charset=utf-8"
JSON = "application/json"
CSV = "text/csv; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
PNG = "image/png"

# Pages may change at any time (or be unpublished): caches must ask again, cheaply, with the
# ETag. Media files are content-addressed, so a copy never goes stale, but an unpublished
# relay's audio should not live on in shared caches: "private".
REVALIDATE = "no-cache"
MEDIA_CACHE = "private, max-age=86400"

_SECURITY = [
    (b"x-content-type-options", b"nosniff"),
    # Unlisted links are secrets: never send them to other sites in a Referer.
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
     b"img-src 'self' data:; media-src 'self'; connect-src 'self'; object-src 'none'; "
     b"base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
]


class SecurityHeaders:
    """ASGI middleware adding the same protective headers to every answer (404s too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in _SECURITY if k not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def etag_of(body: bytes) -> str:
    """A strong validator for a body."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(request: Request, etag: str, last_modified: datetime | None) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
        return "*" in tags or etag.removeprefix("W/") in tags
    ims = request.headers.get("if-modified-since")
    if ims and last_modified is not None:
        try:
            return int(last_modified.timestamp()) <= int(parsedate_to_datetime(ims).timestamp())
        except (TypeError, ValueError):
            return False
    return False


def answer(request: Request, body: bytes | str, media_type: str, *, listed: bool,
           last_modified: datetime | None = None, cache: str = REVALIDATE) -> Response:
    """A 200 with ETag (and Last-Modified), or a 304 when the client's copy is current.

    `listed` False marks the page unlisted: search engines are asked not to index it.
    """
    data = body.encode("utf-8") if isinstance(body, str) else body
    etag = etag_of(data)
    headers = {"ETag": etag, "Cache-Control": cache}
    if last_modified is not None:
        headers["Last-Modified"] = format_datetime(last_modified, usegmt=True)
    if not listed:
        headers["X-Robots-Tag"] = "noindex, nofollow"
    if _matches(request, etag, last_modified):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


def file_answer(request: Request, path, media_type: str, *, listed: bool) -> Response:
    """A stored file with range requests (206/416, for podcast apps that seek) and validators."""
    headers = {"Cache-Control": MEDIA_CACHE}
    if not listed:
        headers["X-Robots-Tag"] = "noindex, nofollow"
    # With the stat given, ETag and Last-Modified are known before sending (for the 304).
    response = FileResponse(path, media_type=media_type, headers=headers, stat_result=os.stat(path))
    etag = response.headers.get("etag")
    inm = request.headers.get("if-none-match")
    if etag and inm and etag in [t.strip() for t in inm.split(",")]:
        keep = {k: v for k, v in response.headers.items()
                if k in ("etag", "last-modified", "cache-control", "x-robots-tag")}
        return Response(status_code=304, headers=keep)
    return response


def not_found() -> Response:
    """The same plain 404 for unknown, unpublished and revoked things alike."""
    return Response("Not found.\n", status_code=404, media_type=TEXT,
                    headers={"Cache-Control": "no-store"})
