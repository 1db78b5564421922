"""Publishing on the web: coordinators choose what `tessera serve` shows.

Nothing is on the web until a coordinator publishes it. `/publish relay 3` gives an unlisted
link (a long random token); `/publish relay 3 public` also lists it on the network's public
page. `/unpublish relay 3` stops the link at once. `tessera serve` runs the web server.
"""
from __future__ import annotations

import argparse
import asyncio
import sys

from sqlmodel import select

from core import web
from core.commands import COORDINATOR, IN_CIRCLE, Arg, Feature, Int, choice
from core.storage.models import Circle
from core.storage.relay import Relay
from core.web import publications as pubs
from core.work import Context, Refusal

feature = Feature("publish")

Visibility = choice("unlisted", "public", name="unlisted|public")


def _what(ctx: Context, kind: str, ref_id: int | None) -> str:
    return ctx.tr(f"publish.what_{kind}", id=ref_id)


def _links(ctx: Context, pub) -> list[str]:
    circles = []
    if pub.kind == "calendar":
        circles = [(c.id, c.name) for c in ctx.session.exec(
            select(Circle).where(Circle.network_id == pub.network_id, Circle.left_at == None)  # noqa: E711
            .order_by(Circle.id)).all()]
    return [f"• {ctx.tr('publish.link.' + link.what, **dict(link.params))}: {link.url}"
            for link in pubs.links_of(ctx.services.public_url, pub, circles)]


def _footer(ctx: Context) -> list[str]:
    return [] if ctx.services.public_url else ["", ctx.tr("publish.no_public_url")]


def _visibility(ctx: Context, public: bool) -> str:
    return ctx.tr("publish.visibility_public" if public else "publish.visibility_unlisted")


def _publish(ctx: Context, kind: str, ref_id: int | None, visibility: str | None) -> str:
    net = ctx.require_network()
    public = visibility == "public"
    pub, created = pubs.publish(ctx.session, net.id, kind, ref_id, public=public,
                                lang=ctx.circle.language, person_id=ctx.person.id, now=ctx.now)
    ctx.audit("publish." + kind, ref_id=ref_id, public=public, created=created)
    what = _what(ctx, kind, ref_id)
    head = "publish.published" if created else "publish.republished"
    lines = [ctx.tr(head, what=what, visibility=_visibility(ctx, public))] + _links(ctx, pub)
    index = pubs.live(ctx.session, net.id, pubs.INDEX)
    if index is not None:
        lines += [f"• {ctx.tr('publish.link.' + link.what)}: {link.url}"
                  for link in pubs.links_of(ctx.services.public_url, index)]
    return "\n".join(lines + _footer(ctx))


@feature.command("publish relay", args=[Arg("relay", Int), Arg("visibility", Visibility, required=False)],
                 who=COORDINATOR, where=IN_CIRCLE)
async def publish_relay(ctx: Context, relay: int, visibility: str | None) -> str:
    net = ctx.require_network()
    r = ctx.session.get(Relay, relay)
    if r is None or r.network_id != net.id:
        raise Refusal("publish.relay_not_found", id=relay)
    if r.state != "completed":
        raise Refusal("publish.relay_not_complete", id=relay)
    return _publish(ctx, "relay", r.id, visibility)


@feature.command("publish calendar", args=[Arg("visibility", Visibility, required=False)],
                 who=COORDINATOR, where=IN_CIRCLE)
async def publish_calendar(ctx: Context, visibility: str | None) -> str:
    return _publish(ctx, "calendar", None, visibility)


@feature.command("publish treasury", args=[Arg("visibility", Visibility, required=False)],
                 who=COORDINATOR, where=IN_CIRCLE)
async def publish_treasury(ctx: Context, visibility: str | None) -> str:
    return _publish(ctx, "treasury", None, visibility)


@feature.command("publish list", who=COORDINATOR, where=IN_CIRCLE)
async def publish_list(ctx: Context) -> str:
    net = ctx.require_network()
    found = pubs.of_network(ctx.session, net.id)
    if not [p for p in found if p.kind != pubs.INDEX]:
        return ctx.tr("publish.list_empty")
    lines = [ctx.tr("publish.list_header")]
    for pub in found:
        lines += ["", ctx.tr("publish.list_item", what=_what(ctx, pub.kind, pub.ref_id),
                             visibility=_visibility(ctx, pub.public))] + _links(ctx, pub)
    if any(p.public and p.kind != pubs.INDEX for p in found):
        lines += ["", ctx.tr("publish.public_page",
                             url=f"{ctx.services.public_url}/networks/{net.id}/")]
    return "\n".join(lines + _footer(ctx))


@feature.command("unpublish", args=[Arg("what", choice(*pubs.KINDS)), Arg("relay", Int, required=False)],
                 who=COORDINATOR, where=IN_CIRCLE)
async def unpublish(ctx: Context, what: str, relay: int | None) -> str:
    net = ctx.require_network()
    if what == "relay" and relay is None:
        raise Refusal("publish.relay_missing_id")
    ref_id = relay if what == "relay" else None
    pub = pubs.unpublish(ctx.session, net.id, what, ref_id, ctx.now)
    label = _what(ctx, what, ref_id)
    if pub is None:
        return ctx.tr("publish.not_published", what=label)
    ctx.audit("unpublish." + what, ref_id=ref_id)
    return ctx.tr("publish.unpublished", what=label)


# -- tessera serve ------------------------------------------------------------------------------

def add_cli(sub: argparse._SubParsersAction) -> None:
    """Add `tessera serve [--host H] [--port P]`."""
    s = sub.add_parser("serve", help="serve what networks published on the web (dossiers, "
                                     "podcast feeds, calendars, the treasury)")
    s.add_argument("--host", help="address to listen on (default: [web] host)")
    s.add_argument("--port", type=int, help="port to listen on (default: [web] port)")
    s.set_defaults(func=cmd_serve)


def chart_renderer():
    """The treasury's asymmetry chart renderer (the treasury feature draws it)."""
    try:
        from bots.treasury_words import render_chart
    except ImportError:  # the treasury feature is not installed
        return None
    return render_chart


def cmd_serve(args) -> int:
    """Run `tessera serve` until Ctrl-C."""
    from bots.cli import _config, _secrets
    from core.clock import SystemClock
    from core.logs import setup_logging
    from core.media import MediaStore
    from core.storage import make_engine, upgrade
    from core.work import Services

    cfg = _config(args)
    setup_logging(cfg["tessera"]["log_level"], _secrets(cfg))
    settings = web.web_settings(cfg)
    host, port = args.host or settings["host"], args.port or settings["port"]
    if not 0 < int(port) < 65536:
        print(f"web.port: {port} is not a port number", file=sys.stderr)
        return 2
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(cfg.database_url())
    upgrade(engine)  # the same database as the bots, possibly from another machine
    media = MediaStore(cfg.data_dir / "media",
                       max_bytes=int(cfg["media"]["max_megabytes"] * 1024 * 1024))
    services = Services(engine=engine, clock=SystemClock(), config=cfg, media=media)
    shown = cfg["tessera"]["public_url"] or f"http://{host}:{port}"
    print(f"Tessera serving published pages at {shown} (listening on {host}:{port}). "
          "Ctrl-C stops.", file=sys.stderr)
    try:
        asyncio.run(web.serve(services, host, int(port), chart=chart_renderer()))
    finally:
        engine.dispose()
    return 0
