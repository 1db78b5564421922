"""Rate limiting per client address: a token bucket, answered with 429 and Retry-After.

Each address may make `burst` requests at once, refilled at `per_minute` a minute. Buckets
that have refilled completely are forgotten, so memory stays bounded by the active clients.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class _Bucket:
    tokens: float
    at: float


class TokenBuckets:
    """One bucket per key. `take(key)` returns 0 when allowed, else seconds to wait."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        if per_minute <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Spend one token of `key`'s bucket; 0.0 if there was one, else the wait in seconds."""
        now = self.clock()
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= self.max_keys:
                self._forget_full(now)
            b = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            b.tokens = min(float(self.burst), b.tokens + (now - b.at) * self.rate)
            b.at = now
        if b.tokens >= 1.0:
            b.tokens -= 1.0
            return 0.0
        return (1.0 - b.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        full = [k for k, b in self._buckets.items()
                if b.tokens + (now - b.at) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.max_keys:  # everyone is busy: drop the oldest
            for k in sorted(self._buckets, key=lambda k: self._buckets[k].at)[: self.max_keys // 10]:
                del self._buckets[k]


def client_address(scope: Scope, trust_forwarded: bool) -> str:
    """The client's IP: the socket peer, or the first X-Forwarded-For hop behind a trusted proxy."""
    if trust_forwarded:
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                first = value.decode("latin-1").split(",")[0].strip()
                if first:
                    return first
    client = scope.get("client")
    return client[0] if client else "unknown"


class RateLimit:
    """ASGI middleware answering 429 (with Retry-After) to clients over their rate."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets, trust_forwarded: bool = False) -> None:
        self.app = app
        self.buckets = buckets
        self.trust_forwarded = trust_forwarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(client_address(scope, self.trust_forwarded))
        if not wait:
            await self.app(scope, receive, send)
            return
        body = b"Too many requests. Please wait a moment.\n"
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(max(1, math.ceil(wait))).encode()),
            (b"cache-control", b"no-store"),
        ]})
        await send({"type": "http.response.body", "body": body})
