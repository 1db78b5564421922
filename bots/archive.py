"""The living archive in chat: keep what circles learn, find it, and see the same company,
agency or bank turning up in several countries.

Actors are marked in an entry as `+[Name]`; known spellings of the network's actors are
recognised without a marker. Near-duplicate names are only ever *proposed* for merging; a
coordinator confirms. The CLI half lives in `bots.archive_cli` (`add_cli`).
"""
from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import asdict
from datetime import date

from sqlmodel import select

from bots.archive_cli import add_cli  # noqa: F401  (the lead wires it into `tessera`)
from core import i18n, markup
from core.archive import crossref as xref
from core.archive import service as svc
from core.archive.search import Filters, search_entry_ids
from core.archive.text import BadQuery, parse_tags, split_options
from core.archive.wages import compare_wages
from core.circles import find_circle
from core.commands import (
    COORDINATOR, IN_CIRCLE, MEMBER, Arg, Date, Feature, Lang, PositiveInt, Text, Word,
    choice,
)
from core.messages import Attachment, Choice, Outgoing
from core.money import Money, MoneyError
from core.storage.archive import ArchiveActor, ArchiveEntry
from core.storage.models import Circle, OutboxMessage, Person
from core.timekeeping import format_local, local_wall
from core.translation_cache import forget_texts, live_cache
from core.work import Context, Refusal

log = logging.getLogger("tessera.archive")

feature = Feature("archive")

VISIBILITY = choice(*svc.VISIBILITIES)
PERIOD = choice(*svc.PERIODS)
ENTRY_OPTIONS = frozenset({"tags", "tag", "visibility", "date", "lang", "source", "sources", "kind"})
SEARCH_OPTIONS = frozenset({"actor", "tag", "circle", "country", "kind", "since", "until"})
PAGE = 10
SNIPPET = 220


# -- helpers ------------------------------------------------------------------------------------

def _raw(ctx: Context, name_words: int) -> str:
    """What follows the command's name in the message, untouched by shell-style quoting
    (testimonies have apostrophes)."""
    pattern = r"\s*[/!]\S+" + r"\s+\S+" * (name_words - 1) + r"[ \t]*(.*)\Z"
    m = re.match(pattern, ctx.incoming.text or "", re.S)
    return m.group(1).strip() if m else ""


def _problem(exc: svc.ArchiveProblem) -> Refusal:
    return Refusal(exc.key, **exc.params)


def reader(ctx: Context) -> Filters:
    """What this chat's circle may see."""
    return Filters(network_id=ctx.network.id, circle_id=ctx.circle.id)


def kind_label(lang: str, kind: str) -> str:
    """An entry's kind as readers of `lang` call it; a network's own kinds as written."""
    return i18n.t(lang, f"archive.kind_name.{kind}") if kind in svc.DEFAULT_KINDS else kind


def actor_kind_label(lang: str, kind: str) -> str:
    """"company", "bank"... in the reader's language."""
    return i18n.t(lang, f"archive.actor_kind.{kind}") if kind in svc.ACTOR_KINDS else kind


def per_period(lang: str, period: str) -> str:
    """"per hour", "por hora", "за годину"...: a wage period as one phrase of `lang`."""
    return i18n.t(lang, f"archive.per.{period}") if period in svc.PERIODS else period


def _countries(lang: str, codes) -> str:
    return i18n.join_list(sorted(i18n.country_name(c, lang) for c in codes), lang)


def _local_today(ctx: Context) -> date:
    return local_wall(ctx.now, ctx.circle.timezone or "UTC").date()


def _entry_fields(ctx: Context, opts: dict[str, str]) -> dict:
    """Common options of every way of adding an entry."""
    tags = parse_tags(",".join(v for k, v in opts.items() if k in ("tags", "tag")))
    sources = [s.strip() for k, v in opts.items() if k in ("source", "sources")
               for s in v.split(",") if s.strip()]
    return {
        "visibility": VISIBILITY.parse(opts["visibility"]) if "visibility" in opts else "circle",
        "occurred_on": Date.parse(opts["date"]) if "date" in opts else _local_today(ctx),
        "language": Lang.parse(opts["lang"]) if "lang" in opts else (
            ctx.person.language or ctx.circle.language or "en"),
        "tags": tags, "sources": sources,
    }


def _added_reply(ctx: Context, added: svc.Added) -> Outgoing:
    e = added.entry
    lines = [ctx.tr("archive.added", id=e.id, kind=kind_label(ctx.lang, e.kind),
                    visibility=ctx.tr(f"archive.vis_{e.visibility}"))]
    if added.actors:
        lines.append(ctx.tr("archive.names",
                            actors=i18n.join_list((a.name for a in added.actors), ctx.lang)))
    choices = []
    if e.visibility == "circle":
        lines.append(ctx.tr("archive.share_hint", id=e.id))
        choices.append(Choice(ctx.tr("archive.share_button"), f"/archive share {e.id} network"))
    for p in added.proposals:
        a, b = ctx.session.get(ArchiveActor, p.actor_a), ctx.session.get(ArchiveActor, p.actor_b)
        lines.append(ctx.tr("archive.proposal_made", a=a.name, a_id=a.id, b=b.name, b_id=b.id))
    return Outgoing(text="\n".join(lines), choices=choices, lang=ctx.lang)


async def _translated(ctx: Context, text: str, source: str) -> tuple[str, str | None, bool]:
    """(text in the reader's language if a model exists, the original or None, missing model)."""
    tr = ctx.services.translator
    if not text or tr is None or not source or source == ctx.lang:
        return text, None, False
    try:
        result = await tr.translate(text, source, ctx.lang)
    except Exception:  # a broken model must not hide the archive
        log.exception("translating an archive entry %s->%s failed", source, ctx.lang)
        return text, None, False
    if getattr(result, "translated", False) and result.text != text:
        return result.text, text, False
    return text, None, bool(getattr(result, "missing_model", False))


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[:SNIPPET - 1].rstrip() + "…"


def _forget_translations(ctx, texts) -> None:
    """Drop cached translations of entries' words: what `_entry_block` gave the translator,
    the whole text and its snippet."""
    texts = [t for t in texts if t]
    forget_texts(ctx.session, [*texts, *map(_snippet, texts)], live_cache(ctx.services))


async def _entry_block(ctx: Context, entry: ArchiveEntry, full: bool = False) -> str:
    circle = ctx.session.get(Circle, entry.circle_id)
    lang = ctx.lang
    head = ctx.tr("archive.entry_head", id=entry.id, date=i18n.format_day(entry.occurred_on, lang),
                  circle=circle.name, country=i18n.country_name(circle.country, lang),
                  kind=kind_label(lang, entry.kind),
                  visibility=ctx.tr(f"archive.vis_{entry.visibility}"))
    body = entry.text if full else _snippet(entry.text)
    shown, original, missing = await _translated(ctx, body, entry.language)
    lines = [head, shown]
    if original is not None:
        lines.append(ctx.tr("archive.original", lang=i18n.language_name(entry.language, lang),
                            text=original))
    elif missing:
        lines.append(ctx.tr("archive.no_model", source=i18n.language_name(entry.language, lang),
                            target=i18n.language_name(lang, lang)))
    actors = svc.entry_actors(ctx.session, entry.id)
    if actors:
        lines.append(ctx.tr("archive.names", actors=i18n.join_list((a.name for a in actors), lang)))
    if full:
        tags = svc.entry_tags(ctx.session, entry.id)
        if tags:
            lines.append(ctx.tr("archive.tags", tags=" ".join("#" + t for t in tags)))
        if entry.sources:
            lines.append(ctx.tr("archive.sources",
                                sources=i18n.join_list(entry.sources, lang, strong=True)))
        author = ctx.session.get(Person, entry.author_id) if entry.author_id else None
        lines.append(ctx.tr("archive.by", author=author.display_name if author else "—",
                            language=i18n.language_name(entry.language, lang),
                            at=format_local(entry.created_at, ctx.tz, ctx.lang)))
    return "\n".join(lines)


def _find_visible_actor(ctx: Context, ref: str) -> ArchiveActor:
    actor = svc.find_actor(ctx.session, ctx.network.id, ref)
    if actor is None or not svc.actor_visible(ctx.session, actor.id, reader(ctx)):
        raise Refusal("archive.no_such_actor", actor=ref)
    return actor


# -- adding -------------------------------------------------------------------------------------

@feature.command("archive add", args=[Arg("kind", Word), Arg("text", Text, rest=True)],
                 who=MEMBER, where=IN_CIRCLE)
async def archive_add(ctx: Context, kind: str, text: str) -> Outgoing:
    raw = _raw(ctx, 2)
    kind_word, _, rest = raw.partition(" ")
    if not kind_word:
        kind_word, rest = kind, text
    body, opts = split_options(rest, ENTRY_OPTIONS)
    fields = _entry_fields(ctx, opts)
    try:
        added = svc.add_entry(ctx.session, circle=ctx.circle, author_id=ctx.person.id,
                              kind=kind_word, text=body, now=ctx.now, **fields)
    except svc.ArchiveProblem as p:
        raise _problem(p) from None
    ctx.audit("archive.add", entry_id=added.entry.id, kind=added.entry.kind)
    return _added_reply(ctx, added)


def _replied(ctx: Context) -> tuple[str, list[dict], str | None, str]:
    """Text, attachments, language and reference of the message being replied to.

    Platforms give the replied text; where they don't (the console, or our own long
    messages), the bot's own message is found in the outbox by its delivered reference.
    """
    rt = ctx.incoming.reply_to
    text, lang = rt.text or "", None
    attachments = [asdict(a) for a in rt.attachments if a.path]
    if rt.message_id and (not text or not attachments):
        row = ctx.session.exec(select(OutboxMessage).where(
            OutboxMessage.platform == ctx.incoming.platform,
            OutboxMessage.chat_id == ctx.incoming.chat_id,
            OutboxMessage.message_ref == rt.message_id)).first()
        if row is not None:
            sent = Outgoing.from_json(row.payload)
            text = text or markup.to_plain(sent.text)
            lang = sent.lang
            attachments = attachments or [asdict(a) for a in sent.attachments if a.path]
    keep = ("kind", "mime_type", "size", "filename", "duration", "path", "caption")
    return text, [{k: a.get(k) for k in keep} for a in attachments], lang, rt.message_id or ""


@feature.command("archive", args=[Arg("details", Text, required=False, rest=True)],
                 who=MEMBER, where=IN_CIRCLE)
async def archive_reply(ctx: Context, details: str | None) -> Outgoing | str:
    if ctx.incoming.reply_to is None:
        return ctx.tr("archive.reply_hint")
    replied, attachments, lang, ref = _replied(ctx)
    raw = _raw(ctx, 1)
    notes, opts = split_options(raw, ENTRY_OPTIONS)
    kind = opts.get("kind", "report")
    first, _, after = notes.partition(" ")
    if first and "_".join(first.lower().split("-")) in svc.kinds(ctx.session, ctx.network.id):
        kind, notes = first, after
    fields = _entry_fields(ctx, opts)
    if lang and "lang" not in opts:
        fields["language"] = lang
    if ref:
        fields["sources"] = [*fields["sources"], f"message {ref}"]
    text = "\n\n".join(t for t in (replied.strip(), notes.strip()) if t)
    try:
        added = svc.add_entry(ctx.session, circle=ctx.circle, author_id=ctx.person.id, kind=kind,
                              text=text, now=ctx.now, attachments=attachments, **fields)
    except svc.ArchiveProblem as p:
        raise _problem(p) from None
    ctx.audit("archive.add", entry_id=added.entry.id, kind=added.entry.kind, reply=True)
    return _added_reply(ctx, added)


@feature.command("archive wage", args=[Arg("wage", Text, rest=True)], who=MEMBER, where=IN_CIRCLE)
async def archive_wage(ctx: Context, wage: str) -> Outgoing:
    body, opts = split_options(_raw(ctx, 2), ENTRY_OPTIONS | {"place"})
    parts = body.split()
    money, used = None, 0
    for n in (2, 1):  # "12.50 EUR" or "12.50EUR"/"EUR12.50"
        try:
            money, used = Money.parse(" ".join(parts[:n])), n
            break
        except (MoneyError, ValueError):
            continue
    if money is None:
        raise Refusal("archive.bad_amount", value=" ".join(parts[:2]))
    if len(parts) <= used + 1:
        raise Refusal("archive.no_job")
    period_word, job_text = PERIOD.parse(parts[used]), " ".join(parts[used + 1:])
    fields = _entry_fields(ctx, opts)
    try:
        added = svc.add_wage(ctx.session, circle=ctx.circle, author_id=ctx.person.id, money=money,
                             period=period_word, job=job_text, place=opts.get("place", ""),
                             on_date=fields.pop("occurred_on"), now=ctx.now, **fields)
    except svc.ArchiveProblem as p:
        raise _problem(p) from None
    ctx.audit("archive.wage", entry_id=added.entry.id)
    return _added_reply(ctx, added)


# -- reading ------------------------------------------------------------------------------------

def _search_filters(ctx: Context, opts: dict[str, str]) -> Filters:
    f = reader(ctx)
    if "actor" in opts:
        f.actor_id = _find_visible_actor(ctx, opts["actor"]).id
    if "tag" in opts:
        f.tag = opts["tag"].lstrip("#").lower()
    if "circle" in opts:
        c = find_circle(ctx.session, ctx.network.id, opts["circle"])
        if c is None:
            raise Refusal("archive.no_such_circle", circle=opts["circle"])
        f.from_circle = c.id
    if "country" in opts:
        f.country = opts["country"].upper()
    if "kind" in opts:
        try:
            f.kind = svc.check_kind(ctx.session, ctx.network.id, opts["kind"])
        except svc.ArchiveProblem as p:
            raise _problem(p) from None
    if "since" in opts:
        f.since = Date.parse(opts["since"])
    if "until" in opts:
        f.until = Date.parse(opts["until"])
    return f


@feature.command("archive search", args=[Arg("query", Text, required=False, rest=True)],
                 who=MEMBER, where=IN_CIRCLE)
async def archive_search(ctx: Context, query: str | None) -> str:
    words, opts = split_options(_raw(ctx, 2), SEARCH_OPTIONS)
    f = _search_filters(ctx, opts)
    if not words and not opts:
        return ctx.tr("archive.search_hint")
    try:
        ids = search_entry_ids(ctx.session, words, f, limit=PAGE + 1)
    except BadQuery:
        raise Refusal("archive.bad_query") from None
    if not ids:
        return ctx.tr("archive.nothing_found", query=raw_query(words, opts))
    blocks = [ctx.tr("archive.found", count=min(len(ids), PAGE), query=raw_query(words, opts))]
    for entry_id in ids[:PAGE]:
        blocks.append(await _entry_block(ctx, ctx.session.get(ArchiveEntry, entry_id)))
    if len(ids) > PAGE:
        blocks.append(ctx.tr("archive.more"))
    return "\n\n".join(blocks)


def raw_query(words: str, opts: dict[str, str]) -> str:
    """The query as the member wrote it (for "nothing found for ...")."""
    return " ".join([words, *(f"{k}={v}" for k, v in opts.items())]).strip()


@feature.command("archive show", args=[Arg("id", PositiveInt)], who=MEMBER, where=IN_CIRCLE)
async def archive_show(ctx: Context, id: int) -> Outgoing:
    entry = svc.visible_entry(ctx.session, id, reader(ctx))
    if entry is None:
        raise Refusal("archive.no_such_entry", id=id)
    text = await _entry_block(ctx, entry, full=True)
    files = [Attachment(**a) for a in entry.attachments or []]
    return Outgoing(text=text, attachments=files, lang=ctx.lang)


@feature.command("archive withdraw", args=[Arg("id", PositiveInt)], who=MEMBER, where=IN_CIRCLE)
async def archive_withdraw(ctx: Context, id: int) -> str:
    from core.retention import release
    entry = ctx.session.get(ArchiveEntry, id)
    words = entry.text if entry is not None else ""  # gone once withdrawn
    try:
        files = svc.withdraw_entry(ctx.session, id, ctx.person.id, ctx.now)
    except svc.ArchiveProblem as p:
        raise _problem(p) from None
    release(ctx.session, ctx.services.media, files)  # unless the same file is used elsewhere
    _forget_translations(ctx, [words])
    ctx.audit("archive.withdraw", entry_id=id)
    return ctx.tr("archive.withdrawn", id=id)


@feature.command("archive share", args=[Arg("id", PositiveInt), Arg("visibility", VISIBILITY)],
                 who=MEMBER, where=IN_CIRCLE)
async def archive_share(ctx: Context, id: int, visibility: str) -> str:
    try:
        svc.set_visibility(ctx.session, id, ctx.person.id, visibility)
    except svc.ArchiveProblem as p:
        raise _problem(p) from None
    ctx.audit("archive.share", entry_id=id, visibility=visibility)
    return ctx.tr("archive.shared", id=id, visibility=ctx.tr(f"archive.vis_{visibility}"))


# -- actors and merges --------------------------------------------------------------------------

@feature.command("archive actors", who=MEMBER, where=IN_CIRCLE)
async def archive_actors(ctx: Context) -> str:
    rows = svc.visible_actors(ctx.session, reader(ctx))
    if not rows:
        return ctx.tr("archive.no_actors")
    lines = [ctx.tr("archive.actors_header")]
    for actor, n in rows:
        others = [a for a in svc.aliases_of(ctx.session, actor.id) if a != actor.name]
        lines.append(ctx.tr("archive.actor_line", id=actor.id, actor=actor.name,
                            kind=actor_kind_label(ctx.lang, actor.kind),
                            count=n, aliases=i18n.join_list(others, ctx.lang) or "—"))
    return "\n".join(lines)


@feature.command("archive actor add", args=[Arg("name", Text, rest=True)], who=COORDINATOR,
                 where=IN_CIRCLE)
async def archive_actor_add(ctx: Context, name: str) -> str:
    body, opts = split_options(_raw(ctx, 3), {"kind", "aliases"})
    try:
        actor, created, props = svc.ensure_actor(ctx.session, ctx.network.id, body, ctx.now,
                                                 ctx.person.id, kind=opts.get("kind", "company"),
                                                 listed=True)
        for alias in (a.strip() for a in opts.get("aliases", "").split(",")):
            if alias:
                svc.add_alias(ctx.session, ctx.network.id, actor, alias, ctx.person.id, ctx.now)
    except svc.ArchiveProblem as p:
        raise _problem(p) from None
    ctx.audit("archive.actor_add", actor_id=actor.id)
    lines = [ctx.tr("archive.actor_listed", id=actor.id, actor=actor.name,
                    kind=actor_kind_label(ctx.lang, actor.kind))]
    for p in props:
        a, b = ctx.session.get(ArchiveActor, p.actor_a), ctx.session.get(ArchiveActor, p.actor_b)
        lines.append(ctx.tr("archive.proposal_made", a=a.name, a_id=a.id, b=b.name, b_id=b.id))
    return "\n".join(lines)


@feature.command("archive actor", args=[Arg("actor", Text, rest=True)], who=MEMBER,
                 where=IN_CIRCLE)
async def archive_actor(ctx: Context, actor: str) -> str:
    found = _find_visible_actor(ctx, _raw(ctx, 2))
    ids = search_entry_ids(ctx.session, None, Filters(ctx.network.id, ctx.circle.id,
                                                       actor_id=found.id), limit=50)
    circles = sorted({ctx.session.get(Circle, ctx.session.get(ArchiveEntry, i).circle_id).name
                      for i in ids})
    return ctx.tr("archive.actor_info", id=found.id, actor=found.name,
                  kind=actor_kind_label(ctx.lang, found.kind),
                  aliases=i18n.join_list(svc.aliases_of(ctx.session, found.id), ctx.lang),
                  count=len(ids), circles=i18n.join_list(circles, ctx.lang) or "—",
                  entries=" ".join(f"#{i}" for i in ids) or "—")


@feature.command("archive alias", args=[Arg("actor", Word), Arg("alias", Text, rest=True)],
                 who=COORDINATOR, where=IN_CIRCLE)
async def archive_alias(ctx: Context, actor: str, alias: str) -> str:
    found = _find_visible_actor(ctx, actor)
    try:
        linked = svc.add_alias(ctx.session, ctx.network.id, found, alias, ctx.person.id, ctx.now)
    except svc.ArchiveProblem as p:
        raise _problem(p) from None
    ctx.audit("archive.alias", actor_id=found.id)
    return ctx.tr("archive.alias_added", actor=found.name, alias=alias, count=len(linked))


def _proposal_text(ctx: Context, p, a: ArchiveActor, b: ArchiveActor) -> str:
    return ctx.tr("archive.proposal_line", a=a.name, a_id=a.id, b=b.name, b_id=b.id,
                  why=ctx.tr(f"archive.why_{p.reason or 'spelling'}"),
                  a_aliases=i18n.join_list(svc.aliases_of(ctx.session, a.id), ctx.lang),
                  b_aliases=i18n.join_list(svc.aliases_of(ctx.session, b.id), ctx.lang))


@feature.command("archive merges", who=MEMBER, where=IN_CIRCLE)
async def archive_merges(ctx: Context) -> Outgoing | str:
    f = reader(ctx)
    shown = []
    for p in svc.open_proposals(ctx.session, ctx.network.id):
        if svc.actor_visible(ctx.session, p.actor_a, f) and svc.actor_visible(ctx.session, p.actor_b, f):
            shown.append((p, ctx.session.get(ArchiveActor, p.actor_a),
                          ctx.session.get(ArchiveActor, p.actor_b)))
    if not shown:
        return ctx.tr("archive.no_proposals")
    lines = [ctx.tr("archive.proposals_header")]
    choices = []
    for p, a, b in shown[:8]:
        lines.append(_proposal_text(ctx, p, a, b))
        choices.append(Choice(ctx.tr("archive.merge_button", a=a.name, b=b.name),
                              f"/archive merge {a.id} {b.id}"))
        choices.append(Choice(ctx.tr("archive.apart_button", a=a.name, b=b.name),
                              f"/archive apart {a.id} {b.id}"))
    lines.append(ctx.tr("archive.proposals_footer"))
    return Outgoing(text="\n".join(lines), choices=choices, lang=ctx.lang)


@feature.command("archive merge", args=[Arg("keep", Word), Arg("fold", Word)],
                 who=COORDINATOR, where=IN_CIRCLE)
async def archive_merge(ctx: Context, keep: str, fold: str) -> str:
    a, b = _find_visible_actor(ctx, keep), _find_visible_actor(ctx, fold)
    fold_name = b.name
    try:
        kept = svc.merge_actors(ctx.session, a, b, ctx.person.id, ctx.now)
    except svc.ArchiveProblem as p:
        raise _problem(p) from None
    ctx.audit("archive.merge", keep=a.id, fold=b.id)
    return ctx.tr("archive.merged", fold=fold_name, actor=kept.name, id=kept.id,
                  aliases=i18n.join_list(svc.aliases_of(ctx.session, kept.id), ctx.lang))


@feature.command("archive apart", args=[Arg("a", Word), Arg("b", Word)], who=COORDINATOR,
                 where=IN_CIRCLE)
async def archive_apart(ctx: Context, a: str, b: str) -> str:
    x, y = _find_visible_actor(ctx, a), _find_visible_actor(ctx, b)
    try:
        svc.keep_apart(ctx.session, x, y, ctx.person.id, ctx.now)
    except svc.ArchiveProblem as p:
        raise _problem(p) from None
    ctx.audit("archive.apart", a=x.id, b=y.id)
    return ctx.tr("archive.kept_apart", a=x.name, b=y.name)


# -- cross-reference ----------------------------------------------------------------------------

async def crossref_attachments(services, refs: list[xref.CrossRef], title: str) -> list[Attachment]:
    """The chart (PNG, drawn off the event loop) and the CSV, stored in the media store."""
    png = await asyncio.to_thread(xref.render_chart, refs, title)
    csv_bytes = xref.to_csv(refs).encode("utf-8")
    return [
        Attachment(kind="image", mime_type="image/png", size=len(png), filename="crossref.png",
                   path=services.media.put(png, "image/png")),
        Attachment(kind="file", mime_type="text/csv", size=len(csv_bytes),
                   filename="crossref.csv", path=services.media.put(csv_bytes, "text/csv")),
    ]


@feature.command("archive crossref", who=MEMBER, where=IN_CIRCLE)
async def archive_crossref(ctx: Context) -> Outgoing | str:
    refs = xref.rank(xref.crossref_rows(ctx.session, reader(ctx)))
    if not refs:
        return ctx.tr("archive.no_crossrefs")
    lines = [ctx.tr("archive.crossref_header", network=ctx.network.name, count=len(refs))]
    for i, c in enumerate(refs[:15], 1):
        lines.append(ctx.tr("archive.crossref_line", rank=i, actor=c.actor,
                            kind=actor_kind_label(ctx.lang, c.kind),
                            countries=_countries(ctx.lang, c.countries),
                            circles=i18n.join_list(sorted(c.circles.values()), ctx.lang),
                            entries=" ".join(f"#{e}" for e in c.entry_ids)))
    files = await crossref_attachments(ctx.services, refs,
                                       ctx.tr("archive.chart_title", network=ctx.network.name))
    return Outgoing(text="\n".join(lines), attachments=files, lang=ctx.lang)


# -- wages --------------------------------------------------------------------------------------

@feature.command("archive wages", args=[Arg("job", Text, required=False, rest=True)],
                 who=MEMBER, where=IN_CIRCLE)
async def archive_wages(ctx: Context, job: str | None) -> str:
    body, opts = split_options(_raw(ctx, 2), {"cur", "in"})
    target = (opts.get("cur") or opts.get("in") or "").upper() or None
    rows = svc.wages_for(ctx.session, reader(ctx), body)
    if not rows:
        return ctx.tr("archive.no_wages", job=body or "*")
    rates = svc.stewards_rates(ctx.session, ctx.network.id) if target else []
    lines = [ctx.tr("archive.wages_header", job=body or "*")]
    for (period, currency), items in compare_wages(rows, rates, target).items():
        lines.append(ctx.tr("archive.wages_group", period=per_period(ctx.lang, period),
                            currency=currency))
        for w in items:
            r = w.row
            amount = w.shown.format(ctx.lang, code=True)
            if w.converted:
                amount = ctx.tr("archive.wage_converted", amount=amount,
                                original=r.money.format(ctx.lang, code=True))
            lines.append(ctx.tr("archive.wage_line", amount=amount, circle=r.circle,
                                country=i18n.country_name(r.country, ctx.lang), job=r.job,
                                place=r.place or "—", date=i18n.format_day(r.on_date, ctx.lang),
                                id=r.entry_id))
    if target and not rates:
        lines.append(ctx.tr("archive.no_rates", currency=target))
    return "\n".join(lines)


# -- kinds and export ---------------------------------------------------------------------------

@feature.command("archive kinds", who=MEMBER, where=IN_CIRCLE)
async def archive_kinds(ctx: Context) -> str:
    return ctx.tr("archive.kinds",
                  kinds=i18n.join_list(svc.kinds(ctx.session, ctx.network.id), ctx.lang))


@feature.command("archive kind add", args=[Arg("name", Word)], who=COORDINATOR, where=IN_CIRCLE)
async def archive_kind_add(ctx: Context, name: str) -> str:
    try:
        kind = svc.add_kind(ctx.session, ctx.network.id, name)
    except svc.ArchiveProblem as p:
        raise _problem(p) from None
    ctx.audit("archive.kind_add", kind=kind)
    return ctx.tr("archive.kind_added", kind=kind)


def export_attachments(services, rows: list[dict], stem: str) -> list[Attachment]:
    """JSON and CSV files of exported rows, stored in the media store."""
    out = []
    for data, mime, ext in ((svc.export_json(rows).encode(), "application/json", "json"),
                            (svc.export_csv(rows).encode(), "text/csv", "csv")):
        out.append(Attachment(kind="file", mime_type=mime, size=len(data),
                              filename=f"{stem}.{ext}", path=services.media.put(data, mime)))
    return out


@feature.command("archive export", who=COORDINATOR, where=IN_CIRCLE)
async def archive_export(ctx: Context) -> Outgoing:
    rows = svc.export_rows(ctx.session, circle_id=ctx.circle.id)
    stem = "archive-" + re.sub(r"[^\w-]+", "-", ctx.circle.name.lower()).strip("-")
    ctx.audit("archive.export", count=len(rows))
    return Outgoing(text=ctx.tr("archive.exported", count=len(rows), circle=ctx.circle.name),
                    attachments=export_attachments(ctx.services, rows, stem), lang=ctx.lang)


@feature.on_person_merge
def _follow_person(session, source_id: int, target_id: int) -> None:
    svc.follow_person_merge(session, source_id, target_id)


__all__ = ["feature", "add_cli"]


@feature.on_person_export
def _export_person(session, person_id: int) -> dict:
    """The archive entries a person wrote, for /mydata."""
    from core.storage.archive import ArchiveEntry as _Entry
    rows = session.exec(select(_Entry).where(_Entry.author_id == person_id)).all()
    return {"entries": [{"id": e.id, "kind": e.kind, "text": e.text, "circle_id": e.circle_id,
                         "visibility": e.visibility, "status": e.status,
                         "occurred_on": str(e.occurred_on)} for e in rows]}


@feature.on_circle_export
def _export_circle(session, circle_id: int) -> dict:
    """Everything the circle archived (any visibility: it is the circle's own), with tags
    and the actors each entry names; withdrawn entries appear as their empty rows."""
    from core.storage.archive import (
        ArchiveActor as _Actor, ArchiveEntry as _Entry, ArchiveMention as _Mention,
        ArchiveTag as _Tag,
    )
    rows = session.exec(select(_Entry).where(_Entry.circle_id == circle_id)
                        .order_by(_Entry.id)).all()
    ids = [e.id for e in rows] or [-1]
    tags: dict[int, list[str]] = {}
    for entry_id, tag in session.exec(select(_Tag.entry_id, _Tag.tag)
                                      .where(_Tag.entry_id.in_(ids))).all():
        tags.setdefault(entry_id, []).append(tag)
    actors: dict[int, list[str]] = {}
    for entry_id, name in session.exec(
            select(_Mention.entry_id, _Actor.name).join(_Actor, _Actor.id == _Mention.actor_id)
            .where(_Mention.entry_id.in_(ids))).all():
        actors.setdefault(entry_id, []).append(name)
    return {"entries": [{"id": e.id, "kind": e.kind, "text": e.text, "language": e.language,
                         "visibility": e.visibility, "status": e.status,
                         "occurred_on": str(e.occurred_on), "created_at": e.created_at,
                         "author_id": e.author_id, "sources": e.sources,
                         "attachments": e.attachments, "tags": sorted(tags.get(e.id, [])),
                         "actors": sorted(actors.get(e.id, []))} for e in rows]}


@feature.on_person_erase
def _erase_person(work, person_id: int) -> None:
    """Erase the person's entries' texts, their translations and the media they attached."""
    from core.archive import erase_person_archive
    from core.retention import release
    erased = erase_person_archive(work.session, person_id)
    # Files are stored by content: the same attachment may still be someone else's.
    release(work.session, work.services.media, erased.media_keys)
    _forget_translations(work, erased.texts)
