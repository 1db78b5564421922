"""The action calendar: events in every circle's own time and language, RSVPs from any chat,
reminders, repeating events, .ics export, finding a humane time, and scenario labs.

Commands are in the `/event` and `/lab` groups. `/event add` reads its details the way people
write them: `/event add Quarterly scenario lab 2026-04-01 18:00 duration=2h repeat=FREQ=MONTHLY;INTERVAL=3`
(title, date, time, then options in any order).
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from sqlmodel import select

from core import agenda, i18n
from core.agenda import CalendarProblem
from core.circles import active_circles, find_circle
from core.clock import utc
from core.storage.snapshot import snapshot_by_id
from core.commands import (
    ANYONE, COORDINATOR, MEMBER, Arg, ArgError, Feature, PositiveInt, Text, choice,
    parse_duration, split_command,
)
from core.messages import Attachment, Choice, Outgoing
from core.slots import find_slots
from core.storage.agenda import CalendarEvent, LabSession
from core.storage.models import Circle, Network, Timer
from core.timekeeping import TimeProblem, format_countdown, format_local, local_wall, zone
from core.work import Context, Refusal, Work

feature = Feature("calendar")
feature.on_person_merge(agenda.merge_person)
feature.on_person_export(agenda.person_data)
feature.on_circle_export(agenda.circle_data)


@feature.on_person_erase
def _erase_person(work: Work, person_id: int) -> None:
    """Their lab entries go; maps already kept are drawn again without them (the old CSV
    file goes unless something else still uses it)."""
    from core.retention import release
    for lab in agenda.erase_person(work.session, person_id):
        old = lab.csv_key
        keep_map(work, lab)
        if old and old != lab.csv_key:
            release(work.session, work.services.media, [old])

_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\+\d+d|today|tomorrow)$", re.I)
_EVENT_OPTIONS = ("tz", "duration", "place", "link", "scope", "repeat", "remind", "kind")


# --- parsing what people type ----------------------------------------------------------------

def raw_words(ctx: Context, skip: int) -> list[str]:
    """The words after the command name, with quoted groups kept together."""
    parsed = split_command(ctx.incoming.text)
    return parsed.words[skip:] if parsed else []


def parse_day(word: str, tz: str, now: datetime) -> date:
    """YYYY-MM-DD, "today", "tomorrow" or "+3d" (days from today in `tz`)."""
    low = word.lower()
    today = local_wall(now, tz).date()
    if low == "today":
        return today
    if low == "tomorrow":
        return today + timedelta(days=1)
    if low.startswith("+"):
        return today + timedelta(days=int(low[1:-1]))
    try:
        return date.fromisoformat(word)
    except ValueError:
        raise ArgError("args.bad_date", value=word) from None


def parse_hour(word: str) -> time:
    """HH:MM on a 24-hour clock."""
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?", word.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2) or 0) > 59:
        raise ArgError("args.bad_time", value=word)
    return time(int(m.group(1)), int(m.group(2) or 0))


def split_spec(words: list[str], options: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """Split words into leading plain words and `key=value` options (a plain word after an
    option continues its value, so `place=Union Hall` needs no quotes)."""
    head: list[str] = []
    opts: dict[str, str] = {}
    last = None
    for w in words:
        k, sep, v = w.partition("=")
        if sep and k.lower() in options:
            last = k.lower()
            opts[last] = v
        elif last is not None:
            opts[last] += " " + w
        else:
            head.append(w)
    return head, opts


def parse_waking(text: str) -> tuple[time, time]:
    """"08:00-22:00" -> (08:00, 22:00)."""
    a, sep, b = text.partition("-")
    if not sep:
        raise ArgError("calendar.bad_waking", value=text)
    return parse_hour(a), parse_hour(b)


# --- showing events ------------------------------------------------------------------------

def answer_buttons(lang: str, event_id: int) -> list[Choice]:
    """Going / maybe / not going, as buttons where the platform has them."""
    return [Choice(i18n.t(lang, "calendar.btn_going"), f"/event rsvp {event_id} going"),
            Choice(i18n.t(lang, "calendar.btn_maybe"), f"/event rsvp {event_id} maybe"),
            Choice(i18n.t(lang, "calendar.btn_no"), f"/event rsvp {event_id} no")]


def dst_note(ev: CalendarEvent, lang: str) -> str:
    """What the DST policy did to the typed start time, or ""."""
    if ev.start_note == "ok":
        return ""
    wall = agenda.wall_start(ev)
    shown = local_wall(ev.start_utc, ev.tz)
    return i18n.t(lang, f"calendar.dst_{ev.start_note}", typed=wall.strftime("%H:%M"),
                  shown=shown.strftime("%H:%M"), tz=ev.tz)


def event_card(session, ev: CalendarEvent, occ: datetime | None, tz: str, lang: str,
               with_counts: bool = False) -> str:
    """The event as one circle reads it: its local time, language and (optionally) answers."""
    t = lambda key, **p: i18n.t(lang, key, **p)  # noqa: E731
    scope = t("calendar.scope_network") if ev.scope == "network" else t("calendar.scope_circle")
    kind = t("calendar.kind_lab") if ev.kind == "lab" else ""
    lines = [t("calendar.card_title", id=ev.id, title=ev.title, scope=scope, kind=kind)]
    if occ is not None:
        lines.append(t("calendar.card_when", when=format_local(occ, tz, lang),
                       duration=format_countdown(agenda.duration_of(ev), lang)))
        if tz != ev.tz:
            lines.append(t("calendar.card_home", when=format_local(occ, ev.tz, lang), tz=ev.tz))
    else:
        lines.append(t("calendar.card_over"))
    if ev.place:
        lines.append(t("calendar.card_place", place=ev.place))
    if ev.link:
        lines.append(t("calendar.card_link", link=ev.link))
    if ev.rrule:
        lines.append(t("calendar.card_repeat", rule=ev.rrule))
    note = dst_note(ev, lang)
    if note:
        lines.append(note)
    if with_counts and occ is not None:
        lines += count_lines(session, ev, occ, lang)
    return "\n".join(lines)


def count_lines(session, ev: CalendarEvent, occ: datetime, lang: str) -> list[str]:
    """Answers per circle and in total."""
    per = agenda.counts(session, ev, occ)
    names = {c.id: c.name for c in session.exec(select(Circle).where(
        Circle.network_id == ev.network_id)).all()}
    total = {a: sum(c[a] for c in per.values()) for a in agenda.ANSWERS}
    lines = [i18n.t(lang, "calendar.counts_total", going=total["going"], maybe=total["maybe"],
                    no=total["no"])]
    for cid in sorted(per, key=lambda c: names.get(c, "")):
        c = per[cid]
        lines.append(i18n.t(lang, "calendar.counts_line", circle=names.get(cid, "?"),
                            going=c["going"], maybe=c["maybe"], no=c["no"]))
    return lines


def _event_for(ctx: Context, event_id: int) -> CalendarEvent:
    """The event as this chat may see it (a read-only snapshot: `ctx.editable` to change)."""
    ev = snapshot_by_id(ctx.session, CalendarEvent, event_id)
    circle = ctx.circle
    if circle is None and ev is not None:
        circle = agenda.home_circle_for(ctx.session, ctx.person.id, ev.network_id)
    if ev is None or not agenda.can_see(ev, circle):
        raise Refusal("calendar.no_such_event", id=event_id)
    return ev


def _problem(err: CalendarProblem) -> Refusal:
    return Refusal(err.key, **err.params)


# --- commands ------------------------------------------------------------------------------

@feature.command("event add", args=[Arg("details", Text, rest=True)], who=MEMBER)
async def event_add(ctx: Context, details: str) -> Outgoing:
    words = raw_words(ctx, 2)
    at = next((i for i, w in enumerate(words) if _DATE.match(w)), None)
    if at is None or at == 0 or at + 1 >= len(words):
        raise Refusal("calendar.add_usage")
    title = " ".join(words[:at])
    rest, opts = split_spec(words[at + 2:], _EVENT_OPTIONS)
    if rest:
        raise Refusal("calendar.add_unexpected", words=" ".join(rest))
    try:
        tz = zone(opts["tz"]).key if "tz" in opts else ctx.circle.timezone
    except TimeProblem as err:  # args.bad_zone: the name typed and a real one to try
        raise Refusal(err.key, **err.params) from None
    day = parse_day(words[at], tz, ctx.now)
    start_local = datetime.combine(day, parse_hour(words[at + 1]))
    duration = parse_duration(opts.get("duration", "2h"))
    scope = choice("circle", "network").parse(opts.get("scope", "circle"))
    kind = choice("event", "lab").parse(opts.get("kind", "event"))
    if scope == "network" and not ctx.membership.is_coordinator:
        raise Refusal("calendar.network_needs_coordinator")
    reminders = agenda.parse_offsets(opts.get("remind") or
                                     agenda.settings(ctx.services.config)["reminders"])
    try:
        ev = agenda.create_event(ctx, network=ctx.network, circle=ctx.circle,
                                 person_id=ctx.person.id, title=title, start_local=start_local,
                                 tz=tz, duration=duration, place=opts.get("place", "").strip(),
                                 link=opts.get("link", "").strip(), scope=scope,
                                 rrule=(opts.get("repeat") or "").strip() or None,
                                 reminders=reminders, kind=kind)
    except CalendarProblem as err:
        raise _problem(err) from None
    occ = agenda.next_occurrence(ev, ctx.now)
    ctx.audit("calendar.add", event_id=ev.id, scope=scope)
    if scope == "network":
        for c in active_circles(ctx.session, ctx.network.id, ctx.now):
            if c.id == ctx.circle.id:
                continue
            ctx.say_to_circle(c, lambda lang, c=c: Outgoing(
                text=i18n.t(lang, "calendar.announce", circle=ctx.circle.name) + "\n" +
                event_card(ctx.session, ev, occ, c.timezone, lang),
                choices=answer_buttons(lang, ev.id), lang=lang), key=f"event:{ev.id}:announce:c{c.id}")
    reminders_text = i18n.join_list((format_countdown(r, ctx.lang) for r in reminders),
                                    ctx.lang) or \
        ctx.tr("calendar.no_reminders")
    text = ctx.tr("calendar.added", id=ev.id) + "\n" + event_card(ctx.session, ev, occ, ctx.tz, ctx.lang) \
        + "\n" + ctx.tr("calendar.reminders_at", reminders=reminders_text)
    return Outgoing(text=text, choices=answer_buttons(ctx.lang, ev.id), lang=ctx.lang)


@feature.command("event list", who=MEMBER, aliases=("events",))
async def event_list(ctx: Context) -> str:
    rows = []
    for ev in agenda.visible_events(ctx.session, ctx.circle):
        occ = agenda.next_occurrence(ev, ctx.now)
        if occ is not None:
            rows.append((occ, ev))
    if not rows:
        return ctx.tr("calendar.list_empty")
    lines = [ctx.tr("calendar.list_header", circle=ctx.circle.name, tz=ctx.tz)]
    for occ, ev in sorted(rows, key=lambda r: (r[0], r[1].id)):
        going = sum(c["going"] for c in agenda.counts(ctx.session, ev, occ).values())
        lines.append(ctx.tr("calendar.list_line", id=ev.id, title=ev.title,
                            when=format_local(occ, ctx.tz, ctx.lang),
                            scope=ctx.tr("calendar.scope_network") if ev.scope == "network"
                            else ctx.tr("calendar.scope_circle"),
                            repeat=" 🔁" if ev.rrule else "", going=going))
    return "\n".join(lines)


@feature.command("event show", args=[Arg("id", PositiveInt)], who=ANYONE)
async def event_show(ctx: Context, id: int) -> Outgoing:
    ev = _event_for(ctx, id)
    occ = agenda.next_occurrence(ev, ctx.now)
    text = event_card(ctx.session, ev, occ, ctx.tz, ctx.lang, with_counts=True)
    return Outgoing(text=text, choices=answer_buttons(ctx.lang, ev.id) if occ else [],
                    lang=ctx.lang)


@feature.command("event rsvp", args=[Arg("id", PositiveInt),
                                     Arg("answer", choice("going", "maybe", "no"))])
async def event_rsvp(ctx: Context, id: int, answer: str) -> str:
    ev = _event_for(ctx, id)
    circle = ctx.circle or agenda.home_circle_for(ctx.session, ctx.person.id, ev.network_id)
    occ = agenda.next_occurrence(ev, ctx.now)
    if occ is None:
        raise Refusal("calendar.event_over", title=ev.title)
    agenda.rsvp(ctx.session, ev, occ, ctx.person.id, circle.id if circle else None, answer,
                ctx.now)
    counts = agenda.counts(ctx.session, ev, occ)
    here = counts.get(circle.id if circle else None)
    total = sum(c["going"] for c in counts.values())
    return ctx.tr(f"calendar.rsvp_{answer}", name=ctx.person.display_name, title=ev.title,
                  when=format_local(occ, ctx.tz, ctx.lang), going_here=here["going"] if here else 0,
                  going=total)


@feature.command("event cancel", args=[Arg("id", PositiveInt)], who=COORDINATOR)
async def event_cancel(ctx: Context, id: int) -> str:
    ev = _event_for(ctx, id)
    if ev.circle_id != ctx.circle.id:
        raise Refusal("calendar.cancel_not_host", title=ev.title)
    occ = agenda.next_occurrence(ev, ctx.now)
    told = agenda.attending_circles(ctx.session, ev, occ, ctx.now) if occ else []
    if ev.scope == "network":
        told = active_circles(ctx.session, ev.network_id, ctx.now)
    agenda.cancel_event(ctx, ev)
    for c in told:
        if c.id != ctx.circle.id:
            ctx.say_to_circle(c, "calendar.cancelled_announce", key=f"event:{ev.id}:cancelled:c{c.id}",
                              title=ev.title, circle=ctx.circle.name)
    ctx.audit("calendar.cancel", event_id=ev.id)
    return ctx.tr("calendar.cancelled", title=ev.title)


@feature.command("event export", args=[Arg("what", choice("circle", "network"), required=False,
                                            default="circle")], who=MEMBER)
async def event_export(ctx: Context, what: str) -> Outgoing:
    if what == "network":
        data = agenda.export_network(ctx.session, ctx.network, ctx.now)
        name = ctx.network.name
    else:
        data = agenda.export_circle(ctx.session, ctx.circle, ctx.now)
        name = ctx.circle.name
    key = ctx.services.media.put(data, "text/calendar")
    filename = "tessera-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".ics"
    return Outgoing(text=ctx.tr("calendar.export_ready", name=name),
                    attachments=[Attachment("file", "text/calendar", len(data), filename,
                                            path=key)], lang=ctx.lang)


@feature.command("event findtime", args=[Arg("duration", Text), Arg("circles", Text, rest=True)],
                 who=MEMBER)
async def event_findtime(ctx: Context, duration: str, circles: str) -> str:
    words = raw_words(ctx, 2)
    length = parse_duration(words[0])
    refs, opts = split_spec(words[1:], ("within", "waking", "from"))
    chosen: list[Circle] = []
    for ref in refs:
        if ref.lower() in ("all", "everyone"):
            chosen += active_circles(ctx.session, ctx.network.id, ctx.now)
            continue
        c = find_circle(ctx.session, ctx.network.id, ref)
        if c is None:
            raise Refusal("calendar.no_such_circle", circle=ref)
        chosen.append(c)
    chosen = list({c.id: c for c in chosen}.values())
    if not chosen:
        raise Refusal("calendar.findtime_usage")
    within = parse_duration(opts.get("within", "14d"))
    if within > timedelta(days=366):
        raise Refusal("calendar.findtime_too_long")
    waking = parse_waking(opts.get("waking") or agenda.settings(ctx.services.config)["waking_hours"])
    begin = ctx.now
    if "from" in opts:
        begin = max(ctx.now, agenda.resolve_local_explain(
            datetime.combine(parse_day(opts["from"], ctx.tz, ctx.now), time(0)), ctx.tz).instant_utc)
    if not (waking[0] < waking[1] or waking[1] == time(0)):
        raise Refusal("calendar.findtime_problem", reason=ctx.tr("calendar.waking_backwards"))
    try:
        slots = find_slots([c.timezone for c in chosen], length, begin, begin + within,
                           waking=waking)
    except ValueError:
        # core.slots explains in English only; what people can cause is checked above.
        raise Refusal("calendar.findtime_problem",
                      reason=ctx.tr("calendar.findtime_failed")) from None
    names = i18n.join_list((c.name for c in chosen), ctx.lang)
    hours = f"{waking[0]:%H:%M}-{waking[1]:%H:%M}"
    if not slots:
        return ctx.tr("calendar.findtime_none", circles=names, hours=hours,
                      within=format_countdown(within, ctx.lang))
    lines = [ctx.tr("calendar.findtime_header", circles=names, hours=hours,
                    duration=format_countdown(length, ctx.lang))]
    for i, s in enumerate(slots, 1):
        local = i18n.join_list(
            (f"{c.name}: {format_local(s.start_utc, c.timezone, ctx.lang, 'short')}"
             for c in chosen), ctx.lang, strong=True)
        lines.append(ctx.tr("calendar.findtime_line", n=i, utc=s.start_utc.strftime("%Y-%m-%d %H:%M"),
                            local=local, margin=format_countdown(s.score, ctx.lang)))
    return "\n".join(lines)


# --- timers ----------------------------------------------------------------------------------

@feature.timer("calendar.reminder")
async def _reminder(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    ev = work.session.get(CalendarEvent, timer.payload["event_id"])
    if ev is None or ev.cancelled_at is not None:
        return
    occ = datetime.fromisoformat(timer.payload["occurrence"])
    if occ <= work.now:
        # The event has begun: a reminder now would only confuse; keep a trace instead.
        work.audit("calendar.reminder_dropped", event_id=ev.id, occurrence=occ.isoformat(),
                   network_id=ev.network_id)
        return
    late_note = late > timedelta(minutes=5)
    # On time, say the configured offset ("1 hour"), not the seconds-short remainder.
    left = timedelta(minutes=timer.payload["offset_minutes"]) if not late_note else occ - work.now
    for c in agenda.attending_circles(work.session, ev, occ, work.now):
        def build(lang: str, c: Circle = c) -> Outgoing:
            text = i18n.t(lang, "calendar.reminder", title=ev.title,
                          left=format_countdown(left, lang)) + "\n" + \
                event_card(work.session, ev, occ, c.timezone, lang, with_counts=True)
            if late_note:
                text += "\n" + i18n.t(lang, "calendar.reminder_late")
            return Outgoing(text=text, choices=answer_buttons(lang, ev.id), lang=lang)
        work.say_to_circle(c, build, key=f"{timer.key}:sent:c{c.id}")


@feature.timer("calendar.start")
async def _start(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    ev = work.session.get(CalendarEvent, timer.payload["event_id"])
    if ev is None or ev.cancelled_at is not None:
        return
    occ = datetime.fromisoformat(timer.payload["occurrence"])
    end = occ + agenda.duration_of(ev)
    if ev.kind == "lab":
        host = work.session.get(Circle, ev.circle_id)
        if end <= work.now or host is None or host.left_at is not None:
            work.audit("calendar.lab_missed", event_id=ev.id, network_id=ev.network_id)
        elif agenda.active_lab(work.session, host) is None:
            lab = agenda.open_lab(work, circle=host, title=ev.title, scope=ev.scope,
                                  event=ev, occurrence=occ)
            for c in agenda.attending_circles(work.session, ev, occ, work.now):
                work.say_to_circle(c, "calendar.lab_opened", key=f"{timer.key}:lab:c{c.id}",
                                   title=ev.title, id=lab.id,
                                   until=format_local(end, c.timezone, c.language))
            work.schedule("calendar.lab_close", end, f"{timer.key}:labclose", lab_id=lab.id)
    agenda.plan_occurrence(work, ev, after=occ, inclusive=False)


@feature.timer("calendar.lab_close")
async def _lab_close(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    lab = work.session.get(LabSession, timer.payload["lab_id"])
    if lab is not None and lab.ended_at is None:
        close_lab(work, lab)


# --- scenario labs ---------------------------------------------------------------------------

def map_text(session, lab: LabSession, lang: str) -> str:
    """The lab's map as a table: dilemma | who gains | who pays."""
    t = lambda key, **p: i18n.t(lang, key, **p)  # noqa: E731
    rows = agenda.lab_map(session, lab)
    lines = [t("calendar.map_title", title=lab.title, id=lab.id)]
    if not rows:
        lines.append(t("calendar.map_empty"))
        return "\n".join(lines)
    lines.append(f"# | {t('calendar.map_dilemma')} | {t('calendar.map_gains')} | "
                 f"{t('calendar.map_pays')}")
    for r in rows:
        gains = i18n.join_list(r.gains, lang, strong=True) or "—"
        pays = i18n.join_list(r.pays, lang, strong=True) or "—"
        lines.append(f"{r.number} | {r.dilemma or '—'} | {gains} | {pays}")
    return "\n".join(lines)


def keep_map(work: Work, lab: LabSession) -> bytes:
    """Store the lab's map as it stands (text in the host circle's language, and CSV); returns
    the CSV."""
    host = work.session.get(Circle, lab.circle_id)
    lang = host.language if host else "en"
    lab.table_text = map_text(work.session, lab, lang)
    headers = tuple(i18n.t(lang, k) for k in ("calendar.map_number", "calendar.map_dilemma",
                                             "calendar.map_gains", "calendar.map_pays"))
    data = agenda.map_csv(agenda.lab_map(work.session, lab), headers)
    lab.csv_key = work.services.media.put(data, "text/csv")
    work.session.add(lab)
    return data


def close_lab(work: Work, lab: LabSession) -> None:
    """End a lab: keep its map (text and CSV) and post it to the circles that took part."""
    lab.ended_at = work.now
    data = keep_map(work, lab)
    for c in agenda.lab_circles(work.session, lab, work.now):
        work.say_to_circle(c, lambda lang: Outgoing(
            text=i18n.t(lang, "calendar.lab_closed") + "\n" + map_text(work.session, lab, lang),
            attachments=[Attachment("file", "text/csv", len(data), f"lab-{lab.id}-map.csv",
                                    path=lab.csv_key)], lang=lang),
            key=f"lab:{lab.id}:closed:c{c.id}")


def _open_lab_here(ctx: Context) -> LabSession:
    lab = agenda.active_lab(ctx.session, ctx.circle)
    if lab is None:
        raise Refusal("calendar.lab_none_open")
    return lab


@feature.command("lab start", args=[Arg("title", Text, required=False, rest=True)],
                 who=COORDINATOR)
async def lab_start(ctx: Context, title: str | None) -> str:
    try:
        lab = agenda.open_lab(ctx, circle=ctx.circle, person_id=ctx.person.id,
                              title=(title or ctx.tr("calendar.lab_default_title")).strip())
    except CalendarProblem as err:
        raise _problem(err) from None
    ctx.audit("calendar.lab_start", lab_id=lab.id)
    return ctx.tr("calendar.lab_started", title=lab.title, id=lab.id)


@feature.command("lab dilemma", args=[Arg("text", Text, rest=True)], who=MEMBER)
async def lab_dilemma(ctx: Context, text: str) -> str:
    lab = _open_lab_here(ctx)
    item = agenda.add_lab_item(ctx.session, lab, "dilemma", text, ctx.person.id, ctx.circle.id,
                               ctx.now)
    return ctx.tr("calendar.lab_dilemma_added", n=item.number)


def _lab_entry(kind: str):
    async def handler(ctx: Context, number: int, text: str) -> str:
        lab = _open_lab_here(ctx)
        try:
            agenda.add_lab_item(ctx.session, lab, kind, text, ctx.person.id, ctx.circle.id,
                                ctx.now, number=number)
        except CalendarProblem as err:
            raise _problem(err) from None
        return ctx.tr(f"calendar.lab_{kind}_added", n=number)
    return handler


for _kind in ("gains", "pays"):
    feature.command(f"lab {_kind}", args=[Arg("number", PositiveInt), Arg("text", Text, rest=True)],
                    who=MEMBER)(_lab_entry(_kind))


@feature.command("lab map", args=[Arg("lab", PositiveInt, required=False)], who=MEMBER)
async def lab_map(ctx: Context, lab: int | None) -> str:
    if lab is None:
        found = agenda.active_lab(ctx.session, ctx.circle)
        if found is None:
            found = ctx.session.exec(select(LabSession).where(
                LabSession.network_id == ctx.network.id).order_by(LabSession.id.desc())).first()
    else:
        found = ctx.session.get(LabSession, lab)
    if found is None or found.network_id != ctx.network.id or (
            found.scope == "circle" and found.circle_id != ctx.circle.id):
        raise Refusal("calendar.lab_unknown")
    return map_text(ctx.session, found, ctx.lang)


@feature.command("lab end", who=COORDINATOR)
async def lab_end(ctx: Context) -> str | None:
    lab = _open_lab_here(ctx)
    if lab.circle_id != ctx.circle.id:
        raise Refusal("calendar.lab_not_host")
    close_lab(ctx, lab)
    ctx.audit("calendar.lab_end", lab_id=lab.id)
    return None  # the map itself is the answer, posted to every circle that took part


@feature.command("lab list", who=MEMBER)
async def lab_list(ctx: Context) -> str:
    labs = ctx.session.exec(select(LabSession).where(LabSession.network_id == ctx.network.id)
                            .order_by(LabSession.id)).all()
    labs = [lab for lab in labs if lab.scope == "network" or lab.circle_id == ctx.circle.id]
    if not labs:
        return ctx.tr("calendar.lab_list_empty")
    lines = [ctx.tr("calendar.lab_list_header")]
    for lab in labs:
        state = (ctx.tr("calendar.lab_state_open") if lab.ended_at is None
                 else format_local(lab.started_at, ctx.tz, ctx.lang, "short"))
        lines.append(ctx.tr("calendar.lab_list_line", id=lab.id, title=lab.title, state=state,
                            n=len([r for r in agenda.lab_map(ctx.session, lab)])))
    return "\n".join(lines)


# --- command line ------------------------------------------------------------------------------

def _cli_export(args) -> int:
    import sys

    from core.config import load_config
    from core.storage import make_engine, unit_of_work
    from core.clock import SystemClock

    cfg = load_config(getattr(args, "config", None))
    engine = make_engine(cfg.database_url())
    now = SystemClock().now()
    with unit_of_work(engine) as s:
        if args.circle is not None:
            circle = s.get(Circle, args.circle)
            if circle is None:
                print(f"no circle with id {args.circle}", file=sys.stderr)
                return 2
            data = agenda.export_circle(s, circle, now)
        else:
            network = s.get(Network, args.network)
            if network is None:
                print(f"no network with id {args.network}", file=sys.stderr)
                return 2
            data = agenda.export_network(s, network, now)
    engine.dispose()
    if args.output == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(args.output, "wb") as fh:
            fh.write(data)
        print(f"wrote {len(data)} bytes to {args.output}")
    return 0


def add_cli(sub) -> None:
    """`tessera calendar export --circle ID | --network ID -o FILE`."""
    p = sub.add_parser("calendar", help="action calendar tools")
    csub = p.add_subparsers(dest="calendar_command", metavar="ACTION", required=True)
    e = csub.add_parser("export", help="write a circle's or a network's calendar as an .ics file")
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--circle", type=int, metavar="ID", help="the circle's id (see /circles)")
    which.add_argument("--network", type=int, metavar="ID", help="the network's id")
    e.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write ('-': stdout)")
    e.set_defaults(func=_cli_export)
