"""Calendars at subscription addresses: the network's and each circle's, read by icalendar
as a calendar app would, kept current as events change."""
from __future__ import annotations

from datetime import datetime, timezone

from icalendar import Calendar

from tests.web.conftest import publish_cmd, url_of


def summaries(raw: bytes) -> list[str]:
    return sorted(str(ev["SUMMARY"]) for ev in Calendar.from_ical(raw).walk("VEVENT"))


async def test_network_and_circle_calendars_parse_and_stay_current(lived, web):
    out = await publish_cmd(lived, "chicago", "/publish calendar")
    network = url_of(out, "the whole network's calendar")
    beirut = url_of(out, "calendar of Beirut")
    chicago = url_of(out, "calendar of Chicago")

    whole = await web.get(network)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "text/calendar; charset=utf-8"
    assert summaries(whole.content) == ["Solidarity call", "[Beirut] Tenant meeting"]
    call = next(ev for ev in Calendar.from_ical(whole.content).walk("VEVENT")
                if str(ev["SUMMARY"]) == "Solidarity call")
    assert call["DTSTART"].dt == datetime(2026, 3, 14, 15, 0, tzinfo=timezone.utc)
    assert summaries((await web.get(beirut)).content) == ["Solidarity call", "Tenant meeting"]
    assert summaries((await web.get(chicago)).content) == ["Solidarity call"]

    # Asked again unchanged: the same bytes, so the app's copy is current (304).
    same = await web.get(network, headers={"If-None-Match": whole.headers["etag"]})
    assert same.status_code == 304
    # An event is cancelled: the subscription shows it at the next refresh.
    await lived.say("beirut", "beirut_coord", "/event cancel 2")
    changed = await web.get(network, headers={"If-None-Match": whole.headers["etag"]})
    assert changed.status_code == 200 and summaries(changed.content) == ["Solidarity call"]


async def test_the_subscription_page_offers_webcal_links_in_the_circles_language(lived, web):
    out = await publish_cmd(lived, "beirut", "/publish calendar")
    page = await web.get(url_of(out, "the whole network's calendar").rsplit("/", 1)[0] + "/")
    assert page.status_code == 200
    assert '<html lang="ar" dir="rtl">' in page.text  # published from Beirut
    assert 'href="webcal://testserver/p/' in page.text
    assert "<caption>" in page.text and 'scope="col"' in page.text


async def test_unpublished_and_foreign_calendars_are_not_found(lived, web):
    out = await publish_cmd(lived, "chicago", "/publish calendar")
    network = url_of(out, "the whole network's calendar")
    base = network.rsplit("/", 1)[0]
    assert (await web.get(f"{base}/circles/99.ics")).status_code == 404
    assert (await web.get(f"{base}/circles/1.txt")).status_code == 404
    await publish_cmd(lived, "chicago", "/unpublish calendar")
    assert (await web.get(network)).status_code == 404
    assert (await web.get(url_of(out, "calendar of Beirut"))).status_code == 404


async def test_publishing_works_alike_on_sqlite_and_postgresql(tmp_path, database_url, clock):
    from tests.web.conftest import BEIRUT, CHICAGO, client_for, start_town

    town = await start_town(tmp_path, database_url, clock)
    try:
        await town.network(CHICAGO, BEIRUT)
        await town.say("chicago", "chicago_coord", "/event add Picket 2026-03-14 10:00")
        out = await publish_cmd(town, "chicago", "/publish calendar public")
        async with client_for(town) as web:
            ics = await web.get(url_of(out, "calendar of Chicago"))
            assert summaries(ics.content) == ["Picket"]
            assert "Action calendars" in (await web.get("/networks/1/")).text
            await publish_cmd(town, "chicago", "/unpublish calendar")
            assert (await web.get(url_of(out, "calendar of Chicago"))).status_code == 404
            assert (await web.get("/networks/1/")).status_code == 404
    finally:
        await town.stop()
