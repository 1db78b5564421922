"""The web face of a network: `create_app(services)` builds the Starlette application.

Addresses (nothing else answers; there is no directory listing):
  /p/TOKEN/...          one publication, by its unlisted link (see `core.web.publications`)
  /networks/ID/         a network's public page: only what it published as public
  /relays/ID/...        a relay published as public, at its readable address
  /static/NAME          the style sheet and the optional in-browser ledger check
Unknown, unpublished and revoked addresses all answer the same 404.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

from sqlmodel import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.publish.feed import ChainEpisode
from core.storage.publish import Publication
from core.web import http, pages
from core.web import publications as pubs
from core.web.ratelimit import RateLimit, TokenBuckets

STATIC = Path(__file__).parent / "static"
# Only these files are served from static/, each with its type.
STATIC_FILES = {"style.css": "text/css; charset=utf-8",
                "verify.js": "text/javascript; charset=utf-8"}
WEB_DEFAULTS = {"host": "127.0.0.1", "port": 8080, "rate_per_minute": 120, "burst": 60,
                "trust_forwarded_for": False}

ChartRenderer = Callable[[list, str], bytes]


def web_settings(config) -> dict[str, Any]:
    """The [web] section with defaults for keys an older configuration lacks."""
    return {**WEB_DEFAULTS, **dict(config.values.get("web") or {})}


class Web:
    """The handlers, holding the services and small caches (chain audio, charts)."""

    def __init__(self, services, chart: ChartRenderer | None) -> None:
        self.services = services
        self.chart = chart
        self._chains: dict[tuple, ChainEpisode | None] = {}
        self._charts: dict[tuple[int, str], bytes] = {}

    # -- plumbing ------------------------------------------------------------------------
    async def db(self, fn: Callable[[Session], Any]) -> Any:
        """Run `fn(session)` in a worker thread with a read-only session of its own."""
        def work():
            with Session(self.services.engine, expire_on_commit=False) as session:
                return fn(session)
        return await run_in_threadpool(work)

    def root(self, request: Request) -> str:
        """The absolute base of every link: tessera.public_url, or where we were asked."""
        configured = self.services.public_url
        return configured or str(request.base_url).rstrip("/")

    def site(self, request: Request, lang: str, listed: bool, network: str = "") -> pages.Site:
        return pages.Site(lang=pages.pick_lang(request.query_params.get("lang"), lang),
                          root=request.scope.get("root_path", ""), listed=listed, network=network)

    @staticmethod
    def respond(request: Request, built: pages.Page | pages.File | None, listed: bool) -> Response:
        if built is None:
            return http.not_found()
        if isinstance(built, pages.File):
            return http.file_answer(request, built.path, built.media_type, listed=listed)
        return http.answer(request, built.body, built.media_type, listed=listed,
                           last_modified=built.last_modified)

    async def chain_episode(self, view) -> ChainEpisode | None:
        """The whole relay as one audio episode (needs ffmpeg; made once per relay)."""
        keys = tuple(p.media_key for r in view.reports for p in r.audio_parts)
        if not keys or not shutil.which("ffmpeg"):
            return None
        key = (view.relay_id, keys)
        cached = self._chains.get(key)
        if cached is not None and not self.services.media.exists(cached.media_key):
            # The joined file is nobody's row: the retention sweep may have removed it.
            del self._chains[key]
        if key not in self._chains:
            from core.relay_export import make_chain_episode
            self._chains[key] = await make_chain_episode(self.services, view)
        return self._chains[key]

    # -- routes --------------------------------------------------------------------------
    async def home(self, request: Request) -> Response:
        site = self.site(request, "en", listed=True)
        body = pages.render("home.html.j2", site, title="Tessera")
        return http.answer(request, body, http.HTML, listed=True)

    async def robots(self, request: Request) -> Response:
        # Unlisted pages also say noindex themselves; this keeps crawlers off tokens entirely.
        return http.answer(request, "User-agent: *\nDisallow: /p/\n", http.TEXT, listed=True)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return http.not_found()
        return http.answer(request, (STATIC / name).read_bytes(), STATIC_FILES[name], listed=True,
                           cache="public, max-age=3600")

    async def by_token(self, request: Request) -> Response:
        token = request.path_params["token"]
        rest = request.path_params.get("rest", "")
        pub = await self.db(lambda s: pubs.by_token(s, token))
        if pub is None:
            return http.not_found()
        base = pubs.base_of(self.root(request), pub)
        return await self.publication(request, pub, rest, base)

    async def public_relay(self, request: Request) -> Response:
        relay_id = request.path_params["relay_id"]
        pub = await self.db(lambda s: pubs.public_relay(s, relay_id))
        if pub is None:
            return http.not_found()
        base = f"{self.root(request)}/relays/{relay_id}"
        return await self.publication(request, pub, request.path_params.get("rest", ""), base)

    async def network_page(self, request: Request) -> Response:
        network_id = request.path_params["network_id"]
        rest = request.path_params.get("rest", "")
        listed = await self.db(lambda s: [p for p in pubs.of_network(s, network_id)
                                          if p.public and p.kind != pubs.INDEX])
        if not listed:
            return http.not_found()
        site = self.site(request, listed[0].lang, listed=True)
        self_url = f"{self.root(request)}/networks/{network_id}"
        root, media, now = self.root(request), self.services.media, self.services.clock.now()
        built = await self.db(lambda s: pages.index_answer(s, media, network_id, listed, rest,
                                                           root, self_url, site, now))
        return self.respond(request, built, listed=True)

    async def publication(self, request: Request, pub: Publication, rest: str, base: str) -> Response:
        listed = pub.public
        root, media, now = self.root(request), self.services.media, self.services.clock.now()
        if pub.kind == "relay":
            found = await self.db(lambda s: pages.relay_view(s, media, pub, now,
                                                             request.query_params.get("lang")))
            if found is None:
                return http.not_found()
            relay, view = found
            chain = None
            if rest == "feed.xml" or rest.startswith("media/"):
                chain = await self.chain_episode(view)
            built = await run_in_threadpool(pages.relay_answer, media, relay, view, rest, base, chain)
            return self.respond(request, built, listed)
        site = self.site(request, pub.lang, listed)
        if pub.kind == "calendar":
            built = await self.db(lambda s: pages.calendar_answer(s, pub, rest, root, site))
        elif pub.kind == "treasury":
            if rest == "asymmetry.png":
                return await self.chart_png(request, pub, site)
            query = dict(request.query_params)
            built = await self.db(lambda s: pages.treasury_answer(s, pub, rest, site, query,
                                                                  self.chart is not None))
        else:
            everything = await self.db(lambda s: [p for p in pubs.of_network(s, pub.network_id)
                                                  if p.kind != pubs.INDEX])
            built = await self.db(lambda s: pages.index_answer(s, media, pub.network_id, everything,
                                                               rest, root, base, site, now))
        return self.respond(request, built, listed)

    async def chart_png(self, request: Request, pub: Publication, site: pages.Site) -> Response:
        if self.chart is None:
            return http.not_found()
        title = site.t("asymmetry_chart_title")
        from core.storage.treasury import ledger_head
        head = await self.db(lambda s: ledger_head(s, pub.network_id)[1])
        key = (pub.network_id, head + site.lang)
        if key not in self._charts:
            # Drawing takes a while: off the event loop, and once per state of the ledger.
            _, png = await self.db(lambda s: pages.asymmetry_chart(s, pub.network_id, self.chart,
                                                                   title))
            self._charts = {k: v for k, v in self._charts.items() if k[0] != pub.network_id}
            self._charts[key] = png
        return http.answer(request, self._charts[key], http.PNG, listed=pub.public)


def create_app(services, *, chart: ChartRenderer | None = None,
               clock: Callable[[], float] = time.monotonic) -> Starlette:
    """The web application serving what networks published.

    `services` are the suite's (engine, media store, clock, config); `chart(rows, title)` draws
    the treasury's asymmetry chart as PNG (the treasury feature's renderer), and `clock` is the
    monotonic clock of the rate limiter (tests pass their own).
    """
    web = Web(services, chart)
    routes = [
        Route("/", web.home, methods=["GET", "HEAD"]),
        Route("/robots.txt", web.robots, methods=["GET", "HEAD"]),
        Route("/static/{name}", web.static, methods=["GET", "HEAD"]),
        Route("/p/{token}/", web.by_token, methods=["GET", "HEAD"]),
        Route("/p/{token}/{rest:path}", web.by_token, methods=["GET", "HEAD"]),
        Route("/relays/{relay_id:int}/", web.public_relay, methods=["GET", "HEAD"]),
        Route("/relays/{relay_id:int}/{rest:path}", web.public_relay, methods=["GET", "HEAD"]),
        Route("/networks/{network_id:int}/", web.network_page, methods=["GET", "HEAD"]),
        Route("/networks/{network_id:int}/{rest:path}", web.network_page, methods=["GET", "HEAD"]),
    ]
    settings = web_settings(services.config)

    async def missing(request: Request, exc: Exception) -> Response:
        return http.not_found()

    app = Starlette(routes=routes, exception_handlers={404: missing})
    app.state.web = web
    buckets = TokenBuckets(float(settings["rate_per_minute"]), int(settings["burst"]), clock=clock)
    app.add_middleware(RateLimit, buckets=buckets,
                       trust_forwarded=bool(settings["trust_forwarded_for"]))
    app.add_middleware(http.SecurityHeaders)
    return app


__all__ = ["create_app", "web_settings"]
