"""What every address does: explicit media types, no listings, safe headers, rate limits."""
from __future__ import annotations

import pytest

from core.web.ratelimit import TokenBuckets
from tests.web.conftest import client_for


class Ticks:
    """A monotonic clock for the rate limiter that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_refills_at_its_rate():
    ticks = Ticks()
    buckets = TokenBuckets(per_minute=60, burst=3, clock=ticks)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(1.0)  # one a second
    assert buckets.take("b") == 0.0  # every address has its own bucket
    ticks.now += 0.5
    assert buckets.take("a") == pytest.approx(0.5)
    ticks.now += 0.5
    assert buckets.take("a") == 0.0


def test_buckets_stay_bounded():
    ticks = Ticks()
    buckets = TokenBuckets(per_minute=60, burst=2, clock=ticks, max_keys=100)
    for i in range(1000):
        buckets.take(f"10.0.{i // 256}.{i % 256}")
        ticks.now += 0.01
    assert len(buckets._buckets) <= 100


async def test_too_many_requests_get_429_with_retry_after(town):
    ticks = Ticks()
    town.app.services.config.values["web"].update(rate_per_minute=30, burst=5)
    async with client_for(town, clock=ticks) as web:
        codes = [(await web.get("/")).status_code for _ in range(5)]
        assert codes == [200] * 5
        limited = await web.get("/")
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "2"  # one request every 2 s
        assert limited.headers["x-content-type-options"] == "nosniff"
        ticks.now += 2
        assert (await web.get("/")).status_code == 200


async def test_forwarded_addresses_count_only_behind_a_trusted_proxy(town):
    town.app.services.config.values["web"].update(burst=1, trust_forwarded_for=True)
    async with client_for(town, clock=Ticks()) as web:
        assert (await web.get("/", headers={"X-Forwarded-For": "203.0.113.7"})).status_code == 200
        assert (await web.get("/", headers={"X-Forwarded-For": "203.0.113.8"})).status_code == 200
        assert (await web.get("/", headers={"X-Forwarded-For": "203.0.113.7"})).status_code == 429
    town.app.services.config.values["web"].update(trust_forwarded_for=False)
    async with client_for(town, clock=Ticks()) as web:
        assert (await web.get("/", headers={"X-Forwarded-For": "203.0.113.9"})).status_code == 200
        assert (await web.get("/", headers={"X-Forwarded-For": "203.0.113.10"})).status_code == 429


async def test_home_static_files_and_robots(town):
    async with client_for(town) as web:
        home = await web.get("/")
        assert home.status_code == 200 and home.headers["content-type"] == "text/html; charset=utf-8"
        assert '<html lang="en" dir="ltr">' in home.text and "<main>" in home.text
        assert "/p/" not in home.text  # nothing is listed
        css = await web.get("/static/style.css")
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        js = await web.get("/static/verify.js")
        assert js.headers["content-type"] == "text/javascript; charset=utf-8"
        assert "crypto.subtle.digest" in js.text
        robots = await web.get("/robots.txt")
        assert robots.headers["content-type"] == "text/plain; charset=utf-8"
        assert "Disallow: /p/" in robots.text
        head = await web.head("/static/style.css")
        assert head.status_code == 200 and head.content == b""


async def test_no_directory_listing_anywhere(town):
    async with client_for(town) as web:
        for path in ("/static/", "/static", "/p/", "/p", "/media/", "/relays/", "/networks/",
                     "/static/../core/config.py", "/static/%2e%2e/web/app.py",
                     "/p/not-a-token/", "/p/not-a-token/feed.xml", "/relays/1/media/",
                     "/networks/1/", "/data/tessera.db"):
            response = await web.get(path, follow_redirects=True)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == "text/plain; charset=utf-8"
            assert response.headers["cache-control"] == "no-store"
        assert (await web.post("/")).status_code == 405


async def test_every_answer_carries_protective_headers(town):
    async with client_for(town) as web:
        for path in ("/", "/p/nothing/"):
            headers = (await web.get(path)).headers
            assert headers["referrer-policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert "script-src 'self'" in headers["content-security-policy"]
