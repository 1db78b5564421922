"""The action calendar as circles live it: events in local time, RSVPs, reminders, labs."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import select

from core import i18n
from core.storage import unit_of_work
from core.storage.agenda import CalendarEvent, EventRsvp
from core.storage.models import OutboxMessage, Timer
from tests.calendar.conftest import walk, walk_to

NNBSP = "\u202f"
CHICAGO = ("chicago", "Chicago", "US", "America/Chicago", "en")
GAZIANTEP = ("gaziantep", "Gaziantep", "TR", "Europe/Istanbul", "tr")
LAGOS = ("lagos", "Lagos", "NG", "Africa/Lagos", "en")
BERLIN = ("berlin", "Berlin", "DE", "Europe/Berlin", "de")


def U(*parts):
    return datetime(*parts, tzinfo=timezone.utc)


def sent_to(town, chat, platform="console"):
    """Outgoing messages delivered to a chat, in order."""
    return [r[4] for r in town.all_sent() if r[0] == platform and r[1] == chat and not r[2]]


async def test_network_event_reaches_every_circle_in_its_own_time_with_buttons(cal_town):
    town = cal_town
    await town.network(CHICAGO, GAZIANTEP, LAGOS, platform_of={"gaziantep": "alpha"})
    out = await town.say("chicago", "chicago_coord",
                         "/event add Solidarity call 2026-03-14 10:00 duration=90m "
                         "place=Union Hall, 2nd floor scope=network")
    added = next(t for t in out if "Event #1 is in the calendar" in t)
    assert f"Sat, Mar 14, 2026, 10:00{NNBSP}AM CDT" in added  # Chicago is on summer time by then
    assert "📍 Union Hall, 2nd floor" in added
    assert "Reminders: 1 day, 1 hour before" in added
    # Gaziantep (on the platform with buttons) sees 18:00 its time, with the answers as buttons
    msg = sent_to(town, "gaziantep", "alpha")[-1]
    assert i18n.t("tr", "calendar.announce", circle="Chicago") in msg.text  # Turkish words
    assert "New event" not in msg.text
    assert "18:00" in msg.text and "Mar 14" not in msg.text  # Turkish date words
    assert [c.command for c in msg.choices] == ["/event rsvp 1 going", "/event rsvp 1 maybe",
                                                "/event rsvp 1 no"]
    lagos = town.last("lagos")
    assert f"4:00{NNBSP}PM" in lagos and "Sat, Mar 14, 2026" in lagos
    # the event list shows it in Lagos time too
    out = await town.say("lagos", "amaka", "/event list")
    assert "#1 **Solidarity call**" not in out[-1]  # markup is rendered to plain text
    assert "#1 Solidarity call" in out[-1] and f"4:00{NNBSP}PM WAT" in out[-1]


async def test_circle_events_stay_in_their_circle(cal_town):
    town = cal_town
    await town.network(CHICAGO, LAGOS)
    await town.say("lagos", "lagos_coord", "/event add Tenant meeting tomorrow 18:00")
    out = await town.say("chicago", "maria", "/event show 1")
    assert "no event #1" in out[-1]
    out = await town.say("chicago", "maria", "/event rsvp 1 going")
    assert "no event #1" in out[-1]
    out = await town.say("lagos", "amaka", "/event show 1")
    assert "Tenant meeting" in out[-1]


async def test_members_cannot_plan_for_the_whole_network(cal_town):
    town = cal_town
    await town.network(LAGOS)
    out = await town.say("lagos", "amaka", "/event add Big call 2026-03-20 12:00 scope=network")
    assert "Only a coordinator" in out[-1]
    out = await town.say("lagos", "amaka", "/event add Past thing 2026-03-01 12:00")
    assert "already passed" in out[-1]
    out = await town.say("lagos", "amaka", "/event add no date here")
    assert "Write it as: /event add" in out[-1]
    out = await town.say("lagos", "amaka", "/event add Weekly 2026-03-20 12:00 repeat=FREQ=HOURLY")
    assert "repeat rule did not work" in out[-1] and "HOURLY" in out[-1]


async def test_rsvps_count_a_person_with_linked_accounts_once(any_cal_town):
    town = any_cal_town
    await town.network(CHICAGO, LAGOS, platform_of={"lagos": "beta"})
    await town.say("chicago", "chicago_coord", "/event add Assembly 2026-03-20 17:00 scope=network")
    await town.say("chicago", "maria", "/event rsvp 1 going")
    await town.say("chicago", "jo", "/event rsvp 1 maybe")
    await town.wait(timedelta(minutes=5))
    out = await town.say("lagos", "maria_on_beta", "/event rsvp 1 going", platform="beta")
    assert "2 in all" in out[-1]  # two accounts, not yet known to be one person
    # maria links her accounts: from now on she is one person and counts once
    await town.say("chicago", "maria", "/link")
    code = town.direct_to("maria")[-1].split("link code is ")[1].split(".")[0].strip()
    await town.say("lagos", "maria_on_beta", f"/link {code}", platform="beta")
    out = await town.say("chicago", "jo", "/event show 1")
    assert "Answers: 1 going, 1 maybe, 0 not going" in out[-1]
    # her later answer (from Lagos) is the one kept, and it counts for Lagos
    assert "Lagos: 1 going" in out[-1] and "Chicago: 0 going, 1 maybe" in out[-1]
    out = await town.say("chicago", "maria", "/event rsvp 1 no")
    assert "1 maybe" not in out[-1] and "0 in all" in out[-1]
    with unit_of_work(town.app.services.engine) as s:
        rows = s.exec(select(EventRsvp)).all()
        assert sorted(r.answer for r in rows) == ["maybe", "no"]


async def test_reminders_go_to_the_attending_circles_the_day_before_and_the_hour_before(cal_town):
    town = cal_town
    await town.network(CHICAGO, GAZIANTEP, LAGOS)
    await town.say("chicago", "chicago_coord", "/event add Assembly 2026-03-10 12:00 scope=network")
    await town.say("lagos", "amaka", "/event rsvp 1 going")  # Gaziantep does not answer
    start = U(2026, 3, 10, 17, 0)  # 12:00 CDT
    heard = await walk_to(town, start - timedelta(days=1) + timedelta(minutes=1))
    reminders = [t for t in heard if t.startswith("⏰ Reminder")]
    assert len(reminders) == 2  # Chicago (planned it) and Lagos (going)
    assert all("starts in 1 day" in t for t in reminders)
    assert "Lagos: 1 going" in reminders[0]
    assert not [t for t in town.texts("gaziantep") if "Reminder" in t]
    heard = await walk_to(town, start)
    assert len([t for t in heard if "starts in 1 hour" in t]) == 2
    with unit_of_work(town.app.services.engine) as s:
        keys = [r.idempotency_key for r in s.exec(select(OutboxMessage)).all()
                if r.idempotency_key and ":remind:" in r.idempotency_key]
    assert len(keys) == len(set(keys)) == 4


async def test_cancelling_stops_the_reminders(cal_town):
    town = cal_town
    await town.network(CHICAGO, LAGOS)
    await town.say("chicago", "chicago_coord", "/event add Assembly 2026-03-10 12:00 scope=network")
    out = await town.say("lagos", "lagos_coord", "/event cancel 1")
    assert "Only the circle that planned" in out[-1]
    out = await town.say("chicago", "chicago_coord", "/event cancel 1")
    assert "is cancelled" in out[-1]
    assert "is cancelled" in town.last("lagos")
    heard = await walk(town, timedelta(days=10))
    assert not [t for t in heard if "Reminder" in t]


async def test_a_daylight_saving_gap_is_explained(cal_town):
    town = cal_town
    await town.network(BERLIN)
    out = await town.say("berlin", "berlin_coord", "/event add Night shift 2026-03-29 02:30 remind=none")
    # in the circle's language, German: "02:30 gibt es an dem Tag in Europe/Berlin nicht ... 03:30"
    assert i18n.t("de", "calendar.dst_shifted_forward", typed="02:30", tz="Europe/Berlin",
                  shown="03:30") in out[-1]
    with unit_of_work(town.app.services.engine) as s:
        ev = s.exec(select(CalendarEvent)).one()
        assert ev.start_utc == U(2026, 3, 29, 1, 30) and ev.start_note == "shifted_forward"
        assert s.exec(select(Timer)).all() == []  # remind=none: nothing scheduled


async def test_the_quarterly_scenario_lab_keeps_its_map(any_cal_town):
    town = any_cal_town
    await town.network(CHICAGO, LAGOS)
    out = await town.say("chicago", "chicago_coord",
                         "/event add Quarterly scenario lab 2026-03-05 18:00 duration=2h "
                         "repeat=FREQ=MONTHLY;INTERVAL=3 kind=lab scope=network")
    assert "repeats: FREQ=MONTHLY;INTERVAL=3" in out[-1]
    await town.say("lagos", "amaka", "/event rsvp 1 going")
    heard = await walk_to(town, U(2026, 3, 6, 0, 1))  # 18:00 CST in Chicago
    opened = [t for t in heard if "scenario lab “Quarterly scenario lab” (#1) has begun" in t]
    assert len(opened) == 2  # Chicago hosts, Lagos is going
    await town.say("lagos", "amaka", "/lab dilemma Do we accept the landlord's buyout offer?")
    await town.say("chicago", "maria", "/lab gains 1 tenants who want to leave anyway")
    await town.say("lagos", "tunde", "/lab pays 1 tenants who stay: rents rise")
    await town.say("lagos", "tunde", "/lab pays 1 the neighbourhood")
    out = await town.say("lagos", "tunde", "/lab pays 2 nobody")
    assert "no dilemma number 2" in out[-1]
    heard = await walk(town, timedelta(hours=2))  # the lab ends with the event
    maps = [t for t in heard if t.startswith("The scenario lab is over")]
    assert len(maps) == 2
    assert ("1 | Do we accept the landlord's buyout offer? | tenants who want to leave anyway | "
            "tenants who stay: rents rise; the neighbourhood") in maps[0]
    csv_att = sent_to(town, "lagos")[-1].attachments[0]
    csv_text = town.app.services.media.get(csv_att.path).decode()
    assert csv_text.splitlines()[0] == "number,Dilemma,Who gains,Who pays"
    # kept for later, and the next lab (June) is already planned
    out = await town.say("lagos", "amaka", "/lab map 1")
    assert "tenants who stay: rents rise" in out[-1]
    out = await town.say("lagos", "amaka", "/lab dilemma too late")
    assert "No scenario lab is open" in out[-1]
    out = await town.say("chicago", "maria", "/event list")
    assert "Fri, Jun 5, 2026" in out[-1]
    with unit_of_work(town.app.services.engine) as s:
        keys = {t.key for t in s.exec(select(Timer).where(Timer.state == "pending")).all()}
    assert "event:1:20260605T2300Z:start" in keys  # 18:00 CDT on 5 June


async def test_a_lab_opened_by_hand(cal_town):
    town = cal_town
    await town.network(LAGOS)
    out = await town.say("lagos", "lagos_coord", "/lab start Rent strike scenarios")
    assert "Scenario lab #1" in out[-1]
    out = await town.say("lagos", "lagos_coord", "/lab start again")
    assert "already open" in out[-1]
    await town.say("lagos", "amaka", "/lab dilemma Strike in winter?")
    await town.say("lagos", "amaka", "/lab gains 1 the landlord, if we freeze")
    out = await town.say("lagos", "amaka", "/lab end")
    assert "Only this circle's coordinators" in out[-1]
    out = await town.say("lagos", "lagos_coord", "/lab end")
    assert "1 | Strike in winter? | the landlord, if we freeze | —" in out[-1]
    out = await town.say("lagos", "amaka", "/lab list")
    assert "#1 Rent strike scenarios" in out[-1] and "1 dilemma" in out[-1]
