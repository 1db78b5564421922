"""Synchronized days of action: one target, one date, every circle at once or in a wave.

A coordinator declares the day (`/syncday declare Amazon 2026-03-29 10:00 same_local_hour`),
writes the shared message (`/syncday message`), circles opt in (`/syncday join`) and write
their own words (`/syncday adapt`). The bot counts down, kicks off each circle at its moment
(late with a clear mark within the scheduler's grace, reported as missed beyond it), asks for
a check-in (turnout, outcome, photos) and posts a summary with a timeline chart.

Kickoff messages mark whose words are whose: the bot's own lines, the coordinators' shared
message (machine-translated, and said so) and the circle's own adaptation.
"""
from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

from functools import lru_cache

from sqlalchemy import bindparam
from sqlmodel import select

from core import i18n
from core import syncdays as svc
from core.circles import active_circles
from core.clock import utc
from core.commands import (
    COORDINATOR, MEMBER, Arg, Feature, PositiveInt, Text, choice,
)
from core.messages import Attachment, Choice, Outgoing
from core.storage.models import Circle, Timer
from core.storage.snapshot import snapshots
from core.storage.syncday import SyncDay, SyncDayCircle
from core.syncdays import SyncDayProblem
from core.timekeeping import format_countdown, format_local
from core.work import Context, Refusal, Work
from bots.calendar_feature import parse_day, parse_hour, raw_words, split_spec

feature = Feature("syncday")
feature.on_person_merge(svc.merge_person)
feature.on_person_export(svc.person_data)
feature.on_circle_export(svc.circle_data)


@feature.on_person_erase
def _erase_person(work: Work, person_id: int) -> None:
    """Their check-in notes and photos go (files too, unless shared with something kept)."""
    from core.retention import release
    release(work.session, work.services.media, svc.erase_person(work.session, person_id))

LATE_MARK = timedelta(minutes=2)  # a kickoff later than this says it is late
PHOTO_WINDOW = timedelta(hours=6)  # photos sent this long after a check-in join it
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\+\d+d|today|tomorrow)$", re.I)


def _problem(err: SyncDayProblem) -> Refusal:
    return Refusal(err.key, **err.params)


def _day(ctx: Context, syncday_id: int) -> SyncDay:
    sd = ctx.session.get(SyncDay, syncday_id)
    if sd is None or ctx.network is None or sd.network_id != ctx.network.id:
        raise Refusal("syncday.no_such_day", id=syncday_id)
    return sd


def _mode_text(sd: SyncDay, lang: str) -> str:
    at = sd.at.strftime("%H:%M")
    if sd.mode == "same_instant":
        return i18n.t(lang, "syncday.mode_same_instant", at=at, tz=sd.instant_tz)
    return i18n.t(lang, "syncday.mode_same_local_hour", at=at)


def _dst_note(note: str, sd: SyncDay, kickoff: datetime, tz: str, lang: str) -> str:
    if note == "ok":
        return ""
    return i18n.t(lang, f"syncday.dst_{note}", typed=sd.at.strftime("%H:%M"),
                  shown=format_local(kickoff, tz, lang), tz=tz if sd.mode == "same_local_hour"
                  else sd.instant_tz)


async def translate_core(translator, text: str, source: str, target: str) -> tuple[str, str]:
    """The shared message in `target`: (text, how) with how = original, machine or missing."""
    if not text or source == target:
        return text, "original"
    if translator is None:
        return text, "missing"
    result = await translator.translate(text, source, target)
    if result.translated:
        return result.text, "machine"
    return text, "missing"


def _shared_block(sd: SyncDay, lang: str, text: str, how: str) -> list[str]:
    if not sd.core_message:
        return []
    src = i18n.language_name(sd.core_lang, lang)
    return [i18n.t(lang, f"syncday.shared_label_{how}", source=src), text]


def _own_block(row: SyncDayCircle, circle: Circle, lang: str) -> list[str]:
    if not row.adaptation:
        return []
    return [i18n.t(lang, "syncday.own_label", circle=circle.name), row.adaptation]


# --- commands ------------------------------------------------------------------------------

@feature.command("syncday declare", args=[Arg("details", Text, rest=True)], who=COORDINATOR)
async def declare(ctx: Context, details: str) -> Outgoing:
    words = raw_words(ctx, 2)
    at_i = next((i for i, w in enumerate(words) if _DATE.match(w)), None)
    if at_i is None or at_i == 0 or at_i + 2 >= len(words):
        raise Refusal("syncday.declare_usage")
    target = " ".join(words[:at_i])
    rest, opts = split_spec(words[at_i + 3:], ("tz", "countdown", "checkin", "deadline"))
    if rest:
        raise Refusal("syncday.declare_unexpected", words=" ".join(rest))
    mode = choice(*svc.MODES).parse(words[at_i + 2])
    defaults = svc.settings(ctx.services.config)
    instant_tz = opts.get("tz", "UTC") if mode == "same_instant" else "UTC"
    day = parse_day(words[at_i], ctx.circle.timezone, ctx.now)
    try:
        sd = svc.declare(ctx, circle=ctx.circle, person_id=ctx.person.id, target=target, day=day,
                         at=parse_hour(words[at_i + 1]), mode=mode, instant_tz=instant_tz,
                         countdown=svc.parse_offsets(opts.get("countdown") or defaults["countdown"]),
                         checkin_after=svc.parse_duration(opts.get("checkin") or defaults["checkin_after"]),
                         summary_after=svc.parse_duration(opts.get("deadline") or defaults["summary_after"]))
    except SyncDayProblem as err:
        raise _problem(err) from None
    joined = True
    try:
        svc.join(ctx, sd, ctx.circle, ctx.person.id)
    except SyncDayProblem:
        joined = False  # this circle's own kickoff has already passed; others may still join
    ctx.audit("syncday.declare", syncday_id=sd.id, mode=mode)
    for c in active_circles(ctx.session, ctx.network.id, ctx.now):
        if c.id == ctx.circle.id:
            continue
        kick = svc.kickoff_for(sd, c)
        ctx.say_to_circle(c, lambda lang, c=c, kick=kick: Outgoing(
            text=i18n.t(lang, "syncday.announce", circle=ctx.circle.name, target=sd.target,
                        mode=_mode_text(sd, lang), id=sd.id,
                        kickoff=format_local(kick.instant_utc, c.timezone, lang)),
            choices=[Choice(i18n.t(lang, "syncday.btn_join"), f"/syncday join {sd.id}")],
            lang=lang), key=f"syncday:{sd.id}:announce:c{c.id}")
    text = ctx.tr("syncday.declared", id=sd.id, target=sd.target, mode=_mode_text(sd, ctx.lang),
                  date=sd.day.isoformat())
    text += "\n" + (ctx.tr("syncday.declared_joined") if joined else ctx.tr("syncday.declared_not_joined"))
    text += "\n" + ctx.tr("syncday.declared_next", id=sd.id)
    return Outgoing(text=text, lang=ctx.lang)


@feature.command("syncday message", args=[Arg("id", PositiveInt), Arg("text", Text, rest=True)],
                 who=COORDINATOR)
async def message(ctx: Context, id: int, text: str) -> str:
    sd = _day(ctx, id)
    if sd.circle_id != ctx.circle.id:
        raise Refusal("syncday.only_declaring_circle", circle="")
    sd.core_message, sd.core_lang = text.strip(), ctx.circle.language
    ctx.session.add(sd)
    ctx.audit("syncday.message", syncday_id=sd.id)
    return ctx.tr("syncday.message_set", id=sd.id)


@feature.command("syncday join", args=[Arg("id", PositiveInt)], who=COORDINATOR)
async def join(ctx: Context, id: int) -> str:
    sd = _day(ctx, id)
    try:
        row = svc.join(ctx, sd, ctx.circle, ctx.person.id)
    except SyncDayProblem as err:
        raise _problem(err) from None
    ctx.audit("syncday.join", syncday_id=sd.id)
    text = ctx.tr("syncday.joined", circle=ctx.circle.name, target=sd.target, id=sd.id,
                  kickoff=format_local(row.kickoff_utc, ctx.circle.timezone, ctx.lang),
                  left=format_countdown(utc(row.kickoff_utc) - ctx.now, ctx.lang))
    note = _dst_note(row.kickoff_note, sd, row.kickoff_utc, ctx.circle.timezone, ctx.lang)
    return text + ("\n" + note if note else "")


@feature.command("syncday leave", args=[Arg("id", PositiveInt)], who=COORDINATOR)
async def leave(ctx: Context, id: int) -> str:
    sd = _day(ctx, id)
    try:
        svc.leave(ctx, sd, ctx.circle)
    except SyncDayProblem as err:
        raise _problem(err) from None
    ctx.audit("syncday.leave", syncday_id=sd.id)
    return ctx.tr("syncday.left", circle=ctx.circle.name, target=sd.target)


@feature.command("syncday adapt", args=[Arg("id", PositiveInt), Arg("text", Text, rest=True)],
                 who=COORDINATOR)
async def adapt(ctx: Context, id: int, text: str) -> str:
    sd = _day(ctx, id)
    row = svc.participation(ctx.session, sd, ctx.circle.id)
    if row is None or row.left_at is not None:
        raise Refusal("syncday.not_in", id=sd.id)
    row.adaptation, row.adaptation_by = text.strip(), ctx.person.id
    ctx.session.add(row)
    return ctx.tr("syncday.adapted", circle=ctx.circle.name)


@feature.command("syncday status", args=[Arg("id", PositiveInt)], who=MEMBER)
async def status(ctx: Context, id: int) -> str:
    sd = _day(ctx, id)
    rows = svc.participants(ctx.session, sd)
    lines = [ctx.tr("syncday.status_header", id=sd.id, target=sd.target,
                    mode=_mode_text(sd, ctx.lang), date=sd.day.isoformat())]
    if sd.cancelled_at:
        lines.append(ctx.tr("syncday.status_cancelled"))
    for row, c in rows:
        state = ctx.tr(f"syncday.state_{row.kickoff_state}")
        checkin = (ctx.tr("syncday.status_checked_in", turnout=row.turnout if row.turnout is not None else "?")
                   if row.checkin_at else "")
        lines.append(ctx.tr("syncday.status_line", circle=c.name,
                            local=svc.local_clock(row.kickoff_utc, c.timezone),
                            yours=format_local(row.kickoff_utc, ctx.tz, ctx.lang, "short"),
                            state=state, checkin=checkin))
        note = _dst_note(row.kickoff_note, sd, row.kickoff_utc, c.timezone, ctx.lang)
        if note:
            lines.append("   " + note)
    if not rows:
        lines.append(ctx.tr("syncday.status_nobody", id=sd.id))
    mine = svc.participation(ctx.session, sd, ctx.circle.id)
    if sd.core_message:
        text, how = await translate_core(ctx.services.translator, sd.core_message, sd.core_lang,
                                         ctx.circle.language)
        lines += _shared_block(sd, ctx.lang, text, how)
    else:
        lines.append(ctx.tr("syncday.status_no_message"))
    if mine and mine.left_at is None:
        lines += _own_block(mine, ctx.circle, ctx.lang) or [ctx.tr("syncday.status_no_adaptation",
                                                                    id=sd.id)]
    if sd.summary_at:
        lines.append(ctx.tr("syncday.status_summarised"))
    return "\n".join(lines)


@feature.command("syncday list", who=MEMBER, aliases=("syncdays",))
async def list_days(ctx: Context) -> str:
    days = snapshots(ctx.session, _network_days(), {"network": ctx.network.id}, SyncDay)
    if not days:
        return ctx.tr("syncday.list_empty")
    lines = [ctx.tr("syncday.list_header")]
    for sd in days:
        n = len(svc.participants(ctx.session, sd))
        lines.append(ctx.tr("syncday.list_line", id=sd.id, target=sd.target, date=sd.day.isoformat(),
                            mode=_mode_text(sd, ctx.lang), count=n,
                            cancelled=ctx.tr("syncday.list_cancelled") if sd.cancelled_at else ""))
    return "\n".join(lines)


@lru_cache(maxsize=1)
def _network_days():
    # Composed once: the list is asked far more often than days are declared.
    d = SyncDay.__table__.c
    return select(*d).where(d.network_id == bindparam("network")).order_by(d.day, d.id)


@feature.command("syncday cancel", args=[Arg("id", PositiveInt)], who=COORDINATOR)
async def cancel(ctx: Context, id: int) -> str:
    sd = _day(ctx, id)
    if sd.circle_id != ctx.circle.id:
        raise Refusal("syncday.only_declaring_circle", circle="")
    for c in svc.cancel(ctx, sd):
        if c.id != ctx.circle.id:
            ctx.say_to_circle(c, "syncday.cancelled_announce", key=f"syncday:{sd.id}:cancelled:c{c.id}",
                              target=sd.target, circle=ctx.circle.name)
    ctx.audit("syncday.cancel", syncday_id=sd.id)
    return ctx.tr("syncday.cancelled_done", target=sd.target)


_TURNOUT = re.compile(r"\bturnout=(\d+)\b", re.I)
_OUTCOME = re.compile(r"\boutcome=(.*)$", re.I | re.S)


@feature.command("syncday checkin", args=[Arg("id", PositiveInt), Arg("details", Text,
                                                                       required=False, rest=True)],
                 who=MEMBER)
async def checkin(ctx: Context, id: int, details: str | None) -> str:
    sd = _day(ctx, id)
    row = svc.participation(ctx.session, sd, ctx.circle.id)
    if row is None or row.left_at is not None:
        raise Refusal("syncday.not_in", id=sd.id)
    if utc(row.kickoff_utc) > ctx.now:
        raise Refusal("syncday.checkin_too_early", id=sd.id)
    details = details or ""
    turnout = _TURNOUT.search(details)
    outcome = _OUTCOME.search(details)
    images = [a for a in ctx.incoming.attachments if a.kind == "image" and a.path]
    if not turnout and not outcome and not images:
        raise Refusal("syncday.checkin_usage", id=sd.id)
    rows = svc.participants(ctx.session, sd)
    complete = sd.summary_at is None and all(
        r.checkin_at is not None or r.id == row.id for r, _ in rows)
    chart = await _chart(ctx, sd, rows) if complete else None  # before any write (see _chart)
    svc.record_checkin(ctx.session, row, ctx.person.id,
                       int(turnout.group(1)) if turnout else None,
                       outcome.group(1).strip() if outcome else "", ctx.now)
    for a in images:
        svc.add_photo(ctx.session, sd, ctx.circle.id, ctx.person.id, a.path, a.mime_type, ctx.now)
    ctx.session.flush()
    n_photos = len(svc.photos(ctx.session, sd, ctx.circle.id))
    ctx.audit("syncday.checkin", syncday_id=sd.id)
    if complete:
        post_summary(ctx, sd, chart)
    return ctx.tr("syncday.checked_in", circle=ctx.circle.name, photos=n_photos, id=sd.id)


@feature.command("syncday summary", args=[Arg("id", PositiveInt)], who=MEMBER)
async def summary(ctx: Context, id: int) -> Outgoing:
    sd = _day(ctx, id)
    msg = summary_message(ctx, sd, ctx.lang)
    return msg


@feature.listener("syncday.photos")
async def photos_after_checkin(ctx: Context) -> bool:
    """Images sent in a circle soon after its check-in are that check-in's photos."""
    if ctx.circle is None or ctx.incoming.is_direct:
        return False
    images = [a for a in ctx.incoming.attachments if a.kind == "image" and a.path]
    if not images:
        return False
    row = ctx.session.exec(select(SyncDayCircle).where(
        SyncDayCircle.circle_id == ctx.circle.id, SyncDayCircle.checkin_at != None)  # noqa: E711
        .order_by(SyncDayCircle.checkin_at.desc())).first()
    if row is None or ctx.now - utc(row.checkin_at) > PHOTO_WINDOW:
        return False
    sd = ctx.session.get(SyncDay, row.syncday_id)
    for a in images:
        svc.add_photo(ctx.session, sd, ctx.circle.id, ctx.person.id, a.path, a.mime_type, ctx.now)
    ctx.session.flush()
    ctx.reply(ctx.tr("syncday.photos_added", count=len(images), id=sd.id,
                     total=len(svc.photos(ctx.session, sd, ctx.circle.id))))
    return True


# --- the summary -------------------------------------------------------------------------------

async def _chart(work: Work, sd: SyncDay, rows) -> str | None:
    """Render the kickoff timeline off the event loop and keep it in the media store.

    Called before the unit of work writes anything, so no database lock is held while the
    chart renders in its thread.
    """
    if not rows:
        return None
    points = [svc.TimelinePoint(c.name, utc(r.kickoff_utc), svc.local_clock(r.kickoff_utc, c.timezone),
                                r.kickoff_state) for r, c in rows]
    png = await asyncio.to_thread(svc.render_timeline, f"{sd.target}: kickoffs across time zones",
                                  points)
    return work.services.media.put(png, "image/png")


def summary_message(work: Work, sd: SyncDay, lang: str) -> Outgoing:
    """Per circle what happened, in `lang`, with the timeline chart when there is one."""
    t = lambda key, **p: i18n.t(lang, key, **p)  # noqa: E731
    rows = svc.participants(work.session, sd)
    lines = [t("syncday.summary_header", id=sd.id, target=sd.target, date=sd.day.isoformat(),
               mode=_mode_text(sd, lang))]
    total, reported = 0, 0
    for row, c in rows:
        kick = t(f"syncday.summary_kickoff_{row.kickoff_state}",
                 local=svc.local_clock(row.kickoff_utc, c.timezone),
                 late=format_countdown(timedelta(seconds=row.kickoff_late_seconds or 0), lang))
        n_photos = len(svc.photos(work.session, sd, c.id))
        if row.checkin_at:
            reported += 1
            total += row.turnout or 0
            what = t("syncday.summary_checkin", turnout=row.turnout if row.turnout is not None else "?",
                     outcome=row.outcome or "—", count=n_photos)
        else:
            what = t("syncday.summary_no_checkin")
        lines.append(t("syncday.summary_line", circle=c.name, city=c.city, kickoff=kick, what=what))
    lines.append(t("syncday.summary_total", total=total, reported=reported, count=len(rows)))
    attachments = []
    if sd.summary_chart:
        attachments.append(Attachment("image", "image/png", 0, f"syncday-{sd.id}-timeline.png",
                                      path=sd.summary_chart,
                                      caption=t("syncday.chart_caption")))
    return Outgoing(text="\n".join(lines), attachments=attachments, lang=lang)


def post_summary(work: Work, sd: SyncDay, chart_key: str | None) -> None:
    """Post the summary once to every circle taking part and to the declaring circle."""
    sd.summary_at = work.now
    sd.summary_chart = chart_key
    work.session.add(sd)
    circles = {c.id: c for _, c in svc.participants(work.session, sd)}
    host = work.session.get(Circle, sd.circle_id)
    if host is not None and host.left_at is None:
        circles.setdefault(host.id, host)
    for c in circles.values():
        work.say_to_circle(c, lambda lang: summary_message(work, sd, lang),
                           key=f"syncday:{sd.id}:summary:c{c.id}")
    work.audit("syncday.summary", syncday_id=sd.id, network_id=sd.network_id)


# --- timers ----------------------------------------------------------------------------------

def _load(work: Work, timer: Timer) -> tuple[SyncDay, SyncDayCircle, Circle] | None:
    sd = work.session.get(SyncDay, timer.payload["syncday_id"])
    if sd is None or sd.cancelled_at is not None:
        return None
    row = svc.participation(work.session, sd, timer.payload["circle_id"])
    circle = work.session.get(Circle, timer.payload["circle_id"])
    if row is None or row.left_at is not None or circle is None or circle.left_at is not None:
        return None
    return sd, row, circle


@feature.timer("syncday.countdown")
async def _countdown(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    loaded = _load(work, timer)
    if loaded is None:
        return
    sd, row, circle = loaded
    kickoff = utc(row.kickoff_utc)
    later = [m for m in sd.countdown if m < timer.payload["offset_minutes"] and m > 0]
    superseded = any(kickoff - timedelta(minutes=m) <= work.now for m in later)
    if kickoff <= work.now or superseded:
        # After downtime only the freshest announcement is worth saying; keep a trace.
        work.audit("syncday.countdown_skipped", syncday_id=sd.id, circle_id=circle.id,
                   network_id=sd.network_id, offset_minutes=timer.payload["offset_minutes"])
        return
    # On time, say the announced offset ("1 day"), not the seconds-short remainder.
    left = (timedelta(minutes=timer.payload["offset_minutes"]) if late <= LATE_MARK
            else kickoff - work.now)
    work.say_to_circle(circle, lambda lang: Outgoing(
        text=i18n.t(lang, "syncday.countdown", left=format_countdown(left, lang),
                    target=sd.target, kickoff=format_local(kickoff, circle.timezone, lang), id=sd.id),
        choices=[Choice(i18n.t(lang, "syncday.btn_status"), f"/syncday status {sd.id}")],
        lang=lang), key=f"{timer.key}:sent")


@feature.timer("syncday.kickoff")
async def _kickoff(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    loaded = _load(work, timer)
    if loaded is None:
        return
    sd, row, circle = loaded
    if row.kickoff_state != "pending":
        return
    key = f"{timer.key}:sent"  # one key for on time, late and missed: never two kickoffs
    kickoff = utc(row.kickoff_utc)
    if missed:
        row.kickoff_state, row.kickoff_late_seconds = "missed", late.total_seconds()
        work.session.add(row)
        work.say_to_circle(circle, "syncday.kickoff_missed", key=key, target=sd.target,
                           kickoff=format_local(kickoff, circle.timezone, circle.language),
                           late=format_countdown(late, circle.language), id=sd.id)
        host = work.session.get(Circle, sd.circle_id)
        if host is not None:
            # Each coordinator reads the whole sentence, duration included, in their language.
            work.tell_coordinators(host, lambda lang: Outgoing(
                text=i18n.t(lang, "syncday.kickoff_missed_coordinators", target=sd.target,
                            circle=circle.name, late=format_countdown(late, lang)), lang=lang),
                key=f"{timer.key}:missed")
        work.audit("syncday.kickoff_missed", syncday_id=sd.id, circle_id=circle.id,
                   network_id=sd.network_id, late_seconds=late.total_seconds())
        return
    # Translate first: nothing is written yet, so no lock is held while the model runs.
    shared, how = await translate_core(work.services.translator, sd.core_message, sd.core_lang,
                                       circle.language)
    is_late = late > LATE_MARK
    row.kickoff_state = "late" if is_late else "sent"
    row.kickoff_sent_at, row.kickoff_late_seconds = work.now, late.total_seconds()
    work.session.add(row)

    def build(lang: str) -> Outgoing:
        lines = [i18n.t(lang, "syncday.bot_label"),
                 i18n.t(lang, "syncday.kickoff", target=sd.target, circle=circle.name,
                        kickoff=format_local(kickoff, circle.timezone, lang))]
        if is_late:
            lines.append(i18n.t(lang, "syncday.kickoff_late", late=format_countdown(late, lang)))
        note = _dst_note(row.kickoff_note, sd, kickoff, circle.timezone, lang)
        if note:
            lines.append(note)
        lines += _shared_block(sd, lang, shared, how)
        lines += _own_block(row, circle, lang)
        lines.append(i18n.t(lang, "syncday.kickoff_after", id=sd.id))
        return Outgoing(text="\n".join(lines), lang=lang)
    work.say_to_circle(circle, build, key=key)


@feature.timer("syncday.checkin")
async def _checkin(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    loaded = _load(work, timer)
    if loaded is None:
        return
    sd, row, circle = loaded
    if row.checkin_at is not None or sd.summary_at is not None:
        return
    work.say_to_circle(circle, "syncday.checkin_question", key=f"{timer.key}:sent",
                       circle=circle.name, target=sd.target, id=sd.id)


@feature.timer("syncday.summary")
async def _summary(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    sd = work.session.get(SyncDay, timer.payload["syncday_id"])
    if sd is None or sd.cancelled_at is not None or sd.summary_at is not None:
        return
    rows = svc.participants(work.session, sd)
    chart = await _chart(work, sd, rows)
    post_summary(work, sd, chart)
