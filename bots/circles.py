"""Circles and networks: creating a network, chats joining as circles, roles, people.

The commands every other feature stands on. A circle is one chat; a network is the
federation circles join with an invite code; a person may link accounts on several
platforms so they count once.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from functools import lru_cache

from sqlalchemy import bindparam
from sqlmodel import select

from core import circles as svc
from core import i18n
from core.commands import (
    ANYONE, COORDINATOR, IN_CIRCLE, MEMBER, Arg, Date, Feature, Lang, PositiveInt, Text, Word,
    Zone,
)
from core.messages import Outgoing
from core.storage.models import Account, Circle, Membership, Network, Person, Timer
from core.storage.snapshot import columns_of, snapshots
from core.timekeeping import format_local, resolve_local
from core.work import Context, Refusal, Work

feature = Feature("circles")

EXPIRY_NOTICE = timedelta(days=3)


def _until_instant(day, tz: str) -> datetime:
    # A circle "until 2026-12-31" runs to the end of that day in its own time zone.
    return resolve_local(datetime.combine(day + timedelta(days=1), time(0)), tz)


def _country(value: str) -> str:
    if len(value) != 2 or not value.isalpha():
        raise Refusal("circles.bad_country", value=value)
    return value.upper()


@feature.command("network create", args=[Arg("name", Text, rest=True)])
async def network_create(ctx: Context, name: str) -> str:
    net, code = svc.create_network(ctx.session, name.strip(), ctx.person, ctx.now)
    ctx.audit("network.create", network=net.name, network_id=net.id)
    return ctx.tr("circles.network_created", network=net.name, code=code.code, days=14,
                  uses=code.uses_left)


@feature.command("network info", who=MEMBER)
async def network_info(ctx: Context) -> str:
    net = ctx.require_network()
    return _circle_list(ctx, net)


@feature.command("circle join", args=[
    Arg("code", Word), Arg("city", Word), Arg("country", Word), Arg("timezone", Zone),
    Arg("language", Lang, required=False), Arg("until", Date, required=False),
])
async def circle_join(ctx: Context, code: str, city: str, country: str, timezone: str,
                      language: str | None, until) -> str:
    if ctx.incoming.is_direct:
        raise Refusal("errors.circle_only", command="circle join")
    if ctx.circle is not None:
        return ctx.tr("circles.already_circle", circle=ctx.circle.name, network=ctx.network.name)
    country = _country(country)
    try:
        net = svc.redeem_invite(ctx.session, code, ctx.now)
    except svc.InviteProblem as p:
        raise Refusal(str(p)) from None
    language = language or ctx.person.language or "en"
    until_at = _until_instant(until, timezone) if until else None
    circle = svc.register_circle(ctx.session, net, ctx.incoming, city=city.replace("_", " "),
                                 country=country, timezone=timezone, language=language,
                                 now=ctx.now, until=until_at)
    m = svc.membership_for(ctx.session, ctx.person.id, circle.id, ctx.now)
    m.is_coordinator = True
    ctx.session.add(m)
    ctx.circle, ctx.network, ctx.membership = circle, net, m
    if until_at:
        _schedule_expiry(ctx, circle)
    ctx.audit("circle.join", circle=circle.name, network_id=net.id)
    others = [c for c in svc.active_circles(ctx.session, net.id, ctx.now) if c.id != circle.id]
    ctx.say_to_circles(others, "circles.circle_joined_announce", network=net.name,
                       circle=circle.name, city=circle.city, country=i18n.Country(circle.country))
    text = ctx.tr("circles.joined", circle=circle.name, city=circle.city,
                  country=i18n.country_name(circle.country, ctx.lang),
                  network=net.name, timezone=timezone,
                  language=i18n.language_name(language, ctx.lang),
                  who=ctx.person.display_name)
    if until_at:
        text += " " + ctx.tr("circles.joined_until",
                             until=format_local(until_at, timezone, ctx.lang))
    return text


def _schedule_expiry(work: Work, circle: Circle) -> None:
    work.cancel_timers(f"circle:{circle.id}:")
    until = circle.active_until
    if until is None:
        return
    notice = until - EXPIRY_NOTICE
    if notice > work.now:
        work.schedule("circle.expiry_notice", notice, f"circle:{circle.id}:notice:{until.isoformat()}",
                      circle_id=circle.id)
    work.schedule("circle.expire", until, f"circle:{circle.id}:expire:{until.isoformat()}",
                  circle_id=circle.id)


@feature.timer("circle.expiry_notice")
async def _expiry_notice(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    circle = work.session.get(Circle, timer.payload["circle_id"])
    if circle is None or circle.left_at is not None or circle.active_until is None:
        return
    from core.timekeeping import format_countdown
    until = circle.active_until.replace(tzinfo=circle.active_until.tzinfo or timezone.utc)
    work.say_to_circle(circle, lambda lang: Outgoing(
        text=i18n.t(lang, "circles.expiry_notice", circle=circle.name,
                    until=format_local(until, circle.timezone, lang),
                    remaining=format_countdown(until - work.now, lang)), lang=lang),
        key=f"circle:{circle.id}:notice-sent:{timer.id}")


@feature.timer("circle.expire")
async def _expire(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    circle = work.session.get(Circle, timer.payload["circle_id"])
    if circle is None or circle.left_at is not None:
        return
    circle.left_at = work.now
    work.session.add(circle)
    work.say_to_circle(circle, "circles.expired", key=f"circle:{circle.id}:expired:{timer.id}",
                       circle=circle.name)
    work.audit("circle.expire", circle_id=circle.id, network_id=circle.network_id)


@feature.command("circle info", who=MEMBER)
async def circle_info(ctx: Context) -> str:
    c, net = ctx.circle, ctx.network
    members = svc.people_in_circle(ctx.session, c.id)
    coords = [p.display_name for p, m in members if m.is_coordinator]
    until = ""
    if c.active_until:
        until = ctx.tr("circles.info_until", until=format_local(c.active_until, c.timezone, ctx.lang))
    return ctx.tr("circles.info", circle=c.name, city=c.city,
                  country=i18n.country_name(c.country, ctx.lang), network=net.name,
                  timezone=c.timezone, local_time=format_local(ctx.now, c.timezone, ctx.lang),
                  language=i18n.language_name(c.language, ctx.lang), members=len(members),
                  coordinators=i18n.join_list(coords, ctx.lang) or ctx.tr("circles.none"),
                  since=format_local(c.active_from, c.timezone, ctx.lang), until=until)


def _circle_list(ctx: Context, net: Network) -> str:
    lines = [ctx.tr("circles.list_header", network=net.name)]
    for c in svc.active_circles(ctx.session, net.id, ctx.now):
        lines.append(ctx.tr("circles.list_line", id=c.id, circle=c.name, city=c.city,
                            country=i18n.country_name(c.country, ctx.lang),
                            platform=c.platform, timezone=c.timezone,
                            local_time=format_local(ctx.now, c.timezone, ctx.lang, style="short"),
                            language=i18n.language_name(c.language, ctx.lang)))
    return "\n".join(lines)


@feature.command("circle list", who=MEMBER, aliases=("circles",))
async def circle_list(ctx: Context) -> str:
    return _circle_list(ctx, ctx.require_network())


@feature.command("circle invite", who=COORDINATOR, args=[
    Arg("uses", PositiveInt, required=False, default=1),
    Arg("days", PositiveInt, required=False, default=14),
])
async def circle_invite(ctx: Context, uses: int, days: int) -> str:
    code = svc.create_invite(ctx.session, ctx.network.id, ctx.person.id, ctx.now,
                             days=min(days, 90), uses=min(uses, 100))
    ctx.audit("circle.invite", uses=code.uses_left)
    return ctx.tr("circles.invite_made", code=code.code, uses=code.uses_left,
                  until=format_local(code.expires_at, ctx.tz, ctx.lang))


@feature.command("circle leave", who=COORDINATOR)
async def circle_leave(ctx: Context) -> str:
    c, net = ctx.editable(ctx.circle), ctx.network
    c.left_at = ctx.now
    ctx.session.add(c)
    ctx.cancel_timers(f"circle:{c.id}:")
    others = [o for o in svc.active_circles(ctx.session, net.id, ctx.now) if o.id != c.id]
    ctx.say_to_circles(others, "circles.left_announce", circle=c.name, city=c.city,
                       network=net.name)
    ctx.audit("circle.leave")
    return ctx.tr("circles.left", circle=c.name, network=net.name)


_FIELDS = ("name", "city", "country", "timezone", "language", "until")


@feature.command("circle set", who=COORDINATOR, args=[Arg("field", Word), Arg("value", Text, rest=True)])
async def circle_set(ctx: Context, field: str, value: str) -> str:
    c = ctx.editable(ctx.circle)
    field = field.lower()
    if field == "tz":
        field = "timezone"
    if field == "lang":
        field = "language"
    if field not in _FIELDS:
        raise Refusal("circles.set_bad_field")
    if field == "timezone":
        value = Zone.parse(value)
    elif field == "language":
        value = Lang.parse(value)
    elif field == "country":
        value = _country(value)
    if field == "until":
        c.active_until = _until_instant(Date.parse(value), c.timezone)
        _schedule_expiry(ctx, c)
    else:
        setattr(c, field, value)
    ctx.session.add(c)
    ctx.audit("circle.set", field=field, value=str(value))
    lang = c.language if field == "language" else ctx.lang
    # Say what changed in words, not the English field keyword or a bare language code.
    shown = i18n.language_name(value, lang) if field == "language" else value
    return i18n.t(lang, "circles.set_done", field=i18n.t(lang, f"circles.field_{field}"),
                  value=shown)


@feature.command("circle members", who=MEMBER, aliases=("members",))
async def circle_members(ctx: Context) -> str:
    lines = [ctx.tr("circles.members_header", circle=ctx.circle.name)]
    for p, m in sorted(svc.people_in_circle(ctx.session, ctx.circle.id),
                       key=lambda pm: pm[0].display_name.lower()):
        roles = (ctx.tr("circles.role_coordinator") if m.is_coordinator else "") + \
                (ctx.tr("circles.role_steward") if m.is_steward else "")
        lines.append(ctx.tr("circles.member_line", name=p.display_name, roles=roles,
                            since=format_local(m.joined_at, ctx.tz, ctx.lang, style="short")))
    return "\n".join(lines)


def _target_member(ctx: Context, member: str | None) -> tuple[Person, Membership]:
    person = None
    if member:
        person = svc.find_member(ctx.session, ctx.circle.id, member)
    elif ctx.incoming.reply_to and ctx.incoming.reply_to.sender_id:
        acc = ctx.session.exec(select(Account).where(
            Account.platform == ctx.incoming.platform,
            Account.platform_user_id == ctx.incoming.reply_to.sender_id)).first()
        person = ctx.session.get(Person, acc.person_id) if acc else None
    if person is None:
        raise Refusal("circles.no_such_member", member=member or "?")
    m = svc.membership_for(ctx.session, person.id, ctx.circle.id, ctx.now)
    return person, m


def _role_command(role: str, grant: bool):
    async def handler(ctx: Context, member: str | None) -> str:
        person, m = _target_member(ctx, member)
        if role == "coordinator" and not grant:
            coords = [p for p, mm in svc.people_in_circle(ctx.session, ctx.circle.id) if mm.is_coordinator]
            if len(coords) <= 1 and m.is_coordinator:
                raise Refusal("circles.last_coordinator", member=person.display_name)
        setattr(m, f"is_{role}", grant)
        ctx.session.add(m)
        ctx.audit(f"role.{role}.{'add' if grant else 'remove'}", member=person.id)
        key = f"circles.{role}_{'added' if grant else 'removed'}"
        return ctx.tr(key, member=person.display_name, circle=ctx.circle.name)
    return handler


for _role in ("coordinator", "steward"):
    for _grant, _verb in ((True, "add"), (False, "remove")):
        feature.command(f"{_role} {_verb}", who=COORDINATOR,
                        args=[Arg("member", Text, required=False, rest=True)])(
            _role_command(_role, _grant))


def _lang_choice(code: str, reader: str) -> str:
    """"ar — Arabic (العربية)": the code to type, the name in the reader's language, and
    the language's own name so that its speakers recognise it."""
    name, own = i18n.language_name(code, reader), i18n.language_name(code)
    return f"{code} — {name}" + (f" ({own})" if own != name else "")


@feature.command("lang", args=[Arg("language", Lang, required=False)])
async def lang(ctx: Context, language: str | None) -> str:
    if language is None:
        return ctx.tr("circles.lang_list", langs=i18n.join_list(
            (_lang_choice(c, ctx.lang) for c in i18n.available_languages()), ctx.lang),
            current=i18n.language_name(ctx.lang, ctx.lang))
    ctx.editable(ctx.person).language = language
    return i18n.t(language, "circles.lang_set", language=i18n.language_name(language))


@feature.command("tz", args=[Arg("timezone", Zone, required=False)])
async def tz(ctx: Context, timezone: str | None) -> str:
    if timezone is None:
        return ctx.tr("circles.tz_show", timezone=ctx.tz,
                      local_time=format_local(ctx.now, ctx.tz, ctx.lang))
    ctx.editable(ctx.person).timezone = timezone
    return ctx.tr("circles.tz_set", timezone=timezone,
                  local_time=format_local(ctx.now, timezone, ctx.lang))


@feature.command("link", args=[Arg("code", Word, required=False)])
async def link(ctx: Context, code: str | None) -> str:
    if code is None:
        lc = svc.create_link_code(ctx.session, ctx.person, ctx.now)
        text = ctx.tr("circles.link_code", code=lc.code)
        if ctx.incoming.is_direct:
            return text
        if not ctx.say_to_person(ctx.person, lambda lang: Outgoing(
                text=i18n.t(lang, "circles.link_code", code=lc.code), lang=lang),
                prefer_platform=ctx.incoming.platform, fallback_lang=ctx.lang):
            raise Refusal("circles.link_no_private")
        return ctx.tr("circles.link_sent_privately")
    try:
        person = svc.redeem_link_code(ctx.session, code, ctx.account, ctx.now,
                                      mergers=ctx.services.registry.person_mergers)
    except svc.InviteProblem as p:
        raise Refusal(str(p)) from None
    ctx.person = person
    platforms = sorted({a.platform for a in ctx.session.exec(
        select(Account).where(Account.person_id == person.id)).all()})
    ctx.audit("person.link", platforms=platforms)
    return ctx.tr("circles.linked", platforms=i18n.join_list(platforms, ctx.lang),
                  name=person.display_name)


@lru_cache(maxsize=1)
def _whoami_statements():
    # Composed once: "who am I here" is among the most asked questions.
    a, c, m = Account.__table__, Circle.__table__, Membership.__table__
    accounts = select(*a.c).where(a.c.person_id == bindparam("person"))
    circles = (select(*columns_of(Circle, Membership)).join_from(c, m, m.c.circle_id == c.c.id)
               .where(m.c.person_id == bindparam("person"), m.c.left_at == None))  # noqa: E711
    return accounts, circles


@feature.command("whoami", aliases=("me",))
async def whoami(ctx: Context) -> str:
    s, who = ctx.session, {"person": ctx.person.id}
    accounts_q, circles_q = _whoami_statements()
    accounts = snapshots(s, accounts_q, who, Account)
    rows = snapshots(s, circles_q, who, Circle, Membership)
    circles = [c.name + (ctx.tr("circles.role_coordinator") if m.is_coordinator else "") +
               (ctx.tr("circles.role_steward") if m.is_steward else "") for c, m in rows]
    return ctx.tr("circles.whoami", name=ctx.person.display_name, id=ctx.person.id,
                  accounts=i18n.join_list((f"{a.platform}:{a.display_name or a.platform_user_id}"
                                           for a in accounts), ctx.lang),
                  circles=i18n.join_list(circles, ctx.lang) or ctx.tr("circles.none"),
                  language=i18n.language_name(ctx.lang, ctx.lang), timezone=ctx.tz)


@feature.on_event
async def chat_events(ctx: Context) -> None:
    """Keep circles and roles in step with what the platform reports."""
    inc, s = ctx.incoming, ctx.session
    if inc.event == "bot_added" and ctx.circle is None:
        ctx.reply(ctx.tr("circles.welcome"))
        return
    c = ctx.circle
    if c is None:
        return
    if inc.event == "chat_moved":
        new_id = str(inc.data["new_chat_id"])
        c = ctx.editable(c)
        c.chat_id = new_id
        s.add(c)
        from core.storage.models import OutboxMessage
        for row in s.exec(select(OutboxMessage).where(
                OutboxMessage.platform == c.platform, OutboxMessage.chat_id == inc.chat_id,
                OutboxMessage.state == "pending", OutboxMessage.direct == False)).all():  # noqa: E712
            row.chat_id = new_id
            s.add(row)
        ctx.audit("circle.moved", new_chat_id=new_id)
    elif inc.event in ("bot_removed", "chat_deleted"):
        c = ctx.editable(c)
        c.left_at = ctx.now
        s.add(c)
        ctx.cancel_timers(f"circle:{c.id}:")
        ctx.tell_coordinators(c, "circles.bot_removed", circle=c.name, network=ctx.network.name)
        ctx.audit("circle.removed", event=inc.event)
    elif inc.event in ("joined", "left", "admins"):
        for u in inc.data.get("users", []):
            acc = svc.account_for(s, inc.platform, u["user_id"], u.get("display_name", ""), ctx.now)
            m = svc.membership_for(s, acc.person_id, c.id, ctx.now,
                                   is_admin=inc.event == "admins")
            if inc.event == "left":
                m.left_at = ctx.now
                s.add(m)
