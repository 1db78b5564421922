"""The relay dossier: Markdown and a self-contained HTML page.

Each report shows its circle, city and date, then every part with the original and the
translation side by side, transcripts and links to the audio. Members' words are always
labelled as such, and machine translations as machine translations.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from core import i18n, markup
from core.publish.model import DossierView, Links, PartView
from core.relay import format_duration
from core.timekeeping import format_local

TEMPLATES = Path(__file__).parent / "templates"


def _t(lang: str, key: str, /, **p) -> str:
    return i18n.t(lang, "relay.pub." + key, **p)


def translation_note(lang: str, part: PartView, field: str) -> tuple[str, str | None]:
    """(label, translated text or None) for a part's words in the dossier's language."""
    tr = part.translation(field, lang)
    same_lang = part.language.split("-")[0] == lang.split("-")[0]
    # Languages are named in the dossier's language ("Spanish", "іспанська"), not by code.
    source, target = i18n.language_name(part.language, lang), i18n.language_name(lang, lang)
    if same_lang or (tr is not None and tr.status == "same"):
        return _t(lang, "same", lang=source), None
    if tr is None:
        return _t(lang, "untranslated", lang=target), None
    if tr.status == "machine":
        return _t(lang, "translation", source=source, target=target), tr.text
    if tr.status == "missing":
        return _t(lang, "missing", source=source, target=target), None
    return _t(lang, "off"), None


def _context(view: DossierView, links: Links) -> dict:
    lang = view.lang
    reports = []
    for r in view.reports:
        parts = []
        for p in r.parts:
            fields = []
            for name in ("text", "transcript"):
                words = getattr(p, name)
                if not words:
                    continue
                label, translated = translation_note(lang, p, name)
                fields.append({"is_transcript": name == "transcript", "original": words,
                               "label": label, "translated": translated})
            parts.append({
                "number": p.number, "kind": i18n.t(lang, f"relay.kind_{p.kind}"), "author": p.author,
                "language": p.language, "rtl": markup.is_rtl(p.language), "fields": fields,
                "media": links.media(p.media_key) if p.media_key else None,
                "is_audio": p.is_audio, "mime_type": p.mime_type, "filename": p.filename,
                "audio_label": _t(lang, "audio", kind=i18n.t(lang, f"relay.kind_{p.kind}"),
                                  length=format_duration(p.duration) or "?"),
                "download": _t(lang, "download", filename=p.filename or "file"),
            })
        reports.append({
            "position": r.position, "circle": r.circle, "city": r.city, "country": r.country,
            "date": format_local(r.reported_at, r.timezone, lang) if r.reported_at else "",
            "responds": _t(lang, "responds", circle=r.responds_to) if r.responds_to else "",
            "parts": parts, "anchor": f"leg-{r.leg_id}",
        })
    return {
        "lang": lang, "rtl": markup.is_rtl(lang), "view": view, "reports": reports,
        "heading": _t(lang, "heading", title=view.title),
        "subtitle": _t(lang, "subtitle", count=len(view.chain), network=view.network),
        "chain_label": _t(lang, "chain"), "chain": view.chain,
        "original_label": lambda p: _t(lang, "original",
                                       lang=i18n.language_name(p["language"], lang)),
        "transcript_label": _t(lang, "transcript"),
        "feed_link": links.feed, "feed_label": _t(lang, "feed_link"),
        "markdown_link": links.markdown, "markdown_label": _t(lang, "markdown_link"),
        "generated": _t(lang, "generated", date=format_local(view.generated_at, "UTC", lang)),
    }


@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(str(TEMPLATES)),
                       autoescape=select_autoescape(["html", "j2"]),
                       trim_blocks=True, lstrip_blocks=True)


def render_html(view: DossierView, links: Links) -> str:
    """A self-contained HTML page (inline style, no scripts) of the dossier."""
    return _environment().get_template("dossier.html.j2").render(**_context(view, links))


def _md_quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.splitlines())


def render_markdown(view: DossierView, links: Links) -> str:
    """The dossier in Markdown (members' words quoted, translations labelled)."""
    c = _context(view, links)
    out = [f"# {c['heading']}", "", c["subtitle"], "", f"**{c['chain_label']}:** " +
           " → ".join(c["chain"]), "", f"[{c['feed_label']}]({c['feed_link']})", ""]
    for r in c["reports"]:
        out += [f"## {r['position']}. {r['circle']} ({r['city']}, {r['country']})", "",
                f"*{r['date']}*", ""]
        if r["responds"]:
            out += [f"*{r['responds']}*", ""]
        for p in r["parts"]:
            out += [f"### {p['number']} · {p['kind']} · {p['author']}", ""]
            if p["media"]:
                label = p["audio_label"] if p["is_audio"] else p["download"]
                out += [f"[{label}]({p['media']})", ""]
            for f in p["fields"]:
                head = c["transcript_label"] + " — " if f["is_transcript"] else ""
                out += [f"**{head}{c['original_label'](p)}**", "", _md_quote(f["original"]), ""]
                out += [f"**{f['label']}**", ""]
                if f["translated"]:
                    out += [_md_quote(f["translated"]), ""]
    out += ["---", "", c["generated"], ""]
    return "\n".join(out)
