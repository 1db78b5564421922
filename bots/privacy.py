"""Your data: `/mydata` hands back everything stored about you, `/forgetme` erases it, and
`/circle export` gives a circle all of its data. `/retention` shows how long the network keeps
raw media, copies of delivered messages and its audit trail, `/retention set` changes it, and
a daily timer sweeps what expired (`core.retention`). The same from the CLI (`tessera person`,
`tessera circle export`, `tessera retention sweep`)."""
from __future__ import annotations

import argparse
import io
import json
import logging
import secrets
import sys
import zipfile
from datetime import timedelta

from sqlmodel import select

from core import i18n, privacy, retention
from core.circles import active_circles
from core.commands import COORDINATOR, MEMBER, Arg, Feature, Word, choice
from core.messages import Attachment, Outgoing
from core.storage.models import Account, AdapterState, Timer
from core.timekeeping import format_countdown, format_local
from core.work import Context, Refusal, Work

feature = Feature("privacy")
log = logging.getLogger("tessera.privacy")

CONFIRM_FOR = timedelta(minutes=10)


def person_archive(ctx_or_services, session, person_id: int) -> bytes:
    """A zip with data.json and every media file the person's data points to."""
    services = getattr(ctx_or_services, "services", ctx_or_services)
    data = privacy.export_person(session, person_id, services.registry.person_exporters)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data.json", json.dumps(data, indent=2, ensure_ascii=False, default=str))
        for key in _media_keys(data):
            if services.media.exists(key):
                z.write(services.media.path(key), f"media/{key.replace('/', '_')}")
    return buf.getvalue()


def _media_keys(data) -> set[str]:
    found: set[str] = set()
    if isinstance(data, dict):
        for k, v in data.items():
            if k == "media" and isinstance(v, list):
                found |= {x for x in v if isinstance(x, str)}
            else:
                found |= _media_keys(v)
    elif isinstance(data, list):
        for v in data:
            found |= _media_keys(v)
    return found


@feature.command("mydata")
async def mydata(ctx: Context) -> str:
    blob = person_archive(ctx, ctx.session, ctx.person.id)
    key = ctx.services.media.put(blob, "application/zip")
    att = Attachment(kind="file", mime_type="application/zip", size=len(blob),
                     filename=f"tessera-my-data-{ctx.person.id}.zip", path=key)
    msg = Outgoing(text=ctx.tr("privacy.mydata_ready"), attachments=[att], lang=ctx.lang)
    if ctx.incoming.is_direct:
        ctx.reply(msg)
        return None
    if not ctx.say_to_person(ctx.person, lambda lang: msg, prefer_platform=ctx.incoming.platform):
        raise Refusal("circles.link_no_private")
    ctx.audit("privacy.export")
    return ctx.tr("privacy.sent_privately")


@feature.command("forgetme", args=[Arg("code", Word, required=False)])
async def forgetme(ctx: Context, code: str | None) -> str:
    key = f"privacy:forget:{ctx.person.id}"
    state = ctx.session.get(AdapterState, key)
    if code is None:
        new = "FORGET-" + secrets.token_hex(3).upper()
        expires = (ctx.now + CONFIRM_FOR).isoformat()
        if state is None:
            state = AdapterState(key=key, value={})
        state.value = {"code": new, "expires": expires}
        ctx.session.add(state)
        return ctx.tr("privacy.forget_confirm", code=new, minutes=int(CONFIRM_FOR.total_seconds() // 60))
    from datetime import datetime
    if (state is None or state.value.get("code") != code.upper()
            or datetime.fromisoformat(state.value["expires"]) < ctx.now):
        raise Refusal("privacy.forget_bad_code")
    ctx.session.delete(state)
    privacy.erase_person(ctx, ctx.person.id, ctx.services.registry.person_erasers)
    return ctx.tr("privacy.forgotten")


@feature.command("circle export", who=COORDINATOR)
async def circle_export(ctx: Context) -> Outgoing:
    data = privacy.export_circle(ctx.session, ctx.circle.id, ctx.services.registry.circle_exporters)
    blob = json.dumps(data, indent=2, ensure_ascii=False, default=str).encode()
    key = ctx.services.media.put(blob, "application/json")
    ctx.audit("circle.export")
    return Outgoing(text=ctx.tr("privacy.circle_export_ready", circle=ctx.circle.name),
                    attachments=[Attachment(kind="file", mime_type="application/json",
                                            size=len(blob), path=key,
                                            filename=f"tessera-circle-{ctx.circle.id}.json")],
                    lang=ctx.lang)


# -- retention -------------------------------------------------------------------------------

def _period_text(lang: str, period: retention.Period, now, tz: str) -> str:
    def days(n: int) -> str:
        if n == retention.KEEP:
            return i18n.t(lang, "privacy.retention_keep")
        return format_countdown(timedelta(days=n), lang)
    if period.waiting(now):
        return i18n.t(lang, "privacy.retention_waiting", period=days(period.days),
                      date=format_local(period.starts_at, tz, lang), previous=days(period.previous))
    return days(period.days)


def retention_text(lang: str, network, periods: retention.Retention, now, tz: str) -> str:
    """The network's periods, one line per kind of data, in `lang`."""
    lines = [i18n.t(lang, "privacy.retention_header", network=network.name)]
    for kind in retention.KINDS:
        lines.append(i18n.t(lang, "privacy.retention_line",
                            label=i18n.t(lang, f"privacy.retention_label_{kind}"),
                            period=_period_text(lang, periods.period(kind), now, tz)))
    lines.append(i18n.t(lang, "privacy.retention_footer"))
    return "\n".join(lines)


# "/retention" alone shows too; Discord's menu offers it as "/retention show" (a group name
# cannot be a command there).
@feature.command("retention show", who=MEMBER, aliases=("retention",))
async def retention_show(ctx: Context) -> str:
    network = ctx.require_network()
    periods = retention.retention_for(network, ctx.services.config)
    return retention_text(ctx.lang, network, periods, ctx.now, ctx.tz)


@feature.command("retention set", who=COORDINATOR,
                 args=[Arg("what", choice(*retention.KINDS)), Arg("days", Word)])
async def retention_set(ctx: Context, what: str, days: str) -> str:
    network = ctx.editable(ctx.require_network())
    try:
        wanted = retention.parse_days(days)
    except retention.RetentionProblem as p:
        raise Refusal(p.key, **p.params) from None
    config = ctx.services.config
    before = retention.retention_for(network, config).period(what)
    label = lambda lang: i18n.t(lang, f"privacy.retention_label_{what}")  # noqa: E731
    if wanted == before.days:  # (sent again during its notice: the notice does not restart)
        return ctx.tr("privacy.retention_unchanged", label=label(ctx.lang),
                      period=_period_text(ctx.lang, before, ctx.now, ctx.tz))
    period = retention.change(network, what, wanted, ctx.now, config)
    ctx.session.add(network)
    ctx.audit("retention.set", kind=what, days=wanted)

    def when(lang: str, tz: str) -> str:
        if period.starts_at is None:
            return i18n.t(lang, "privacy.retention_from_now")
        return i18n.t(lang, "privacy.retention_from_date",
                      date=format_local(period.starts_at, tz, lang))
    shown = retention.Period(period.days)  # the new period itself, without the waiting note
    others = [c for c in active_circles(ctx.session, network.id, ctx.now) if c.id != ctx.circle.id]
    for c in others:
        ctx.say_to_circle(c, lambda lang, c=c: Outgoing(text=i18n.t(
            lang, "privacy.retention_announce", circle=ctx.circle.name, label=label(lang),
            period=_period_text(lang, shown, ctx.now, c.timezone), when=when(lang, c.timezone)),
            lang=lang))
    key = "privacy.retention_set_later" if period.starts_at else "privacy.retention_set_now"
    return ctx.tr(key, label=label(ctx.lang), period=_period_text(ctx.lang, shown, ctx.now, ctx.tz),
                  when=when(ctx.lang, ctx.tz),
                  previous=_period_text(ctx.lang, retention.Period(period.previous or 0),
                                        ctx.now, ctx.tz))


@feature.timer(retention.SWEEP_TIMER)
async def _sweep(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    """The daily sweep (and its follow-ups while a backlog remains)."""
    try:
        report = await retention.sweep(work)
    except Exception:
        # A failing sweep must not retry every few seconds: undo it, log why, and try again
        # tomorrow (waiting a day loses nothing).
        log.exception("retention sweep failed; the next one runs tomorrow")
        work.session.rollback()
        report = None
    retention.plan_next(work, report)


# -- CLI -----------------------------------------------------------------------------------
def _app(args):
    from bots.app import build_app
    from core.config import load_config
    return build_app(load_config(getattr(args, "config", None)))


def _person_id(session, ref: str) -> int:
    platform, _, account = ref.partition(":")
    acc = session.exec(select(Account).where(Account.platform == platform,
                                             Account.platform_user_id == account)).first()
    if acc is None:
        raise SystemExit(f"no account {ref!r} (write it as platform:account_id)")
    return acc.person_id


def cmd_person_export(args) -> int:
    from core.storage import unit_of_work
    app = _app(args)
    with unit_of_work(app.services.engine) as s:
        blob = person_archive(app.services, s, _person_id(s, args.account))
    (open(args.output, "wb") if args.output else sys.stdout.buffer).write(blob)
    return 0


def cmd_person_erase(args) -> int:
    from core.storage import unit_of_work
    from core.work import Work
    if not args.yes:
        print("Erasure cannot be undone. Run again with --yes.")
        return 2
    app = _app(args)
    with unit_of_work(app.services.engine) as s:
        pid = _person_id(s, args.account)
        privacy.erase_person(Work(app.services, s, app.services.clock.now()), pid,
                             app.registry.person_erasers)
    print(f"erased person #{pid}")
    return 0


def cmd_circle_export(args) -> int:
    from core.storage import unit_of_work
    app = _app(args)
    with unit_of_work(app.services.engine) as s:
        data = privacy.export_circle(s, args.circle, app.registry.circle_exporters)
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    (open(args.output, "w") if args.output else sys.stdout).write(text + "\n")
    return 0


def cmd_retention_sweep(args) -> int:
    import asyncio
    import time

    from core.storage import unit_of_work
    from core.work import Work
    app = _app(args)
    runs = 0
    while True:
        started = time.perf_counter()
        with unit_of_work(app.services.engine) as s:
            report = asyncio.run(retention.sweep(Work(app.services, s, app.services.clock.now())))
        runs += 1
        print(f"run {runs}: {report.media} media rows ({report.files} files), "
              f"{report.messages} messages, {report.audit} audit entries, "
              f"{report.translations} cached translations, {report.unclaimed} unclaimed files "
              f"in {(time.perf_counter() - started) * 1000:.0f} ms")
        if not report.more or not args.until_done:
            break
    app.services.engine.dispose()
    return 0


def add_cli(sub: argparse._SubParsersAction) -> None:
    """Add `tessera person export|erase`, `tessera circle export` and `tessera retention`."""
    p = sub.add_parser("person", help="export or erase what is stored about a person")
    psub = p.add_subparsers(dest="person_command", metavar="ACTION", required=True)
    e = psub.add_parser("export", help="everything stored about a person, as a zip (JSON + media)")
    e.add_argument("account", help="platform:account_id, e.g. telegram:12345")
    e.add_argument("-o", "--output", help="file to write (default: standard output)")
    e.set_defaults(func=cmd_person_export)
    r = psub.add_parser("erase", help="erase a person's personal data (ledgers stay consistent)")
    r.add_argument("account", help="platform:account_id")
    r.add_argument("--yes", action="store_true", help="really erase")
    r.set_defaults(func=cmd_person_erase)
    c = sub.add_parser("circle", help="circle tools")
    csub = c.add_subparsers(dest="circle_command", metavar="ACTION", required=True)
    x = csub.add_parser("export", help="all of a circle's data as JSON")
    x.add_argument("circle", type=int, help="the circle's id (see /circles)")
    x.add_argument("-o", "--output", help="file to write (default: standard output)")
    x.set_defaults(func=cmd_circle_export)
    t = sub.add_parser("retention", help="the retention sweep (normally run daily by the scheduler)")
    tsub = t.add_subparsers(dest="retention_command", metavar="ACTION", required=True)
    w = tsub.add_parser("sweep", help="remove now what every network's retention periods let go")
    w.add_argument("--until-done", action="store_true",
                   help="repeat while batches come back full (a large backlog)")
    w.set_defaults(func=cmd_retention_sweep)
