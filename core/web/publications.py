"""Publishing and unpublishing: the rules for which links exist.

Secure by default: nothing is reachable until a coordinator publishes it, links are long
random tokens (unlisted), and only what is marked public appears on the network's public page.
Every network that publishes anything also gets an "index" publication: the list of its
publications, with one podcast feed of all its published relays.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from core.storage.publish import Publication

KINDS = ("relay", "calendar", "treasury", "index")
INDEX = "index"


def new_token() -> str:
    """A fresh unguessable link token (32 URL-safe characters, 192 bits)."""
    while True:
        token = secrets.token_urlsafe(24)
        # "__" is italic markup: chat messages would mangle a link holding it.
        if "__" not in token:
            return token


def live(session: Session, network_id: int, kind: str, ref_id: int | None = None
         ) -> Publication | None:
    """The current (not revoked) publication of one thing, if any."""
    same_ref = Publication.ref_id == None if ref_id is None else Publication.ref_id == ref_id  # noqa: E711
    return session.exec(select(Publication).where(
        Publication.network_id == network_id, Publication.kind == kind, same_ref,
        Publication.revoked_at == None)).first()  # noqa: E711


def publish(session: Session, network_id: int, kind: str, ref_id: int | None, *, public: bool,
            lang: str, person_id: int | None, now: datetime) -> tuple[Publication, bool]:
    """Publish a thing (or change whether it is public); returns (publication, created).

    Publishing something already published keeps its link: only `public` changes.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown publication kind {kind!r}")
    pub = live(session, network_id, kind, ref_id)
    created = pub is None
    if pub is None:
        pub = Publication(network_id=network_id, kind=kind, ref_id=ref_id, token=new_token(),
                          public=public, lang=lang, created_by=person_id, created_at=now)
    else:
        pub.public = public
    session.add(pub)
    if kind != INDEX and live(session, network_id, INDEX) is None:
        session.add(Publication(network_id=network_id, kind=INDEX, token=new_token(),
                                public=False, lang=lang, created_by=person_id, created_at=now))
    session.flush()
    return pub, created


def unpublish(session: Session, network_id: int, kind: str, ref_id: int | None,
              now: datetime) -> Publication | None:
    """Take a thing off the web; its link stops working. None when it was not published."""
    pub = live(session, network_id, kind, ref_id)
    if pub is not None:
        pub.revoked_at = now
        session.add(pub)
        session.flush()
    return pub


def of_network(session: Session, network_id: int) -> list[Publication]:
    """Every live publication of a network: the index first, then by kind and age."""
    rows = session.exec(select(Publication).where(
        Publication.network_id == network_id, Publication.revoked_at == None)  # noqa: E711
        .order_by(Publication.id)).all()
    return sorted(rows, key=lambda p: (KINDS.index(p.kind) if p.kind in KINDS else 9, p.id))


def by_token(session: Session, token: str) -> Publication | None:
    """The live publication a link points at (None for unknown or revoked links)."""
    if not token or len(token) > 64:
        return None
    return session.exec(select(Publication).where(
        Publication.token == token, Publication.revoked_at == None)).first()  # noqa: E711


def public_relay(session: Session, relay_id: int) -> Publication | None:
    """A relay published as public (so also at its readable address /relays/ID/)."""
    return session.exec(select(Publication).where(
        Publication.kind == "relay", Publication.ref_id == relay_id, Publication.public == True,  # noqa: E712
        Publication.revoked_at == None)).first()  # noqa: E711


@dataclass(frozen=True)
class Link:
    """One address to show a coordinator: what it is and where."""

    what: str  # catalog key under publish.link.*
    url: str
    params: tuple[tuple[str, object], ...] = ()


def base_of(public_url: str, pub: Publication) -> str:
    """The folder of a publication ("https://host/p/TOKEN"; relative without a public URL)."""
    return f"{public_url.rstrip('/')}/p/{pub.token}"


def links_of(public_url: str, pub: Publication, circles: list[tuple[int, str]] = ()) -> list[Link]:
    """The addresses a publication answers at (`circles`: (id, name) for calendars)."""
    base = base_of(public_url, pub)
    if pub.kind == "relay":
        return [Link("dossier", f"{base}/", (("id", pub.ref_id),)),
                Link("feed", f"{base}/feed.xml", (("id", pub.ref_id),))]
    if pub.kind == "calendar":
        out = [Link("calendar_network", f"{base}/network.ics")]
        out += [Link("calendar_circle", f"{base}/circles/{cid}.ics", (("circle", name),))
                for cid, name in circles]
        return out
    if pub.kind == "treasury":
        return [Link("treasury", f"{base}/"), Link("ledger", f"{base}/ledger"),
                Link("verify", f"{base}/verify")]
    return [Link("index", f"{base}/"), Link("index_feed", f"{base}/feed.xml")]
