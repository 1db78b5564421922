"""What relays say in chats, in each reader's language.

Members' words and the bot's words must never blur: every line of members' words starts
with 🗣 (their original) or 🤖 (a machine translation of it, naming the languages); every
other line is the bot's own, from the catalog. Each builder is `lang -> Outgoing`, so every
circle reads the bot's words in its own language.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from core import i18n
from core.messages import Attachment, Choice, Outgoing
from core.publish.model import Links, PartView, ReportView, relay_base
from core.relay import format_duration
from core.timekeeping import format_countdown, format_local


def _t(lang: str, key: str, /, **p) -> str:
    return i18n.t(lang, key, **p)


def _name(code: str, lang: str) -> str:
    # Sentences name languages the way the reader says them ("іспанська"), never by code.
    return i18n.language_name(code, lang)


def _quote(words: str) -> str:
    # Members' words are shown inside quotes, on one block, never as bot markup.
    return "“" + words.strip().replace("**", "*").replace("__", "_").replace("`", "'") + "”"


def part_lines(lang: str, part: PartView) -> list[str]:
    """The lines of one part: what kind it is, then the original and its translation."""
    kind = _t(lang, f"relay.kind_{part.kind}")
    length = format_duration(part.duration)
    lines = [_t(lang, "relay.part_header", number=part.number, kind=kind, author=part.author,
                length=f" · {length}" if length else "")]
    for field in ("text", "transcript"):
        words = getattr(part, field)
        if not words:
            continue
        label = _t(lang, "relay.transcript_label") if field == "transcript" else ""
        lines.append(_t(lang, "relay.original", lang=_name(part.language, lang), label=label)
                     + " " + _quote(words))
        tr = part.translation(field, lang)
        if tr is None or tr.status == "same":
            continue
        if tr.status == "machine":
            via = _t(lang, "relay.via", via=i18n.language_names(tr.via, lang)) if tr.via else ""
            lines.append(_t(lang, "relay.machine", source=_name(part.language, lang),
                            target=_name(lang, lang), via=via) + " " + _quote(tr.text))
        elif tr.status == "missing":
            lines.append(_t(lang, "relay.no_model", source=_name(part.language, lang),
                            target=_name(lang, lang)))
        elif tr.status == "off":
            lines.append(_t(lang, "relay.translation_off"))
    return lines


def report_lines(lang: str, report: ReportView) -> list[str]:
    """Who is speaking (circle, city, date), then each part."""
    when = format_local(report.reported_at, report.timezone, lang) if report.reported_at else ""
    lines = [_t(lang, "relay.speaker", circle=report.circle, city=report.city,
                country=i18n.country_name(report.country, lang), date=when)]
    if report.responds_to:
        lines.append(_t(lang, "relay.responds_to", circle=report.responds_to))
    for part in report.parts:
        lines += part_lines(lang, part)
    return lines


def attachments_of(report: ReportView, lang: str) -> list[Attachment]:
    """The report's media: voice parts as voice notes (adapters without them send an audio
    file), audio as audio, the rest as files."""
    out = []
    for p in report.parts:
        if not p.media_key:
            continue
        kind = p.kind if p.kind in ("voice", "audio") else "file"
        caption = _t(lang, "relay.attachment_caption", number=p.number, circle=report.circle,
                     author=p.author)
        out.append(Attachment(kind=kind, mime_type=p.mime_type, size=p.size, filename=p.filename,
                              duration=p.duration, path=p.media_key, caption=caption))
    return out


def report_message(relay, report: ReportView, position: int, total: int):
    """The report of the circle before, as the next circle receives it."""
    def build(lang: str) -> Outgoing:
        lines = [_t(lang, "relay.delivery_header", title=relay.title, id=relay.id,
                    position=position, total=total), _t(lang, "relay.legend")]
        lines += report_lines(lang, report)
        return Outgoing(text="\n".join(lines), attachments=attachments_of(report, lang), lang=lang)
    return build


def prompt_message(relay, circle, deadline: datetime, position: int, total: int,
                   previous: str | None):
    """The invitation to report (and to answer the report before, if any)."""
    def build(lang: str) -> Outgoing:
        key = "relay.prompt_answer" if previous else "relay.prompt_first"
        text = _t(lang, key, title=relay.title, id=relay.id, position=position, total=total,
                  previous=previous or "", circle=circle.name,
                  deadline=format_local(deadline, circle.timezone, lang),
                  hours=int(relay.leg_seconds // 3600))
        return Outgoing(text=text + "\n" + _t(lang, "relay.how_to_report", id=relay.id), lang=lang)
    return build


def invitation_message(relay, origin, names: list[str], leg: timedelta):
    """A circle is asked to take part in a relay."""
    def build(lang: str) -> Outgoing:
        text = _t(lang, "relay.invitation", title=relay.title, id=relay.id, origin=origin.name,
                  city=origin.city, chain=" → ".join(names),
                  hours=int(leg.total_seconds() // 3600))
        return Outgoing(text=text, lang=lang, choices=[
            Choice(_t(lang, "relay.accept_label"), f"/relay accept {relay.id}"),
            Choice(_t(lang, "relay.decline_label"), f"/relay decline {relay.id}")])
    return build


def declined_message(relay, circle, silent: bool = False):
    """A circle left the chain before it began."""
    key = "relay.declined_silent" if silent else "relay.declined_notice"

    def build(lang: str) -> Outgoing:
        return Outgoing(text=_t(lang, key, title=relay.title, circle=circle.name,
                                city=circle.city), lang=lang)
    return build


def reminder_message(relay, circle, deadline: datetime, now: datetime, reported: int):
    """A leg's deadline is near."""
    def build(lang: str) -> Outgoing:
        key = "relay.reminder_reported" if reported else "relay.reminder_empty"
        return Outgoing(text=_t(lang, key, title=relay.title, id=relay.id, count=reported,
                                deadline=format_local(deadline, circle.timezone, lang),
                                left=format_countdown(deadline - now, lang)), lang=lang)
    return build


def chain_message(relay, reports: list[ReportView], public_url: str):
    """The whole chain, as every circle receives it at the end."""
    links = Links(relay_base(public_url, relay.id))

    def build(lang: str) -> Outgoing:
        lines = [_t(lang, "relay.chain_header", title=relay.title, id=relay.id,
                    count=len(reports)), _t(lang, "relay.legend")]
        for i, report in enumerate(reports, 1):
            lines.append("")
            lines.append(_t(lang, "relay.chain_step", step=i))
            lines += report_lines(lang, report)
        lines.append("")
        if public_url:
            lines.append(_t(lang, "relay.chain_links", dossier=links.html, feed=links.feed))
        else:
            lines.append(_t(lang, "relay.chain_export", id=relay.id))
        return Outgoing(text="\n".join(lines), lang=lang)
    return build
