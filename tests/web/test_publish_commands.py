"""Coordinators decide what is on the web: nothing before they publish, nothing after they
unpublish, and a leaked link can be replaced."""
from __future__ import annotations

from sqlmodel import select

from core import markup
from core.storage import unit_of_work
from core.web import publications
from core.storage.publish import Publication
from tests.web.conftest import publish_cmd, url_of


async def test_nothing_is_published_until_a_coordinator_publishes(lived, web):
    assert (await web.get("/networks/1/")).status_code == 404
    assert (await web.get("/relays/1/")).status_code == 404
    out = await publish_cmd(lived, "chicago", "/publish list")
    assert "Nothing is published" in out
    with unit_of_work(lived.app.services.engine) as s:
        assert s.exec(select(Publication)).all() == []


async def test_only_coordinators_publish(lived):
    out = "\n".join(await lived.say("chicago", "maria", "/publish relay 1"))
    assert "Only this circle's coordinators" in out
    out = "\n".join(await lived.say("chicago", "maria", "/unpublish relay 1"))
    assert "Only this circle's coordinators" in out


async def test_a_relay_is_published_with_an_unlisted_link_and_unpublished(lived, web):
    out = await publish_cmd(lived, "chicago", "/publish relay 1")
    assert "Published relay #1 (unlisted: only people with the link)" in out
    assert "tessera.public_url" in out  # no public address configured: paths are relative
    dossier = url_of(out, "dossier of relay #1")
    token = dossier.split("/")[2]
    assert len(token) == 32  # secrets.token_urlsafe(24)
    assert (await web.get(dossier)).status_code == 200
    index = url_of(out, "index of everything published")
    page = await web.get(index)
    assert page.status_code == 200 and "Relay #1: Night shift" in page.text

    # Still not on the network's public page: it is unlisted.
    assert (await web.get("/networks/1/")).status_code == 404
    assert (await web.get("/relays/1/")).status_code == 404

    out = await publish_cmd(lived, "beirut", "/unpublish relay 1")
    assert "Taken off the web: relay #1" in out
    for path in (dossier, dossier + "feed.xml", dossier + "dossier.md"):
        assert (await web.get(path)).status_code == 404
    assert "Relay #1" not in (await web.get(index)).text

    # Publishing again makes a new link; the old one stays dead.
    again = url_of(await publish_cmd(lived, "chicago", "/publish relay 1"), "dossier of relay #1")
    assert again != dossier
    assert (await web.get(again)).status_code == 200
    assert (await web.get(dossier)).status_code == 404


async def test_public_relays_appear_on_the_networks_public_page(lived, web):
    out = await publish_cmd(lived, "chicago", "/publish relay 1 public")
    assert "(public)" in out
    page = await web.get("/networks/1/")
    assert page.status_code == 200 and "Relay #1: Night shift" in page.text
    assert "noindex" not in page.text and "x-robots-tag" not in page.headers
    alias = await web.get("/relays/1/index.html")
    assert alias.status_code == 200 and "http://testserver/relays/1/feed.xml" in alias.text
    # Making it unlisted again keeps the link but takes it off the public page.
    out = await publish_cmd(lived, "chicago", "/publish relay 1 unlisted")
    assert "Already published: relay #1" in out
    assert (await web.get("/networks/1/")).status_code == 404
    assert (await web.get(url_of(out, "dossier of relay #1"))).status_code == 200


async def test_unfinished_or_foreign_relays_cannot_be_published(town):
    await town.say("chicago", "chicago_coord", "/relay start Rent chicago,beirut 24h")
    out = await publish_cmd(town, "chicago", "/publish relay 1")
    assert "not complete yet" in out
    out = await publish_cmd(town, "chicago", "/publish relay 7")
    assert "no relay #7" in out


async def test_publish_list_shows_every_link_with_the_public_url(tmp_path, sqlite_url, clock):
    from tests.web.conftest import BEIRUT, CHICAGO, run_relay, start_town

    town = await start_town(tmp_path, sqlite_url, clock, public_url="https://pages.example.net")
    try:
        await town.network(CHICAGO, BEIRUT)
        await town.say("beirut", "beirut_coord", "/lang en")
        await run_relay(town)
        await publish_cmd(town, "chicago", "/publish relay 1 public")
        await publish_cmd(town, "beirut", "/publish calendar")
        await publish_cmd(town, "chicago", "/publish treasury")
        out = await publish_cmd(town, "chicago", "/publish list")
        assert "tessera.public_url" not in out
        assert url_of(out, "dossier of relay #1").startswith("https://pages.example.net/p/")
        assert url_of(out, "calendar of Beirut").endswith("/circles/2.ics")
        assert url_of(out, "the whole network's calendar").endswith("/network.ics")
        assert url_of(out, "ledger verification").endswith("/verify")
        assert "Public page of the network: https://pages.example.net/networks/1/" in out
        out = await publish_cmd(town, "chicago", "/unpublish calendar")
        assert "Taken off the web: the calendars" in out
        out = await publish_cmd(town, "chicago", "/unpublish calendar")
        assert "is not published" in out
    finally:
        await town.stop()


def test_link_tokens_never_hold_italic_markup(monkeypatch):
    # "__" in a token would pair with the next "__" and turn part of the links into italics.
    drawn = iter(["abc__defghijklmnopqrstuvwxyz0123", "abc_defghijklmnopqrstuvwxyz01234"])
    monkeypatch.setattr(publications.secrets, "token_urlsafe", lambda n: next(drawn))
    token = publications.new_token()
    assert token == "abc_defghijklmnopqrstuvwxyz01234"
    links = f"/p/{token}/\n/p/{token}/feed.xml"
    assert markup.to_plain(links) == links
