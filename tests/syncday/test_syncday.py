"""Synchronized days of action, as circles in many time zones live them.

Kickoff instants were worked out by hand (see tests/core/test_timekeeping.py): on Sunday
29 March 2026 Berlin and London move to summer time at 01:00 UTC; Chicago and St John's moved
on 8 March; Adelaide is still on summer time (+10:30); Kolkata +5:30, Kathmandu +5:45.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import select

from core import i18n
from core.markup import to_plain
from core.messages import Attachment
from core.storage import unit_of_work
from core.storage.models import Circle, OutboxMessage
from core.storage.syncday import SyncDay, SyncDayCircle, SyncDayPhoto
from core.timekeeping import format_countdown
from tests.calendar.conftest import start_town, walk, walk_to

NNBSP = "\u202f"


def U(*parts):
    return datetime(*parts, tzinfo=timezone.utc)


WORLD = (
    ("berlin", "Berlin", "DE", "Europe/Berlin", "de"),
    ("london", "London", "GB", "Europe/London", "en"),
    ("chicago", "Chicago", "US", "America/Chicago", "en"),
    ("lagos", "Lagos", "NG", "Africa/Lagos", "en"),
    ("gaziantep", "Gaziantep", "TR", "Europe/Istanbul", "tr"),
    ("kolkata", "Kolkata", "IN", "Asia/Kolkata", "en"),
    ("kathmandu", "Kathmandu", "NP", "Asia/Kathmandu", "xx"),  # no translation model for "xx"
    ("adelaide", "Adelaide", "AU", "Australia/Adelaide", "en"),
    ("st_johns", "St_Johns", "CA", "America/St_Johns", "en"),
)
NOON_KICKOFFS = {  # 12:00 local on 29 March 2026, in UTC
    "berlin": U(2026, 3, 29, 10, 0), "london": U(2026, 3, 29, 11, 0),
    "chicago": U(2026, 3, 29, 17, 0), "lagos": U(2026, 3, 29, 11, 0),
    "gaziantep": U(2026, 3, 29, 9, 0), "kolkata": U(2026, 3, 29, 6, 30),
    "kathmandu": U(2026, 3, 29, 6, 15), "adelaide": U(2026, 3, 29, 1, 30),
    "st_johns": U(2026, 3, 29, 14, 30),
}


LANG = {chat: lang for chat, *_, lang in WORLD}
NAME = {chat: chat.capitalize() for chat, *_ in WORLD}  # a circle is named after its chat's title


def said(lang: str, key: str, **params) -> str:
    """The plain text of a catalog message in `lang`, up to its first placeholder left unfilled."""
    return to_plain(i18n.t(lang, key, **params)).split("{")[0]


def kickoffs(town, chat: str) -> list[str]:
    """The kickoff messages a circle got, recognised by the words of its own language."""
    start = said(LANG[chat], "syncday.kickoff", target="Amazon", circle=NAME[chat])
    return [t for t in town.texts(chat) if start in t]


def rows_by_chat(town):
    with unit_of_work(town.app.services.engine) as s:
        return {c.chat_id: r for r, c in s.exec(
            select(SyncDayCircle, Circle).join(Circle, Circle.id == SyncDayCircle.circle_id)).all()}


def keys(town, part: str) -> list[str]:
    with unit_of_work(town.app.services.engine) as s:
        return [r.idempotency_key for r in s.exec(select(OutboxMessage)).all()
                if r.idempotency_key and part in r.idempotency_key]


def photo(town, colour: bytes = b"red") -> Attachment:
    data = b"\x89PNG\r\n\x1a\n" + colour * 20
    key = town.app.services.media.put(data, "image/png")
    return Attachment("image", "image/png", len(data), "photo.png", path=key)


async def test_a_wave_of_noon_kickoffs_across_nine_time_zones(cal_town):
    town = cal_town
    town.clock.set(U(2026, 3, 20, 9, 0))
    await town.network(*WORLD)
    out = await town.say("berlin", "berlin_coord",
                         "/syncday declare Amazon 2026-03-29 12:00 same_local_hour")
    # Berlin speaks German: "Aktionstag #1 gegen Amazon am 2026-03-29: eine Welle: 12:00 Ortszeit ..."
    assert said("de", "syncday.declared", id=1, target="Amazon", date="2026-03-29",
                mode=i18n.t("de", "syncday.mode_same_local_hour", at="12:00")) in out[-1]
    assert i18n.t("de", "syncday.declared_joined") in out[-1]
    invite = town.log[-2][4] if town.log[-2][1] != "berlin" else town.log[-3][4]
    assert invite.choices[0].command == "/syncday join 1"
    await town.say("berlin", "berlin_coord", "/syncday message 1 Gemeinsam legen wir die Arbeit nieder.")
    for chat, *_ in WORLD[1:]:
        out = await town.say(chat, f"{chat}_coord", "/syncday join 1")
        assert said(LANG[chat], "syncday.joined", circle=NAME[chat], target="Amazon", id=1) in out[-1], chat
    assert f"Kickoff here: Sun, Mar 29, 2026, 12:00{NNBSP}PM CDT" in town.texts("chicago")[-1]
    await town.say("chicago", "chicago_coord", "/syncday adapt 1 We meet at the MDW2 gate.")
    out = await town.say("chicago", "chicago_coord", "/syncday join 1")
    assert "already takes part" in out[-1]

    # the countdown: a week before and a day before, in every circle
    await walk_to(town, U(2026, 3, 29, 0, 0))
    for chat, *_ in WORLD:
        countdowns = [t for t in town.texts(chat) if t.startswith("⏳")]
        assert len(countdowns) == 2, chat
        for text, days in zip(countdowns, (7, 1)):
            lang = LANG[chat]
            assert text.startswith(said(lang, "syncday.countdown", target="Amazon", id=1,
                                        left=format_countdown(timedelta(days=days), lang))), chat
    assert "⏳ 7 days to go" in town.texts("chicago")[-2]
    assert said("de", "syncday.countdown", left="1 Tag", target="Amazon") in town.texts("berlin")[-1]

    # the kickoffs, each at its own noon
    await walk_to(town, U(2026, 3, 30, 0, 0))
    rows = rows_by_chat(town)
    assert {chat: r.kickoff_sent_at for chat, r in rows.items()} == NOON_KICKOFFS
    assert {r.kickoff_state for r in rows.values()} == {"sent"}
    for chat, *_ in WORLD:
        assert len(kickoffs(town, chat)) == 1, chat
        assert len([t for t in town.texts(chat) if t.startswith("⏳")]) == 3, chat
    chicago = next(t for t in town.texts("chicago") if "Kickoff!" in t)
    assert chicago.startswith("🤖 Tessera (the bot):")
    assert f"starts now in Chicago: Sun, Mar 29, 2026, 12:00{NNBSP}PM CDT" in chicago
    assert ("📣 Shared message from the coordinators (machine-translated from German; the original "
            "may say it better):\n[de>en] Gemeinsam legen wir die Arbeit nieder.") in chicago
    assert "✊ Chicago's own words (written by this circle):\nWe meet at the MDW2 gate." in chicago
    berlin = kickoffs(town, "berlin")[0]
    assert berlin.startswith(to_plain(i18n.t("de", "syncday.bot_label")))
    assert "So., 29. März 2026, 12:00 MESZ" in berlin  # summer time since this very night
    assert (to_plain(i18n.t("de", "syncday.shared_label_original", source="Deutsch"))
            + "\nGemeinsam legen wir") in berlin
    assert said("de", "syncday.own_label", circle="Berlin") not in berlin  # Berlin wrote none
    kathmandu = next(t for t in town.texts("kathmandu") if "Kickoff!" in t)  # "xx": English words
    assert "no translation model is installed" in kathmandu and "\nGemeinsam legen" in kathmandu
    assert "12:00" in kathmandu and "GMT+05:45" in kathmandu
    for chat, *_ in WORLD:
        assert said(LANG[chat], "syncday.checkin_question", circle=NAME[chat], id=1) in town.last(chat), chat

    # check-ins, one with photos; the summary comes with the last one
    for i, (chat, *_) in enumerate(WORLD):
        attachments = [photo(town, b"a"), photo(town, b"b")] if chat == "lagos" else []
        out = await town.say(chat, f"{chat}_coord",
                             f"/syncday checkin 1 turnout={10 + i} outcome=Picket at the gate, {chat}",
                             attachments=attachments)
        assert any(said(LANG[chat], "syncday.checked_in", circle=NAME[chat], id=1) in t for t in out), chat
    out = await town.say("lagos", "amaka", "", attachments=[photo(town, b"c")])
    assert "1 photo added to sync day #1 (3 from this circle)" in out[-1]
    summaries = {r[1]: r for r in town.all_sent() if not r[2] and r[1] in LANG and r[3].startswith(
        said(LANG[r[1]], "syncday.summary_header", id=1, target="Amazon"))}
    assert sorted(summaries) == sorted(LANG)  # one summary in every circle, in its language
    total = sum(range(10, 19))
    assert (to_plain(i18n.t("de", "syncday.summary_total", total=total, reported=9, count=9))
            in summaries["berlin"][3])
    text, msg = summaries["chicago"][3], summaries["chicago"][4]
    assert "Chicago (Chicago): kickoff 12:00 CDT — turnout 12 · Picket at the gate, chicago" in text
    assert "Lagos (Lagos): kickoff 12:00 WAT — turnout 13 · Picket at the gate, lagos · 2 photos" in text
    assert "Kathmandu (Kathmandu): kickoff 12:00 +0545" in text
    assert f"Together: {total} people, 9 of 9 circles reported." in text
    chart = msg.attachments[0]
    assert chart.kind == "image" and town.app.services.media.get(chart.path)[:4] == b"\x89PNG"
    with unit_of_work(town.app.services.engine) as s:
        assert len(s.exec(select(SyncDayPhoto)).all()) == 3
    # the deadline passes: nothing is said twice
    await walk(town, timedelta(days=2))
    assert len(keys(town, ":summary:")) == len(WORLD)
    assert len(keys(town, ":kickoff:sent")) == len(WORLD)


async def test_a_kickoff_inside_the_spring_forward_gap_says_it_moved(cal_town):
    town = cal_town
    town.clock.set(U(2026, 3, 27, 9, 0))
    await town.network(WORLD[0], WORLD[1])
    out = await town.say("berlin", "berlin_coord",
                         "/syncday declare Night_shift_walkout 2026-03-29 02:30 same_local_hour")
    out = await town.say("london", "london_coord", "/syncday join 1")
    assert "Clock change" not in out[-1]  # 02:30 BST exists
    out = await town.say("berlin", "berlin_coord", "/syncday status 1")
    # in German: "02:30 gibt es an dem Tag in Europe/Berlin nicht ..., deshalb verschiebt sich ..."
    moved = said("de", "syncday.dst_shifted_forward", typed="02:30", tz="Europe/Berlin")
    assert moved in out[-1]
    await walk_to(town, U(2026, 3, 29, 2, 0))
    berlin = next(t for t in town.texts("berlin")
                  if said("de", "syncday.kickoff", target="Night_shift_walkout", circle="Berlin") in t)
    assert "So., 29. März 2026, 03:30 MESZ" in berlin and moved in berlin
    rows = rows_by_chat(town)
    assert rows["berlin"].kickoff_sent_at == rows["london"].kickoff_sent_at == U(2026, 3, 29, 1, 30)


async def test_same_instant_is_one_moment_shown_locally(cal_town):
    town = cal_town
    await town.network(WORLD[2], WORLD[7])
    await town.say("chicago", "chicago_coord",
                   "/syncday declare Acme 2026-03-29 16:00 same_instant tz=UTC countdown=1d")
    out = await town.say("adelaide", "adelaide_coord", "/syncday join 1")
    assert f"Mon, Mar 30, 2026, 2:30{NNBSP}AM ACDT" in out[-1]
    await walk_to(town, U(2026, 3, 30))
    rows = rows_by_chat(town)
    assert {r.kickoff_sent_at for r in rows.values()} == {U(2026, 3, 29, 16, 0)}
    assert len([t for t in town.texts("adelaide") if t.startswith("⏳")]) == 1  # countdown=1d


async def test_restart_in_the_middle_of_the_countdown_loses_and_doubles_nothing(
        tmp_path, database_url, clock):
    # (on SQLite and on PostgreSQL)
    three = (WORLD[2], WORLD[4], WORLD[3])  # Chicago, Gaziantep, Lagos
    town = await start_town(tmp_path, database_url, clock)
    await town.network(*three)
    await town.say("chicago", "chicago_coord",
                   "/syncday declare Amazon 2026-03-12 10:00 same_local_hour")
    for chat in ("gaziantep", "lagos"):
        await town.say(chat, f"{chat}_coord", "/syncday join 1")
    await walk_to(town, U(2026, 3, 9, 0, 0))  # after the week-before announcements
    before = list(town.all_sent())
    await town.stop()

    town = await start_town(tmp_path, database_url, clock)  # a new process, same database
    try:
        await walk_to(town, U(2026, 3, 14, 0, 0))
        after = list(town.all_sent())
        for chat in ("chicago", "gaziantep", "lagos"):
            heard = [r[3] for r in before + after if r[1] == chat]
            # a week, a day and an hour before (in the circle's language: "7 gün" in Turkish)
            assert [t.split()[1] for t in heard if t.startswith("⏳")] == ["7", "1", "1"], chat
            lang = LANG[chat]
            kickoff = said(lang, "syncday.kickoff", target="Amazon", circle=NAME[chat])
            late = said(lang, "syncday.kickoff_late")
            assert len([t for t in heard if kickoff in t]) == 1, chat
            assert not [t for t in heard if kickoff in t and late in t], chat
            question = said(lang, "syncday.checkin_question", circle=NAME[chat], id=1)
            assert len([t for t in heard if t.startswith(question)]) == 1, chat
        assert len(keys(town, ":countdown:")) == 9
        with unit_of_work(town.app.services.engine) as s:
            assert not s.exec(select(OutboxMessage).where(OutboxMessage.state != "sent")).all()
            assert s.exec(select(SyncDay)).one().summary_at is not None  # the deadline passed
    finally:
        await town.stop()


async def test_kickoffs_missed_while_down_are_sent_late_or_reported_missed(
        tmp_path, sqlite_url, clock):
    town = await start_town(tmp_path, sqlite_url, clock)
    await town.network(WORLD[0], WORLD[3])  # Berlin 10:00 CEST = 08:00 UTC, Lagos 09:00 UTC
    clock.set(U(2026, 3, 20, 9, 0))
    await town.say("berlin", "berlin_coord", "/syncday declare Amazon 2026-03-29 10:00 same_local_hour")
    await town.say("lagos", "lagos_coord", "/syncday join 1")
    await walk_to(town, U(2026, 3, 29, 6, 30))
    await town.stop()
    clock.set(U(2026, 3, 29, 9, 30))  # down for three hours; the grace is one hour

    town = await start_town(tmp_path, sqlite_url, clock)
    try:
        heard = await town.wait(timedelta(0))
        lagos = [t for t in heard if "Kickoff!" in t]
        assert len(lagos) == 1 and "Late: this comes 30 minutes after the planned moment" in lagos[0]
        # Berlin is told in German, date and duration included
        missed = to_plain(i18n.t("de", "syncday.kickoff_missed", target="Amazon", id=1,
                                 kickoff="So., 29. März 2026, 10:00 MESZ", late="1 Stunde 30 Minuten"))
        assert "1 Stunde 30 Minuten" in missed and "10:00 MESZ" in missed
        assert town.texts("berlin").count(missed) == 1
        assert not kickoffs(town, "berlin")
        # ...and its coordinator privately, in the circle's language (no /lang of their own)
        assert any("wurde verpasst" in t for t in town.direct_to("berlin_coord"))
        assert not [t for t in heard if t.startswith("⏳")]  # stale countdowns are not said
        await walk(town, timedelta(days=2))
        rows = rows_by_chat(town)
        assert (rows["berlin"].kickoff_state, rows["lagos"].kickoff_state) == ("missed", "late")
        summary = next(t for t in town.texts("lagos") if t.startswith("Summary"))
        assert "kickoff 10:00 CEST missed" in summary and "kickoff 10:00 WAT, sent 30 minutes late" in summary
        assert len(keys(town, ":kickoff:sent")) == 2
    finally:
        await town.stop()


async def test_who_may_do_what(cal_town):
    town = cal_town
    await town.network(WORLD[2], WORLD[3])
    out = await town.say("chicago", "maria", "/syncday declare Amazon 2026-03-12 10:00 same_local_hour")
    assert "Only this circle's coordinators" in out[-1]
    out = await town.say("chicago", "chicago_coord", "/syncday declare Amazon 2026-03-12 10:00 whenever")
    assert "not one of" in out[-1]
    await town.say("chicago", "chicago_coord", "/syncday declare Amazon 2026-03-12 10:00 same_local_hour")
    out = await town.say("lagos", "lagos_coord", "/syncday message 1 hello")
    assert "Only the circle that declared" in out[-1]
    out = await town.say("lagos", "lagos_coord", "/syncday adapt 1 hello")
    assert "does not take part" in out[-1]
    out = await town.say("chicago", "maria", "/syncday checkin 1 turnout=3")
    assert "after your kickoff" in out[-1]
    await town.say("lagos", "lagos_coord", "/syncday join 1")
    out = await town.say("chicago", "chicago_coord", "/syncday cancel 1")
    assert "called off" in out[-1] and "called off" in town.last("lagos")
    heard = await walk(town, timedelta(days=12))
    assert not [t for t in heard if "Kickoff" in t or t.startswith("⏳")]
    out = await town.say("lagos", "amaka", "/syncday list")
    assert "#1 Amazon — 2026-03-12" in out[-1] and "(called off)" in out[-1]
