"""Relay service: applies the rules of `core.relay` to storage, time and messages.

Every function takes a `Work` (one transaction). Handoffs translate *before* they write
anything: translation runs in a worker thread whose cache writes to the same database, and
on SQLite a write lock held by this transaction would make it wait.
"""
from __future__ import annotations

import logging
import time as _time
from datetime import datetime, timedelta

from sqlmodel import Session, select

from core import relay as rules
from core.circles import find_circle
from core.clock import utc
from core.publish.model import DossierView, PartView, ReportView, TranslationView
from core.relay_messages import (
    chain_message, declined_message, invitation_message, prompt_message, report_message,
)
from core.storage.models import Circle, Network, Person
from core.storage import repoint
from core.storage.relay import Relay, RelayGlossaryTerm, RelayLeg, RelayPart, RelayTranslation
from core.translation.translator import normalise_language
from core.work import Work

log = logging.getLogger("tessera.relay")

# Translation latency of each report (leg x target language), newest last, for operators
# and benchmarks: (milliseconds, parts translated, model calls made).
LATENCY: list[tuple[float, int, int]] = []


# --- reading -------------------------------------------------------------------------------

def legs_of(session: Session, relay_id: int) -> list[RelayLeg]:
    """The chain of a relay, in order."""
    return list(session.exec(select(RelayLeg).where(RelayLeg.relay_id == relay_id)
                             .order_by(RelayLeg.position)).all())


def live_parts(session: Session, leg_id: int) -> list[RelayPart]:
    """The parts of a leg's report that were not withdrawn, in order."""
    return list(session.exec(select(RelayPart).where(RelayPart.leg_id == leg_id,
                                                     RelayPart.withdrawn_at == None)  # noqa: E711
                             .order_by(RelayPart.number)).all())


def relays_of_circle(session: Session, circle_id: int, states=rules.ACTIVE_RELAY
                     ) -> list[tuple[Relay, RelayLeg]]:
    """Relays (in `states`) whose chain includes the circle, with the circle's leg."""
    q = (select(Relay, RelayLeg).join(RelayLeg, RelayLeg.relay_id == Relay.id)
         .where(RelayLeg.circle_id == circle_id, Relay.state.in_(states)).order_by(Relay.id))
    return list(session.exec(q).all())


def current_leg(legs: list[RelayLeg]) -> RelayLeg | None:
    """The leg being reported now, if any."""
    return next((g for g in legs if g.state in rules.LIVE_LEG), None)


def glossary_for(session: Session, network_id: int, lang: str) -> dict[str, str]:
    """The network's glossary as {term: rendering} for translations into `lang`."""
    rows = session.exec(select(RelayGlossaryTerm).where(
        RelayGlossaryTerm.network_id == network_id)).all()
    lang = normalise_language(lang)
    out: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: r.target_lang != ""):  # specific ones win
        if row.target_lang in ("", lang):
            out[row.term] = row.rendering
    return out


def _names(session: Session, person_ids) -> dict[int, str]:
    ids = set(person_ids)
    if not ids:
        return {}
    return {p.id: p.display_name for p in session.exec(select(Person).where(Person.id.in_(ids))).all()}


def _translations(session: Session, part_ids) -> dict[int, dict[tuple[str, str], TranslationView]]:
    out: dict[int, dict[tuple[str, str], TranslationView]] = {}
    ids = list(part_ids)
    if not ids:
        return out
    for t in session.exec(select(RelayTranslation).where(RelayTranslation.part_id.in_(ids))).all():
        out.setdefault(t.part_id, {})[(t.field, t.lang)] = TranslationView(t.text, t.status, t.via)
    return out


def report_views(session: Session, legs: list[RelayLeg], circles: dict[int, Circle],
                 media=None, extra: dict | None = None) -> list[ReportView]:
    """Views of the given legs' reports (live parts only), with stored translations.

    `extra` adds translations not yet stored ({part_id: {(field, lang): TranslationView}}).
    With `media` (the MediaStore), sizes are read from the stored files themselves.
    """
    parts = {g.id: live_parts(session, g.id) for g in legs}
    all_parts = [p for ps in parts.values() for p in ps]
    names = _names(session, (p.author_id for p in all_parts))
    stored = _translations(session, (p.id for p in all_parts))
    by_id = {g.id: g for g in legs}
    views = []
    for g in legs:
        c = circles[g.circle_id]
        responds = None
        if g.responds_to_leg_id:
            prev = by_id.get(g.responds_to_leg_id) or session.get(RelayLeg, g.responds_to_leg_id)
            if prev is not None:
                prev_c = circles.get(prev.circle_id) or session.get(Circle, prev.circle_id)
                responds = prev_c.name
        pv = []
        for p in parts[g.id]:
            size = p.size
            if media is not None and p.media_key and media.exists(p.media_key):
                size = media.path(p.media_key).stat().st_size
            tr = dict(stored.get(p.id, {}))
            tr.update((extra or {}).get(p.id, {}))
            pv.append(PartView(number=p.number, kind=p.kind, author=names.get(p.author_id, "?"),
                               text=p.text, transcript=p.transcript, language=p.language,
                               created_at=p.created_at, media_key=p.media_key,
                               mime_type=p.mime_type, size=size, duration=p.duration,
                               filename=p.filename, translations=tr, part_id=p.id))
        # The date a circle spoke: its last part (the handoff may come days later).
        reported = max((p.created_at for p in pv), default=g.closed_at)
        views.append(ReportView(leg_id=g.id, position=g.position, circle=c.name, city=c.city,
                                country=c.country, timezone=c.timezone, language=c.language,
                                state=g.state, reported_at=reported, responds_to=responds,
                                parts=pv))
    return views


def circles_by_id(session: Session, legs: list[RelayLeg]) -> dict[int, Circle]:
    """The circles of a chain by id."""
    ids = {g.circle_id for g in legs}
    return {c.id: c for c in session.exec(select(Circle).where(Circle.id.in_(ids))).all()}


def dossier_view(session: Session, relay: Relay, lang: str | None, now: datetime,
                 media=None) -> DossierView:
    """Everything a publication needs; `lang` defaults to the origin circle's language."""
    legs = legs_of(session, relay.id)
    circles = circles_by_id(session, legs)
    origin = session.get(Circle, relay.origin_circle_id)
    net = session.get(Network, relay.network_id)
    # Only handed-off reports are published: until then their authors may still change them.
    reported = [g for g in legs if g.state == rules.HANDED_OFF]
    return DossierView(
        relay_id=relay.id, title=relay.title, network=net.name if net else "", state=relay.state,
        lang=normalise_language(lang or (origin.language if origin else "en")),
        created_at=relay.created_at, finished_at=relay.finished_at,
        reports=[v for v in report_views(session, reported, circles, media) if v.parts],
        chain=[f"{circles[g.circle_id].name} ({circles[g.circle_id].city}): {g.state}" for g in legs],
        generated_at=now)


# --- starting ------------------------------------------------------------------------------

def create_relay(work: Work, network: Network, origin: Circle, person: Person,
                 req: rules.StartRequest) -> Relay:
    """Create a relay and invite the chain's circles (the origin circle accepts at once)."""
    chain: list[Circle] = []
    for ref in req.circles:
        c = find_circle(work.session, network.id, ref)
        if c is None:
            raise rules.RelayRuleError("relay.unknown_circle", circle=ref)
        if c in chain:
            raise rules.RelayRuleError("relay.circle_twice", circle=c.name)
        chain.append(c)
    relay = Relay(network_id=network.id, title=req.title, origin_circle_id=origin.id,
                  created_by=person.id, created_at=work.now,
                  leg_seconds=int(req.leg.total_seconds()), state=rules.INVITING)
    work.session.add(relay)
    work.session.flush()
    for pos, c in enumerate(chain, 1):
        leg = RelayLeg(relay_id=relay.id, circle_id=c.id, position=pos, state=rules.INVITED)
        if c.id == origin.id:
            leg.state, leg.answered_by = rules.WAITING, person.id
        work.session.add(leg)
    work.session.flush()
    invited = [c for c in chain if c.id != origin.id]
    names = [c.name for c in chain]
    for c in invited:
        work.say_to_circle(c, invitation_message(relay, origin, names, req.leg),
                           key=f"relay:{relay.id}:invite:c{c.id}")
    work.schedule("relay.invitations_close", work.now + req.leg,
                  f"relay:{relay.id}:invitations", relay_id=relay.id)
    work.audit("relay.create", person_id=person.id, circle_id=origin.id, network_id=network.id,
               relay_id=relay.id, chain=[c.id for c in chain])
    return relay


def answer_invitation(work: Work, relay: Relay, leg: RelayLeg, person: Person, accept: bool) -> None:
    """A circle accepts or declines; once every circle has answered, the relay runs."""
    leg.state = rules.WAITING if accept else rules.DECLINED
    leg.answered_by = person.id
    work.session.add(leg)
    work.session.flush()
    legs = legs_of(work.session, relay.id)
    circles = circles_by_id(work.session, legs)
    if not accept:
        _tell_chain(work, relay, legs, circles, declined_message(relay, circles[leg.circle_id]),
                    key=f"relay:{relay.id}:declined:{leg.id}", skip_circle=None)
    work.audit("relay.accept" if accept else "relay.decline", person_id=person.id,
               circle_id=leg.circle_id, network_id=relay.network_id, relay_id=relay.id)
    if all(g.state != rules.INVITED for g in legs):
        begin(work, relay, legs, circles)


def close_invitations(work: Work, relay: Relay) -> None:
    """The invitation time is over: silent circles leave the chain, the rest begins."""
    legs = legs_of(work.session, relay.id)
    circles = circles_by_id(work.session, legs)
    for g in legs:
        if g.state == rules.INVITED:
            g.state = rules.DECLINED
            work.session.add(g)
            _tell_chain(work, relay, legs, circles,
                        declined_message(relay, circles[g.circle_id], silent=True),
                        key=f"relay:{relay.id}:silent:{g.id}", skip_circle=None)
    begin(work, relay, legs, circles)


def begin(work: Work, relay: Relay, legs: list[RelayLeg], circles: dict[int, Circle]) -> None:
    """Start the first leg, or cancel when fewer than two circles remain."""
    if relay.state != rules.INVITING:
        return
    work.cancel_timers(f"relay:{relay.id}:invitations")
    waiting = [g for g in legs if g.state == rules.WAITING]
    if len(waiting) < 2:
        relay.state, relay.finished_at = rules.RELAY_CANCELLED, work.now
        work.session.add(relay)
        _tell_chain(work, relay, legs, circles, "relay.too_few",
                    key=f"relay:{relay.id}:too-few", title=relay.title)
        return
    relay.state, relay.started_at = rules.RUNNING, work.now
    work.session.add(relay)
    open_leg(work, relay, waiting[0], legs, circles, delivered=None)


def open_leg(work: Work, relay: Relay, leg: RelayLeg, legs: list[RelayLeg],
             circles: dict[int, Circle], delivered: ReportView | None) -> None:
    """Open a circle's leg: hand it the report before it (if any), then invite its report."""
    circle = circles[leg.circle_id]
    leg.state, leg.opened_at = rules.OPEN, work.now
    leg.deadline = work.now + timedelta(seconds=relay.leg_seconds)
    leg.responds_to_leg_id = delivered.leg_id if delivered else None
    work.session.add(leg)
    chain = [g for g in legs if g.state not in (rules.DECLINED, rules.CANCELLED)]
    position = [g.id for g in chain].index(leg.id) + 1
    if delivered is not None:
        work.say_to_circle(circle, report_message(relay, delivered, position - 1, len(chain)),
                           key=f"relay:{relay.id}:leg:{leg.id}:delivery")
    work.say_to_circle(circle, prompt_message(relay, circle, leg.deadline, position, len(chain),
                                              delivered.circle if delivered else None),
                       key=f"relay:{relay.id}:leg:{leg.id}:prompt")
    schedule_leg_timers(work, relay, leg, circle)


def schedule_leg_timers(work: Work, relay: Relay, leg: RelayLeg, circle: Circle) -> None:
    """(Re)plan the deadline and the reminders of a leg."""
    prefix = f"relay:{relay.id}:leg:{leg.id}:t:"
    work.cancel_timers(prefix)
    deadline = utc(leg.deadline)
    stamp = f"{int(deadline.timestamp())}:{int(work.now.timestamp())}"
    work.schedule("relay.deadline", deadline, f"{prefix}{stamp}:deadline",
                  relay_id=relay.id, leg_id=leg.id, deadline=deadline.isoformat())
    for at in rules.reminder_instants(utc(leg.opened_at), deadline, circle.timezone, work.now):
        work.schedule("relay.reminder", at, f"{prefix}{stamp}:remind:{int(at.timestamp())}",
                      relay_id=relay.id, leg_id=leg.id, deadline=deadline.isoformat())


# --- reports -------------------------------------------------------------------------------

def add_part(work: Work, relay: Relay, leg: RelayLeg, circle: Circle, person: Person, kind: str,
             text: str = "", **media) -> RelayPart:
    """Record one part of the circle's report during its leg."""
    if leg.state not in rules.LIVE_LEG:
        raise rules.RelayRuleError("relay.leg_not_open", circle=circle.name)
    numbers = work.session.exec(select(RelayPart.number).where(RelayPart.leg_id == leg.id)).all()
    part = RelayPart(relay_id=relay.id, leg_id=leg.id, number=max(numbers, default=0) + 1,
                     author_id=person.id, kind=kind, text=text.strip(), language=circle.language,
                     created_at=work.now, **media)
    work.session.add(part)
    if leg.state == rules.OPEN:
        leg.state = rules.REPORTED
        work.session.add(leg)
    work.session.flush()
    return part


def authors_last_part(session: Session, leg: RelayLeg, person: Person, kinds=None) -> RelayPart | None:
    """The person's most recent live part in this leg (optionally of certain kinds)."""
    parts = [p for p in live_parts(session, leg.id) if p.author_id == person.id
             and (kinds is None or p.kind in kinds)]
    return parts[-1] if parts else None


def withdraw_part(work: Work, leg: RelayLeg, part: RelayPart) -> int:
    """Withdraw a part; returns how many live parts remain in the leg."""
    part.withdrawn_at = work.now
    work.session.add(part)
    work.session.flush()
    left = len(live_parts(work.session, leg.id))
    if left == 0 and leg.state == rules.REPORTED:
        leg.state = rules.OPEN
        work.session.add(leg)
    return left


# --- translation ---------------------------------------------------------------------------

async def translate_reports(work: Work, relay: Relay, reports: list[ReportView], langs
                            ) -> dict[int, dict[tuple[str, str], TranslationView]]:
    """Translations (not yet stored) of the reports' words into each of `langs`.

    Stored translations are reused; texts already in the target language are marked same;
    a missing model or a disabled translator gives the original with its status. Reads and
    translates only: the caller stores the result with `store_translations`.
    """
    translator = work.services.translator
    out: dict[int, dict[tuple[str, str], TranslationView]] = {}
    for lang in dict.fromkeys(normalise_language(x) for x in langs):
        glossary = glossary_for(work.session, relay.network_id, lang)
        for report in reports:
            started, calls_before = _time.perf_counter(), getattr(translator, "model_calls", 0)
            count = 0
            for part in report.parts:
                for field_name in ("text", "transcript"):
                    words = getattr(part, field_name)
                    if not words or part.translation(field_name, lang):
                        continue
                    pid = part.part_id
                    out.setdefault(pid, {})[(field_name, lang)] = await _translate(
                        translator, words, part.language, lang, glossary)
                    part.translations[(field_name, lang)] = out[pid][(field_name, lang)]
                    count += 1
            if count:
                ms = (_time.perf_counter() - started) * 1000
                calls = getattr(translator, "model_calls", 0) - calls_before
                LATENCY.append((ms, count, calls))
                log.info("relay %s: report of %s into %s in %.1f ms (%d texts, %d model calls)",
                         relay.id, report.circle, lang, ms, count, calls)
    return out


async def _translate(translator, words: str, source: str, target: str, glossary) -> TranslationView:
    if normalise_language(source).split("-")[0] == normalise_language(target).split("-")[0]:
        return TranslationView(words, "same")
    if translator is None:
        return TranslationView(words, "off")
    result = await translator.translate(words, source, target, glossary=glossary or None)
    if result.translated:
        return TranslationView(result.text, "machine", ",".join(result.via))
    if result.missing_model:
        return TranslationView(words, "missing")
    return TranslationView(words, "same")


def store_translations(work: Work, made: dict[int, dict[tuple[str, str], TranslationView]]) -> None:
    """Keep translations made at a handoff (reports are frozen once handed off)."""
    for part_id, by_key in made.items():
        for (field_name, lang), t in by_key.items():
            work.session.add(RelayTranslation(part_id=part_id, field=field_name, lang=lang,
                                              text=t.text, status=t.status, via=t.via))


# --- moving on -----------------------------------------------------------------------------

async def advance(work: Work, relay: Relay, leg: RelayLeg, action: str, reason: str = "deadline") -> str:
    """Close a live leg (hand off its report, or skip it) and open the next one.

    Returns what happened: "handoff", "skip" or "none" (the leg was no longer live). When
    the last leg closes, the relay completes and every circle receives the whole chain.
    """
    if relay.state != rules.RUNNING or leg.state not in rules.LIVE_LEG:
        return "none"
    s = work.session
    legs = legs_of(s, relay.id)
    circles = circles_by_id(s, legs)
    if action == "handoff" and not live_parts(s, leg.id):
        action = "skip"
    nxt = next((g for g in legs if g.state == rules.WAITING and g.position > leg.position), None)
    if nxt is None:
        nxt = next((g for g in legs if g.state == rules.WAITING), None)
    done = [g for g in legs if g.state == rules.HANDED_OFF]
    if action == "handoff":
        done = done + [leg]
    done.sort(key=lambda g: (utc(g.closed_at) if g.closed_at else work.now, g.position))
    # 1. Read and translate (no writes yet).
    if nxt is not None:
        delivered = report_views(s, done[-1:], circles) if done else []
        made = await translate_reports(work, relay, delivered, [circles[nxt.circle_id].language])
    else:
        members = [g for g in legs if g.state not in (rules.DECLINED, rules.CANCELLED)]
        delivered = report_views(s, done, circles)
        made = await translate_reports(work, relay, delivered,
                                       [circles[g.circle_id].language for g in members])
    # 2. Write.
    store_translations(work, made)
    leg.state = rules.HANDED_OFF if action == "handoff" else rules.SKIPPED
    leg.closed_at = work.now
    s.add(leg)
    work.cancel_timers(f"relay:{relay.id}:leg:{leg.id}:t:")
    here = circles[leg.circle_id]
    work.audit(f"relay.{action}", circle_id=here.id, network_id=relay.network_id,
               relay_id=relay.id, leg_id=leg.id, reason=reason)
    if action == "skip":
        _tell_chain(work, relay, legs, circles, "relay.skipped_notice",
                    key=f"relay:{relay.id}:leg:{leg.id}:skipped", title=relay.title,
                    circle=here.name, city=here.city)
    if nxt is not None:
        if action == "handoff":
            work.say_to_circle(here, "relay.handed_off", key=f"relay:{relay.id}:leg:{leg.id}:sent",
                               title=relay.title, next=circles[nxt.circle_id].name)
        open_leg(work, relay, nxt, legs, circles, delivered=delivered[-1] if delivered else None)
    else:
        complete(work, relay, legs, circles, delivered)
    return action


def complete(work: Work, relay: Relay, legs: list[RelayLeg], circles: dict[int, Circle],
             reports: list[ReportView]) -> None:
    """The chain is done: every circle receives it whole, in its own language."""
    relay.state, relay.finished_at = rules.COMPLETED, work.now
    work.session.add(relay)
    work.cancel_timers(f"relay:{relay.id}:")
    members = [g for g in legs if g.state not in (rules.DECLINED, rules.CANCELLED)]
    for g in members:
        work.say_to_circle(circles[g.circle_id],
                           chain_message(relay, reports, work.services.public_url),
                           key=f"relay:{relay.id}:chain:c{g.circle_id}")
    work.audit("relay.complete", circle_id=relay.origin_circle_id, network_id=relay.network_id,
               relay_id=relay.id, reports=len(reports))


def cancel(work: Work, relay: Relay, person: Person) -> None:
    """Stop a relay; every circle of the chain is told."""
    legs = legs_of(work.session, relay.id)
    circles = circles_by_id(work.session, legs)
    relay.state, relay.finished_at = rules.RELAY_CANCELLED, work.now
    work.session.add(relay)
    for g in legs:
        if g.state in (rules.INVITED, rules.WAITING, *rules.LIVE_LEG):
            g.state = rules.CANCELLED
            work.session.add(g)
    work.cancel_timers(f"relay:{relay.id}:")
    _tell_chain(work, relay, legs, circles, "relay.cancelled_notice",
                key=f"relay:{relay.id}:cancelled", title=relay.title, who=person.display_name)


def extend(work: Work, relay: Relay, leg: RelayLeg, by: timedelta) -> None:
    """Move a live leg's deadline later and re-plan its reminders."""
    leg.deadline = utc(leg.deadline) + by
    work.session.add(leg)
    schedule_leg_timers(work, relay, leg, work.session.get(Circle, leg.circle_id))


def reorder(work: Work, relay: Relay, requested_circles: list[Circle]) -> list[RelayLeg]:
    """Put the legs still waiting in a new order (positions after the current leg)."""
    legs = legs_of(work.session, relay.id)
    waiting = [g for g in legs if g.state in (rules.WAITING, rules.INVITED)]
    by_circle = {g.circle_id: g for g in waiting}
    order = rules.reorder_remaining(list(by_circle), [c.id for c in requested_circles])
    slots = sorted(g.position for g in waiting)
    # Positions are unique per relay only by convention; move through a free range first.
    top = max(g.position for g in legs) + 1
    for i, cid in enumerate(order):
        by_circle[cid].position = top + slots[i]
        work.session.add(by_circle[cid])
    work.session.flush()
    for cid in order:
        by_circle[cid].position -= top
        work.session.add(by_circle[cid])
    work.session.flush()
    return legs_of(work.session, relay.id)


def _tell_chain(work: Work, relay: Relay, legs: list[RelayLeg], circles: dict[int, Circle],
                build, key: str, skip_circle: int | None = None, **params) -> None:
    for g in legs:
        if g.circle_id == skip_circle:
            continue
        work.say_to_circle(circles[g.circle_id], build, key=f"{key}:c{g.circle_id}", **params)


def merge_people(session: Session, source_id: int, target_id: int) -> None:
    """Reports and relays follow a person whose accounts were linked."""
    for column in (RelayPart.author_id, Relay.created_by, RelayLeg.answered_by,
                   RelayGlossaryTerm.added_by):
        repoint(session, column, source_id, target_id)
