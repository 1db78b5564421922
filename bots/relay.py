"""Relays: field reports passed from circle to circle across platforms and languages.

A coordinator starts a relay with a chain of circles; each circle accepts or declines, then
records its report during its leg (text, voice notes, audio); at the leg's end the next
circle receives it translated into its own language, with the audio, and answers it. At the
end every circle receives the whole chain. Rules live in `core.relay`, the service in
`core.relay_service`, publications in `core.publish`.
"""
from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from functools import lru_cache

from sqlalchemy import bindparam
from sqlmodel import select

from core import i18n
from core import relay as rules
from core import relay_service as svc
from core.circles import find_circle
from core.clock import utc
from core.commands import (
    COORDINATOR, MEMBER, Arg, Duration, Feature, Int, Text, Word, choice,
)
from core.messages import Attachment, Outgoing
from core.relay_audio import audio_duration
from core.relay_messages import reminder_message
from core.storage.models import Circle, OutboxMessage, Timer
from core.storage.relay import Relay, RelayGlossaryTerm, RelayLeg
from core.storage.snapshot import snapshots
from core.timekeeping import format_countdown, format_local
from core.translation_cache import forget_texts, live_cache
from core.work import Context, Refusal, Work, coordinators

feature = Feature("relay")

_RELAY_REF = re.compile(r"^#?(\d+)$")


def _refuse(err: rules.RelayRuleError):
    raise Refusal(err.key, **err.params)


# --- finding the relay a message is about ----------------------------------------------------

def _pick(ctx: Context, relay_id: int | None, leg_states, empty_key: str) -> tuple[Relay, RelayLeg]:
    """This circle's relay (and its leg) among those whose leg is in `leg_states`."""
    rows = [(r, g) for r, g in svc.relays_of_circle(ctx.session, ctx.circle.id)
            if g.state in leg_states]
    if relay_id is not None:
        rows = [(r, g) for r, g in rows if r.id == relay_id]
    ref = f" (#{relay_id})" if relay_id is not None else ""
    if not rows:
        raise Refusal(empty_key, ref=ref)
    if len(rows) > 1:
        raise Refusal("relay.which_relay",
                      ids=i18n.join_list((f"#{r.id}" for r, _ in rows), ctx.lang),
                      first=rows[0][0].id)
    return rows[0]


def _coordinated(ctx: Context, relay_id: int | None, allow_current: bool = False) -> Relay:
    """A relay this coordinator may steer: started in their circle (or, for `allow_current`,
    one whose current leg is their circle's)."""
    if relay_id is None:
        rows = svc.relays_of_circle(ctx.session, ctx.circle.id)
        if not rows:
            raise Refusal("relay.no_relay", ref="")
        if len(rows) > 1:
            raise Refusal("relay.which_relay",
                          ids=i18n.join_list((f"#{r.id}" for r, _ in rows), ctx.lang),
                          first=rows[0][0].id)
        relay = rows[0][0]
    else:
        relay = ctx.session.get(Relay, relay_id)
        if relay is None or relay.network_id != ctx.network.id:
            raise Refusal("relay.not_in_network", id=relay_id)
    if relay.origin_circle_id == ctx.circle.id:
        return relay
    if allow_current:
        live = svc.current_leg(svc.legs_of(ctx.session, relay.id))
        if live is not None and live.circle_id == ctx.circle.id:
            return relay
    origin = ctx.session.get(Circle, relay.origin_circle_id)
    raise Refusal("relay.coordinators_of_origin", origin=origin.name, id=relay.id)


def _running_leg(ctx: Context, relay: Relay) -> RelayLeg:
    leg = svc.current_leg(svc.legs_of(ctx.session, relay.id))
    if relay.state != rules.RUNNING or leg is None:
        raise Refusal("relay.not_running", id=relay.id)
    return leg


def _split_ref(text: str | None) -> tuple[int | None, str]:
    """"#3 words" -> (3, "words")."""
    words = (text or "").split(maxsplit=1)
    if words and words[0].startswith("#") and _RELAY_REF.match(words[0]):
        return int(words[0][1:]), words[1] if len(words) > 1 else ""
    return None, text or ""


# --- starting --------------------------------------------------------------------------------

@feature.command("relay start", args=[Arg("words", Text, rest=True)], who=COORDINATOR)
async def start(ctx: Context, words: str) -> str:
    try:
        req = rules.parse_start(words)
        relay = svc.create_relay(ctx, ctx.network, ctx.circle, ctx.person, req)
    except rules.RelayRuleError as e:
        _refuse(e)
    legs = svc.legs_of(ctx.session, relay.id)
    circles = svc.circles_by_id(ctx.session, legs)
    return ctx.tr("relay.created", id=relay.id, title=relay.title,
                  chain=" → ".join(circles[g.circle_id].name for g in legs),
                  hours=int(req.leg.total_seconds() // 3600))


async def _answer(ctx: Context, relay: int | None, accept: bool) -> str | None:
    r, leg = _pick(ctx, relay, (rules.INVITED,), "relay.no_invitation")
    svc.answer_invitation(ctx, r, leg, ctx.person, accept)
    return ctx.tr("relay.accepted" if accept else "relay.declined", id=r.id, title=r.title)


@feature.command("relay accept", args=[Arg("relay", Int, required=False)], who=COORDINATOR)
async def accept(ctx: Context, relay: int | None) -> str | None:
    return await _answer(ctx, relay, True)


@feature.command("relay decline", args=[Arg("relay", Int, required=False)], who=COORDINATOR)
async def decline(ctx: Context, relay: int | None) -> str | None:
    return await _answer(ctx, relay, False)


# --- reporting -------------------------------------------------------------------------------

def _store_attachment(ctx: Context, att: Attachment) -> dict:
    media = ctx.services.media
    if not att.path or not media.exists(att.path):
        raise Refusal("relay.not_stored")
    data = media.get(att.path)
    kind = rules.part_kind(att.kind, att.mime_type)
    duration = att.duration
    if duration is None and kind in ("voice", "audio"):
        duration = audio_duration(data)
    cfg = ctx.services.config["media"]
    problem = rules.check_media(len(data), duration, int(cfg["max_megabytes"] * 1048576),
                                cfg["max_minutes"] * 60)
    if problem:
        raise Refusal(problem.key, **{k: _in_notation_of(ctx.lang, v)
                                      for k, v in problem.params.items()})
    return dict(kind=kind, media_key=att.path, mime_type=att.mime_type or "application/octet-stream",
                size=len(data), duration=duration, filename=att.filename or att.path.rsplit("/", 1)[-1])


def _in_notation_of(lang: str, plain: object) -> object:
    """A number the rules wrote plainly ("30.0") as readers of `lang` write it ("30,0"),
    with as many decimals; anything else unchanged."""
    text = str(plain)
    whole, dot, decimals = text.partition(".")
    if not whole.isdigit() or (dot and not decimals.isdigit()):
        return plain
    return i18n.format_number(Decimal(text), lang, decimals=len(decimals))


def _ingest(ctx: Context, relay: Relay, leg: RelayLeg, text: str, attachments) -> str:
    """Record the parts of one message; returns the acknowledgement."""
    text = text.strip()
    if not text and not attachments:
        raise Refusal("relay.empty_report")
    stored = [_store_attachment(ctx, a) for a in attachments]
    parts = []
    if text and len(stored) != 1:
        parts.append(svc.add_part(ctx, relay, leg, ctx.circle, ctx.person, "text", text))
        text = ""
    for media in stored:
        kind = media.pop("kind")
        parts.append(svc.add_part(ctx, relay, leg, ctx.circle, ctx.person, kind, text, **media))
        text = ""
    ctx.audit("relay.report", relay_id=relay.id, leg_id=leg.id, parts=[p.number for p in parts])
    legs = svc.legs_of(ctx.session, relay.id)
    nxt = next((g for g in legs if g.state == rules.WAITING), None)
    deadline = format_local(utc(leg.deadline), ctx.circle.timezone, ctx.lang)
    last = parts[-1]
    length = rules.format_duration(last.duration)
    # "(voice, 1:20)": the length follows the kind as the next item of a list.
    params = dict(number=i18n.join_list((p.number for p in parts), ctx.lang), id=relay.id,
                  deadline=deadline, kind=ctx.tr(f"relay.kind_{last.kind}"),
                  length=i18n.join_list(["", length], ctx.lang) if length else "")
    if nxt is None:
        return ctx.tr("relay.part_recorded_last", **params)
    return ctx.tr("relay.part_recorded", next=ctx.session.get(Circle, nxt.circle_id).name, **params)


@feature.command("relay report", args=[Arg("text", Text, required=False, rest=True)], who=MEMBER)
async def report(ctx: Context, text: str | None) -> str:
    relay_id, words = _split_ref(text)
    relay, leg = _pick(ctx, relay_id, rules.LIVE_LEG, "relay.no_relay")
    return _ingest(ctx, relay, leg, words, ctx.incoming.attachments)


@feature.listener("relay replies")
async def reply_to_prompt(ctx: Context) -> bool:
    """Voice notes, audio or text sent in reply to one of the bot's relay messages here."""
    inc = ctx.incoming
    if ctx.circle is None or inc.reply_to is None or not inc.reply_to.message_id:
        return False
    row = ctx.session.exec(select(OutboxMessage).where(
        OutboxMessage.platform == inc.platform, OutboxMessage.chat_id == inc.chat_id,
        OutboxMessage.message_ref == inc.reply_to.message_id,
        OutboxMessage.idempotency_key.startswith("relay:"))).first()
    if row is None:
        return False
    relay_id = int(row.idempotency_key.split(":")[1])
    rows = [(r, g) for r, g in svc.relays_of_circle(ctx.session, ctx.circle.id)
            if r.id == relay_id and g.state in rules.LIVE_LEG]
    if not rows:
        return False
    ctx.reply(_ingest(ctx, rows[0][0], rows[0][1], inc.text, inc.attachments))
    return True


def _own_part(ctx: Context, text: str | None, kinds=None, empty="relay.nothing_to_edit"):
    relay_id, words = _split_ref(text)
    relay, leg = _pick(ctx, relay_id, rules.LIVE_LEG, "relay.no_relay")
    part = svc.authors_last_part(ctx.session, leg, ctx.person, kinds)
    if part is None:
        raise Refusal(empty)
    return relay, leg, part, words.strip()


@feature.command("relay transcript", args=[Arg("text", Text, rest=True)], who=MEMBER)
async def transcript(ctx: Context, text: str) -> str:
    _, _, part, words = _own_part(ctx, text, ("voice", "audio"), "relay.no_voice_part")
    part.transcript = words
    part.edited_at = ctx.now
    ctx.session.add(part)
    return ctx.tr("relay.transcript_added", number=part.number)


@feature.command("relay edit", args=[Arg("text", Text, rest=True)], who=MEMBER)
async def edit(ctx: Context, text: str) -> str:
    _, _, part, words = _own_part(ctx, text)
    part.text, part.edited_at = words, ctx.now
    ctx.session.add(part)
    ctx.audit("relay.edit", part_id=part.id)
    return ctx.tr("relay.edited", number=part.number, text=f"“{words}”")


@feature.command("relay withdraw", args=[Arg("relay", Int, required=False)], who=MEMBER)
async def withdraw(ctx: Context, relay: int | None) -> str:
    _, leg, part, _ = _own_part(ctx, f"#{relay}" if relay else "", empty="relay.nothing_to_withdraw")
    left = svc.withdraw_part(ctx, leg, part)
    # Reports are translated at handoff, so a live part rarely has any; a text the author
    # sent before, word for word, may.
    forget_texts(ctx.session, [part.text, part.transcript], live_cache(ctx.services))
    ctx.audit("relay.withdraw", part_id=part.id)
    return ctx.tr("relay.withdrawn", number=part.number, count=left)


# --- status ----------------------------------------------------------------------------------

def status_text(ctx: Context, relay: Relay) -> str:
    """Where the chain is, who reported, time left in each circle's local time."""
    legs = svc.legs_of(ctx.session, relay.id)
    circles = svc.circles_by_id(ctx.session, legs)
    lines = [ctx.tr("relay.status_header", id=relay.id, title=relay.title,
                    state=ctx.tr(f"relay.state_{relay.state}"))]
    for g in legs:
        c = circles[g.circle_id]
        detail = ""
        count = len(svc.live_parts(ctx.session, g.id))
        if count and g.state in (*rules.LIVE_LEG, rules.HANDED_OFF):
            detail += ctx.tr("relay.status_parts", count=count)
        if g.state in rules.LIVE_LEG and g.deadline:
            deadline = utc(g.deadline)
            detail += ctx.tr("relay.status_until", deadline=format_local(deadline, c.timezone, ctx.lang),
                             left=format_countdown(deadline - ctx.now, ctx.lang))
        lines.append(ctx.tr("relay.status_leg", position=g.position, circle=c.name, city=c.city,
                            state=ctx.tr(f"relay.leg_{g.state}"), detail=detail))
    return "\n".join(lines)


@feature.command("relay status", args=[Arg("relay", Int, required=False)], who=MEMBER)
async def status(ctx: Context, relay: int | None) -> str:
    if relay is not None:
        r = ctx.session.get(Relay, relay)
        if r is None or r.network_id != ctx.network.id:
            raise Refusal("relay.not_in_network", id=relay)
        return status_text(ctx, r)
    rows = snapshots(ctx.session, _running_relays(), {"network": ctx.network.id}, Relay)
    if not rows:
        return ctx.tr("relay.status_none")
    return "\n\n".join(status_text(ctx, r) for r in rows)


@lru_cache(maxsize=1)
def _running_relays():
    # Composed once: /relay status is asked far more often than relays change.
    r = Relay.__table__.c
    return (select(*r).where(r.network_id == bindparam("network"),
                             r.state.in_(rules.ACTIVE_RELAY)).order_by(r.id))


# --- steering --------------------------------------------------------------------------------

@feature.command("relay pass", args=[Arg("relay", Int, required=False)], who=COORDINATOR)
async def pass_(ctx: Context, relay: int | None) -> str:
    r = _coordinated(ctx, relay, allow_current=True)
    leg = _running_leg(ctx, r)
    if not svc.live_parts(ctx.session, leg.id):
        raise Refusal("relay.nothing_to_pass")
    # The handoff itself runs as a timer due now: it translates before writing, in its own
    # unit of work, the same way as at a deadline.
    ctx.schedule("relay.advance", ctx.now, f"relay:{r.id}:leg:{leg.id}:t:pass",
                 relay_id=r.id, leg_id=leg.id, action="handoff", reason="pass")
    ctx.audit("relay.pass", relay_id=r.id, leg_id=leg.id)
    return ctx.tr("relay.passing", id=r.id)


@feature.command("relay skip", args=[Arg("relay", Int, required=False)], who=COORDINATOR)
async def skip(ctx: Context, relay: int | None) -> str:
    r = _coordinated(ctx, relay)
    leg = _running_leg(ctx, r)
    ctx.schedule("relay.advance", ctx.now, f"relay:{r.id}:leg:{leg.id}:t:skip",
                 relay_id=r.id, leg_id=leg.id, action="skip", reason="coordinator")
    return ctx.tr("relay.skipping", id=r.id)


@feature.command("relay extend", args=[Arg("duration", Duration),
                                       Arg("relay", Int, required=False)], who=COORDINATOR)
async def extend(ctx: Context, duration: timedelta, relay: int | None) -> str:
    r = _coordinated(ctx, relay, allow_current=True)
    leg = _running_leg(ctx, r)
    if duration > rules.MAX_LEG:
        raise Refusal("relay.bad_leg")
    svc.extend(ctx, r, leg, duration)
    c = ctx.session.get(Circle, leg.circle_id)
    ctx.audit("relay.extend", relay_id=r.id, leg_id=leg.id, hours=duration.total_seconds() / 3600)
    return ctx.tr("relay.extended", id=r.id, circle=c.name,
                  deadline=format_local(utc(leg.deadline), c.timezone, ctx.lang))


@feature.command("relay reorder", args=[Arg("circles", Word), Arg("relay", Int, required=False)],
                 who=COORDINATOR)
async def reorder(ctx: Context, circles: str, relay: int | None) -> str:
    r = _coordinated(ctx, relay)
    wanted = []
    for ref in filter(None, (c.strip().replace("_", " ") for c in circles.split(","))):
        c = find_circle(ctx.session, ctx.network.id, ref)
        if c is None:
            raise Refusal("relay.unknown_circle", circle=ref)
        wanted.append(c)
    try:
        legs = svc.reorder(ctx, r, wanted)
    except rules.RelayRuleError as e:
        _refuse(e)
    names = {c.id: c.name for c in wanted}
    ctx.audit("relay.reorder", relay_id=r.id, order=[c.id for c in wanted])
    return ctx.tr("relay.reordered", id=r.id,
                  chain=" → ".join(names[g.circle_id] for g in legs if g.circle_id in names))


@feature.command("relay cancel", args=[Arg("relay", Int, required=False)], who=COORDINATOR)
async def cancel(ctx: Context, relay: int | None) -> str:
    r = _coordinated(ctx, relay)
    if r.state not in rules.ACTIVE_RELAY:
        raise Refusal("relay.not_running", id=r.id)
    svc.cancel(ctx, r, ctx.person)
    ctx.audit("relay.cancel", relay_id=r.id)
    return ctx.tr("relay.cancelled", id=r.id)


# --- export ----------------------------------------------------------------------------------

@feature.command("relay export", args=[Arg("relay", Int),
                                       Arg("format", choice("md", "html", "rss", "zip"),
                                           required=False, default="html")], who=MEMBER)
async def export(ctx: Context, relay: int, format: str) -> Outgoing:
    from core.media import MediaTooLarge
    from core.relay_export import export_relay

    r = ctx.session.get(Relay, relay)
    if r is None or r.network_id != ctx.network.id:
        raise Refusal("relay.not_in_network", id=relay)
    out = await export_relay(ctx.services, ctx.session, r, format, lang=ctx.circle.language,
                             now=ctx.now)
    try:
        key = ctx.services.media.put(out.data, out.mime_type)
    except MediaTooLarge:
        raise Refusal("relay.export_too_large", id=relay, format=format) from None
    return Outgoing(text=ctx.tr("relay.export_sent", id=relay, format=format, filename=out.filename),
                    attachments=[Attachment(kind="file", mime_type=out.mime_type, size=len(out.data),
                                            filename=out.filename, path=key)], lang=ctx.lang)


# --- glossary --------------------------------------------------------------------------------

def _parse_term(words: str) -> tuple[str, str, str]:
    """"rent strike = huelga de alquileres lang=es" -> (term, rendering, lang)."""
    lang = ""
    m = re.search(r"(?:^|\s)lang=([A-Za-z-]{2,10})\s*$", words)
    if m:
        lang = m.group(1).lower()
        words = words[:m.start()]
    term, sep, rendering = words.partition("=")
    term = term.strip().strip("\"'“”")
    rendering = rendering.strip().strip("\"'“”") if sep else term
    return term, rendering or term, lang


def _for_lang(ctx: Context, code: str) -> str:
    """" (into Turkish)" for a rendering meant for one language; "" for every language."""
    if not code:
        return ""
    return ctx.tr("relay.glossary_for_lang", lang=i18n.language_name(code, ctx.lang))


@feature.command("relay glossary add", args=[Arg("words", Text, rest=True)], who=COORDINATOR)
async def glossary_add(ctx: Context, words: str) -> str:
    term, rendering, lang = _parse_term(words)
    if not term:
        raise Refusal("relay.glossary_empty")
    row = ctx.session.exec(select(RelayGlossaryTerm).where(
        RelayGlossaryTerm.network_id == ctx.network.id,
        RelayGlossaryTerm.term_key == term.casefold(), RelayGlossaryTerm.target_lang == lang)).first()
    row = row or RelayGlossaryTerm(network_id=ctx.network.id, term=term, term_key=term.casefold(),
                                   target_lang=lang, rendering=rendering)
    row.rendering, row.added_by, row.added_at = rendering, ctx.person.id, ctx.now
    ctx.session.add(row)
    ctx.audit("relay.glossary.add", term=term, lang=lang)
    return ctx.tr("relay.glossary_added", term=term, rendering=rendering,
                  lang=_for_lang(ctx, lang))


@feature.command("relay glossary list", who=MEMBER)
async def glossary_list(ctx: Context) -> str:
    rows = ctx.session.exec(select(RelayGlossaryTerm).where(
        RelayGlossaryTerm.network_id == ctx.network.id).order_by(RelayGlossaryTerm.term_key)).all()
    if not rows:
        return ctx.tr("relay.glossary_empty")
    return "\n".join([ctx.tr("relay.glossary_header", network=ctx.network.name)] + [
        ctx.tr("relay.glossary_line", term=r.term, rendering=r.rendering,
               lang=_for_lang(ctx, r.target_lang))
        for r in rows])


@feature.command("relay glossary remove", args=[Arg("term", Text, rest=True)], who=COORDINATOR)
async def glossary_remove(ctx: Context, term: str) -> str:
    term, _, lang = _parse_term(term)
    q = select(RelayGlossaryTerm).where(RelayGlossaryTerm.network_id == ctx.network.id,
                                        RelayGlossaryTerm.term_key == term.casefold())
    if lang:
        q = q.where(RelayGlossaryTerm.target_lang == lang)
    rows = ctx.session.exec(q).all()
    if not rows:
        raise Refusal("relay.glossary_missing", term=term)
    for r in rows:
        ctx.session.delete(r)
    ctx.audit("relay.glossary.remove", term=term)
    return ctx.tr("relay.glossary_removed", term=term)


# --- time ------------------------------------------------------------------------------------

def _load(work: Work, timer: Timer) -> tuple[Relay | None, RelayLeg | None]:
    relay = work.session.get(Relay, timer.payload["relay_id"])
    leg = work.session.get(RelayLeg, timer.payload["leg_id"]) if "leg_id" in timer.payload else None
    return relay, leg


def _current_deadline(leg: RelayLeg, timer: Timer) -> bool:
    return leg.deadline is not None and utc(leg.deadline).isoformat() == timer.payload.get("deadline")


@feature.timer("relay.invitations_close")
async def _invitations_close(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    relay, _ = _load(work, timer)
    if relay is not None and relay.state == rules.INVITING:
        svc.close_invitations(work, relay)


@feature.timer("relay.reminder")
async def _reminder(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    relay, leg = _load(work, timer)
    if missed or relay is None or leg is None or leg.state not in rules.LIVE_LEG:
        return  # a reminder hours late would only confuse; the deadline handler speaks
    if not _current_deadline(leg, timer):
        return
    circle = work.session.get(Circle, leg.circle_id)
    count = len(svc.live_parts(work.session, leg.id))
    work.say_to_circle(circle, reminder_message(relay, circle, utc(leg.deadline), work.now, count),
                       key=f"relay:{relay.id}:leg:{leg.id}:reminded:{timer.id}")


@feature.timer("relay.deadline")
async def _deadline(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    relay, leg = _load(work, timer)
    if relay is None or leg is None or relay.state != rules.RUNNING:
        return
    if leg.state not in rules.LIVE_LEG or not _current_deadline(leg, timer):
        return
    circle = work.session.get(Circle, leg.circle_id)
    decision = rules.deadline_decision(bool(svc.live_parts(work.session, leg.id)), leg.extensions)
    if decision == "extend":
        leg.extensions += 1
        svc.extend(work, relay, leg, rules.auto_extension(timedelta(seconds=relay.leg_seconds)))
        deadline = utc(leg.deadline)
        work.say_to_circle(circle, lambda lang: Outgoing(text=work.t(
            lang, "relay.auto_extended", id=relay.id, title=relay.title,
            deadline=format_local(deadline, circle.timezone, lang)), lang=lang),
            key=f"relay:{relay.id}:leg:{leg.id}:extended:{leg.extensions}")
    else:
        await svc.advance(work, relay, leg, decision, reason="deadline")
    if missed:
        origin = work.session.get(Circle, relay.origin_circle_id)
        for person in coordinators(work.session, origin.id):
            work.say_to_person(person, "relay.missed_deadline", platform=origin.platform,
                               key=f"relay:{relay.id}:leg:{leg.id}:missed:{timer.id}:p{person.id}",
                               id=relay.id, title=relay.title, circle=circle.name,
                               late=format_countdown(late, person.language or "en"))


@feature.timer("relay.advance")
async def _advance(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    relay, leg = _load(work, timer)
    if relay is not None and leg is not None:
        await svc.advance(work, relay, leg, timer.payload["action"], timer.payload.get("reason", ""))


@feature.on_person_merge
def _merge(session, source_id: int, target_id: int) -> None:
    svc.merge_people(session, source_id, target_id)


# The command line (`tessera relay export`) lives beside the chat commands.
__all__ = ["feature", "add_cli", "cmd_export", "status_text"]
from bots.relay_cli import add_cli, cmd_export  # noqa: E402,F401


@feature.on_person_export
def _export_person(session, person_id: int) -> dict:
    """The relay report parts a person recorded, for /mydata (media listed for the zip)."""
    from core.storage.relay import RelayPart as _Part
    parts = session.exec(select(_Part).where(_Part.author_id == person_id)).all()
    return {"parts": [{"id": p.id, "kind": p.kind, "text": p.text, "transcript": p.transcript,
                       "media": p.media_key} for p in parts],
            "media": [p.media_key for p in parts if p.media_key]}


@feature.on_circle_export
def _export_circle(session, circle_id: int) -> dict:
    """Every relay the circle took part in: its leg and the reports its members gave there
    (texts, transcripts, the translations made for others, recordings by media key)."""
    from core.storage.relay import (
        Relay as _Relay, RelayLeg as _Leg, RelayPart as _Part, RelayTranslation as _Tr,
    )
    legs = session.exec(select(_Leg, _Relay).join(_Relay, _Relay.id == _Leg.relay_id)
                        .where(_Leg.circle_id == circle_id).order_by(_Leg.id)).all()
    parts = session.exec(select(_Part).where(_Part.leg_id.in_([leg.id for leg, _ in legs] or [-1]))
                         .order_by(_Part.leg_id, _Part.number)).all()
    translations: dict[int, list[dict]] = {}
    for t in session.exec(select(_Tr).where(_Tr.part_id.in_([p.id for p in parts] or [-1]))):
        translations.setdefault(t.part_id, []).append(
            {"field": t.field, "language": t.lang, "text": t.text, "status": t.status})
    by_leg: dict[int, list[dict]] = {}
    for p in parts:
        by_leg.setdefault(p.leg_id, []).append({
            "number": p.number, "kind": p.kind, "text": p.text, "transcript": p.transcript,
            "language": p.language, "media": p.media_key, "author_id": p.author_id,
            "created_at": p.created_at, "withdrawn_at": p.withdrawn_at,
            "translations": translations.get(p.id, [])})
    return {"relays": [{"relay_id": r.id, "title": r.title, "state": r.state,
                        "started_here": r.origin_circle_id == circle_id,
                        "position": leg.position, "leg_state": leg.state,
                        "opened_at": leg.opened_at, "closed_at": leg.closed_at,
                        "reports": by_leg.get(leg.id, [])} for leg, r in legs]}


@feature.on_person_erase
def _erase_person(work, person_id: int) -> None:
    """Remove what the person said in relays (texts, transcripts, translations, recordings);
    the parts stay as empty placeholders so legs and dossiers keep their shape."""
    from sqlalchemy import delete, update

    from core.retention import release
    from core.storage.relay import RelayPart as _Part, RelayTranslation as _Tr
    s, theirs = work.session, _Part.author_id == person_id
    recordings = s.exec(select(_Part.media_key).where(theirs, _Part.media_key.is_not(None))).all()
    # The translation cache holds their words in other languages: those go first, while
    # the texts that find them are still here.
    words = s.exec(select(_Part.text, _Part.transcript).where(theirs)).all()
    forget_texts(s, [w for pair in words for w in pair], live_cache(work.services))
    s.exec(delete(_Tr).where(_Tr.part_id.in_(select(_Part.id).where(theirs))))
    s.exec(update(_Part).where(theirs).values(text="", transcript=None, media_key=None))
    # Files are stored by content: the same recording may still be someone else's.
    release(s, work.services.media, recordings)
