"""What each published thing shows: pure-ish builders from a session to a page or a file.

They run in a worker thread (the database and the templates are blocking) and reuse the
feature builders: `core.publish` for dossiers and feeds, `core.agenda` for .ics,
`core.ledger`/`core.treasury` for the ledger and its verification.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from sqlmodel import Session, select

from core import i18n, markup
from core.ledger import canonical_bytes, chain_to_csv, chain_to_json
from core.money import Money
from core.publish import render_feed, render_html, render_markdown
from core.publish.feed import ChainEpisode
from core.publish.model import DossierView, Links, media_name
from core.storage.models import Circle, Network
from core.storage.publish import Publication
from core.storage.relay import Relay
from core.timekeeping import format_local
from core.web import http
from core.web.feeds import merge_feeds
from core.web.publications import base_of, links_of

TEMPLATES = Path(__file__).parent / "templates"
_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?")


@dataclass
class Page:
    """A built answer: the body, its media type and when it last changed."""

    body: bytes | str
    media_type: str
    last_modified: datetime | None = None


@dataclass
class File:
    """A stored file to send as it is (with range requests)."""

    path: Path
    media_type: str


@dataclass
class Site:
    """What every page template needs: language, direction, where the static files are."""

    lang: str
    root: str  # the server's path prefix ("" or "/tessera")
    listed: bool
    network: str = ""

    @property
    def rtl(self) -> bool:
        return markup.is_rtl(self.lang)

    def t(self, key: str, /, **params: Any) -> str:
        return i18n.t(self.lang, "publish.web." + key, **params)


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(str(TEMPLATES)),
                       autoescape=select_autoescape(["html", "j2"]),
                       trim_blocks=True, lstrip_blocks=True)


def render(template: str, site: Site, **context: Any) -> str:
    """A page from `templates/`, with `t` (words), `site` and `context`."""
    return _environment().get_template(template).render(site=site, t=site.t, **context)


def money_text(money: Money, lang: str) -> str:
    """"EUR 300.00" as readers of `lang` write it (the locale-free form when Babel can't)."""
    try:
        return money.format(lang, code=True)
    except Exception:  # a language Babel does not know
        return str(money)


def when(instant: datetime | None, lang: str, tz: str = "UTC") -> str:
    """A date for a page ("" for none)."""
    return format_local(instant, tz, lang) if instant else ""


def pick_lang(requested: str | None, fallback: str) -> str:
    """The language asked for in the address (?lang=tr) when it looks like one."""
    if requested and _LANG.fullmatch(requested):
        return requested
    return fallback or "en"


# -- relays ------------------------------------------------------------------------------------

def relay_view(session: Session, media, pub: Publication, now: datetime,
               lang: str | None) -> tuple[Relay, DossierView] | None:
    """The completed relay a publication points at, ready for the publish builders."""
    from core.relay_service import dossier_view

    relay = session.get(Relay, pub.ref_id)
    if relay is None or relay.network_id != pub.network_id or relay.state != "completed":
        return None
    origin = session.get(Circle, relay.origin_circle_id)
    want = pick_lang(lang, origin.language if origin else pub.lang)
    # Built as of the relay's end, so the same relay gives the same bytes (and ETag).
    view = dossier_view(session, relay, want, relay.finished_at or now, media=media)
    # A recording whose file is gone (the network's retention period, an erasure) is shown
    # as words only: no player, no enclosure, no link that would answer 404.
    for report in view.reports:
        for part in report.parts:
            if part.media_key and media is not None and not media.exists(part.media_key):
                part.media_key = None
    # dossier_view keeps only languages with a catalog; the dossier's words then fall back to
    # English, but its translations and direction must still follow the circle's language.
    view.lang = view.lang or want
    return relay, view


def relay_media(view: DossierView, chain: ChainEpisode | None) -> dict[str, tuple[str, str]]:
    """name -> (media key, MIME type) of every file the dossier links to, and nothing else."""
    files = {media_name(p.media_key): (p.media_key, p.mime_type or "application/octet-stream")
             for r in view.reports for p in r.parts if p.media_key}
    if chain is not None:
        files[media_name(chain.media_key)] = (chain.media_key, chain.mime_type)
    return files


def relay_answer(media, relay: Relay, view: DossierView, rest: str, base: str,
                 chain: ChainEpisode | None) -> Page | File | None:
    """The dossier page, its Markdown, its podcast feed, or one of its media files."""
    links = Links(base)
    if rest in ("", "index.html"):
        return Page(render_html(view, links), http.HTML, relay.finished_at)
    if rest == "feed.xml":
        return Page(render_feed(view, links, chain), http.RSS, relay.finished_at)
    if rest == "dossier.md":
        return Page(render_markdown(view, links), http.MARKDOWN, relay.finished_at)
    if rest.startswith("media/"):
        found = relay_media(view, chain).get(rest.removeprefix("media/"))
        if found and media.exists(found[0]):
            return File(media.path(found[0]), found[1])
    return None


# -- calendars ---------------------------------------------------------------------------------

def _circles(session: Session, network_id: int) -> list[Circle]:
    return list(session.exec(select(Circle).where(Circle.network_id == network_id,
                                                  Circle.left_at == None)  # noqa: E711
                             .order_by(Circle.id)).all())


def _stamp(events, fallback: datetime) -> datetime:
    # The calendar's DTSTAMP is its last change, not the request's time: the same calendar
    # gives the same bytes, so its ETag holds and calendar apps re-download only on change.
    return max((e.updated_at for e in events), default=fallback).replace(microsecond=0)


def calendar_answer(session: Session, pub: Publication, rest: str, root: str,
                    site: Site) -> Page | None:
    """The subscription page, the network's .ics, or one circle's .ics."""
    from core import agenda

    net = session.get(Network, pub.network_id)
    if net is None:
        return None
    if rest in ("", "index.html"):
        circles = _circles(session, net.id)
        links = links_of(root, pub, [(c.id, c.name) for c in circles])
        rows = [{"label": site.t("link." + l.what, **dict(l.params)), "url": l.url,
                 "webcal": re.sub(r"^https?://", "webcal://", l.url)} for l in links]
        return Page(render("calendar.html.j2", site, title=site.t("calendar_title", network=net.name),
                           rows=rows), http.HTML)
    if rest == "network.ics":
        stamp = _stamp(agenda.network_events(session, net.id), net.created_at)
        return Page(agenda.export_network(session, net, stamp), http.ICS, stamp)
    m = re.fullmatch(r"circles/(\d+)\.ics", rest)
    if m:
        circle = session.get(Circle, int(m.group(1)))
        if circle is None or circle.network_id != net.id or circle.left_at is not None:
            return None
        stamp = _stamp(agenda.visible_events(session, circle), circle.active_from)
        return Page(agenda.export_circle(session, circle, stamp), http.ICS, stamp)
    return None


# -- the treasury ------------------------------------------------------------------------------

def _at(entry_at: str) -> datetime:
    return datetime.fromisoformat(entry_at.replace("Z", "+00:00"))


def treasury_answer(session: Session, pub: Publication, rest: str, site: Site,
                    query: dict[str, str], chart: bool) -> Page | None:
    """Balances, the ledger (HTML, JSON, CSV), its verification, and the asymmetry report."""
    from core import treasury as svc
    from core.storage.treasury import ledger_head, load_chain

    net = session.get(Network, pub.network_id)
    if net is None:
        return None
    chain = load_chain(session, net.id)
    changed = _at(chain[-1].at) if chain else None
    lang = site.lang
    if rest in ("", "index.html"):
        seq, head = ledger_head(session, net.id)
        balances = [money_text(m, lang) for m in svc.treasury_balances(session, net.id)]
        return Page(render("treasury.html.j2", site, title=site.t("treasury_title", network=net.name),
                           balances=balances, seq=seq, head=head, chart=chart), http.HTML, changed)
    if rest == "ledger":
        rows = [{"seq": e.seq, "kind": e.kind, "at": when(_at(e.at), lang), "iso": e.at,
                 "data": canonical_bytes(e.data).decode("utf-8"), "prev_hash": e.prev_hash,
                 "hash": e.hash} for e in chain]
        return Page(render("ledger.html.j2", site, title=site.t("ledger_title", network=net.name),
                           rows=rows), http.HTML, changed)
    if rest == "ledger.json":
        return Page(chain_to_json(chain), http.JSON, changed)
    if rest == "ledger.csv":
        return Page(chain_to_csv(chain), http.CSV, changed)
    if rest == "verify":
        head = (query.get("head") or "").strip()[:64] or None
        v = svc.verify_ledger(session, net.id, head)
        return Page(render("verify.html.j2", site, title=site.t("verify_title", network=net.name),
                           v=v, asked_head=head, reason=v.result.reason), http.HTML)
    if rest == "asymmetry":
        rows = []
        for r in svc.asymmetry(session, net.id):
            rows.append({
                "name": r.name, "active": r.active,
                "due": money_text(r.pledge_due, lang) if r.pledge_due else "—",
                "contributed": " · ".join(money_text(m, lang) for m in r.contributed) or "0",
                "drawn": " · ".join(money_text(m, lang) for m in r.drawn) or "0",
                "categories": ", ".join(f"{k} {v}" for k, v in sorted(r.draws_by_category.items())) or "—",
                "took": r.ballots_taken_part, "of": r.ballots_eligible})
        return Page(render("asymmetry.html.j2", site, title=site.t("asymmetry_title", network=net.name),
                           rows=rows, chart=chart), http.HTML, changed)
    return None


def asymmetry_chart(session: Session, network_id: int,
                    chart: Callable[[list, str], bytes], title: str) -> tuple[str, bytes]:
    """(ledger head, PNG) of the asymmetry chart, drawn by the treasury's own renderer."""
    from core import treasury as svc
    from core.storage.treasury import ledger_head

    rows = svc.asymmetry(session, network_id)
    return ledger_head(session, network_id)[1], chart(rows, title)


# -- the index ---------------------------------------------------------------------------------

def index_entries(session: Session, pubs: list[Publication], root: str, site: Site) -> list[dict]:
    """What the network publishes, as list items for the index page."""
    out = []
    for p in pubs:
        if p.kind == "relay":
            relay = session.get(Relay, p.ref_id)
            if relay is None or relay.state != "completed":
                continue
            title = site.t("index_relay", id=relay.id, title=relay.title)
            extra = when(relay.finished_at, site.lang)
            circles = []
        elif p.kind == "calendar":
            title, extra = site.t("index_calendar"), ""
            circles = [(c.id, c.name) for c in _circles(session, p.network_id)]
        elif p.kind == "treasury":
            title, extra, circles = site.t("index_treasury"), "", []
        else:
            continue
        links = [{"label": site.t("link." + l.what, **dict(l.params)), "url": l.url}
                 for l in links_of(root, p, circles)]
        out.append({"title": title, "extra": extra, "links": links, "public": p.public})
    return out


def index_answer(session: Session, media, network_id: int, pubs: list[Publication], rest: str,
                 root: str, self_url: str, site: Site, now: datetime) -> Page | None:
    """The list of a network's publications, or one podcast feed of all its relays."""
    net = session.get(Network, network_id)
    if net is None:
        return None
    if rest in ("", "index.html"):
        return Page(render("index.html.j2", site, title=site.t("index_title", network=net.name),
                           entries=index_entries(session, pubs, root, site),
                           feed=f"{self_url}/feed.xml"), http.HTML)
    if rest == "feed.xml":
        feeds, latest = [], None
        for p in pubs:
            if p.kind != "relay":
                continue
            found = relay_view(session, media, p, now, None)
            if found is None:
                continue
            relay, view = found
            feeds.append(render_feed(view, Links(base_of(root, p)), None))
            latest = max(filter(None, (latest, relay.finished_at)), default=None)
        body = merge_feeds(site.t("index_feed_title", network=net.name), f"{self_url}/",
                           site.t("index_feed_description", network=net.name), site.lang,
                           net.name, feeds, latest or net.created_at)
        return Page(body, http.RSS, latest)
    return None
