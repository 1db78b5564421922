"""The solidarity treasury in the chats: pledges, income, contributions, draws put to a
ballot in every circle at once, payouts by stewards, the verifiable ledger and the
asymmetry report. Rules and storage live in core (`core.treasury`); this module only
reads commands and says what happened.
"""
from __future__ import annotations

import asyncio
from datetime import date, timedelta
from functools import lru_cache

from sqlalchemy import bindparam, select

from core import i18n
from core import treasury as svc
from core.ballots import BallotError, Category, DrawRequest, Urgency
from core.circles import active_circles
from core.commands import (
    COORDINATOR, MEMBER, STEWARD, Arg, Date, Feature, PositiveInt, Text, Word, choice,
)
from core.ledger import chain_to_csv, chain_to_json
from core.messages import Attachment, Outgoing
from core.money import Money, MoneyError, Rate
from core.storage.models import Circle, Network, Timer
from core.storage.treasury import (
    TreasuryBallot, TreasuryContribution, TreasuryDraw, ledger_head, load_chain,
)
from core.timekeeping import format_countdown, format_local, local_wall
from core.work import Context, Refusal, Work

from bots import treasury_words as words

feature = Feature("treasury")

_PERIODS = {"monthly": 1, "quarterly": 3, "yearly": 12}


def _money(ctx: Context, amount: str, currency: str) -> Money:
    try:
        return Money.parse(f"{amount} {currency}")
    except MoneyError as err:
        # The reason comes from the money catalog ([money]), in the member's language.
        raise Refusal("treasury.bad_amount", value=f"{amount} {currency}",
                      reason=ctx.tr(err.key, **err.params)) from None


def _open(ctx: Context) -> tuple[Network, svc.TreasurySettings]:
    """The network and its rules; the first use of a treasury gives the first stewardship."""
    network = ctx.require_network()
    settings = svc.settings_for(network)
    handover = svc.open_treasury(ctx, network, settings)
    if handover is not None:
        _announce_handover(ctx, handover)
    return network, settings


def _announce_handover(work: Work, handover: svc.Handover) -> None:
    circles = active_circles(work.session, handover.network.id, work.now)
    for c in circles:
        work.say_to_circle(c, lambda lang, c=c: words.handover_message(lang, handover, c),
                           key=f"treasury:{handover.network.id}:handover:{handover.entry.seq}:c{c.id}")


def _head(ctx: Context, network: Network) -> str:
    seq, head = ledger_head(ctx.session, network.id)
    return words.head_line(ctx.lang, seq, head)


# -- pledges, income, contributions -----------------------------------------------------------


@feature.command("treasury pledge", who=COORDINATOR, args=[
    Arg("amount", Word), Arg("currency", Word),
    Arg("period", choice(*_PERIODS), required=False, default="monthly")])
async def pledge(ctx: Context, amount: str, currency: str, period: str) -> str:
    network, _ = _open(ctx)
    rule = svc.parse_pledge(amount, currency, _PERIODS[period])
    row, entry = svc.record_pledge(ctx, network, ctx.circle, ctx.person, rule)
    ctx.audit("treasury.pledge", pledge=row.id)
    due = svc.pledge_due_now(ctx.session, ctx.circle.id)
    return ctx.tr("treasury.pledged", circle=ctx.circle.name,
                  pledge=words.pledge_text(ctx.lang, row, due), seq=entry.seq)


@feature.command("treasury income", who=COORDINATOR, args=[
    Arg("amount", Word), Arg("currency", Word), Arg("period", Word, required=False)])
async def income(ctx: Context, amount: str, currency: str, period: str | None) -> str:
    network, _ = _open(ctx)
    money = _money(ctx, amount, currency)
    if period is None:
        period = local_wall(ctx.now, ctx.circle.timezone).strftime("%Y-%m")
    try:
        date.fromisoformat(period + "-01")
    except ValueError:
        raise Refusal("treasury.bad_period", value=period) from None
    _, due, entry = svc.report_income(ctx, network, ctx.circle, ctx.person, money, period)
    text = ctx.tr("treasury.income_recorded", circle=ctx.circle.name, period=period,
                  amount=words.money_text(money, ctx.lang), seq=entry.seq)
    if due is not None:
        text += " " + ctx.tr("treasury.income_due", due=words.money_text(due, ctx.lang))
    elif svc.active_pledge(ctx.session, ctx.circle.id) is not None:
        text += " " + ctx.tr("treasury.income_other_currency")
    return text


@feature.command("treasury contribute", who=MEMBER, args=[
    Arg("amount", Word), Arg("currency", Word), Arg("note", Text, required=False, rest=True)])
async def contribute(ctx: Context, amount: str, currency: str, note: str | None) -> str:
    network, _ = _open(ctx)
    money = _money(ctx, amount, currency)
    row, entry = svc.record_contribution(ctx, network, ctx.circle, ctx.person, money, note or "")
    ctx.audit("treasury.contribute", contribution=row.id)
    return ctx.tr("treasury.contributed", number=row.id, circle=ctx.circle.name,
                  amount=words.money_text(money, ctx.lang), seq=entry.seq)


@feature.command("treasury confirm", who=STEWARD, args=[Arg("contribution", PositiveInt)])
async def confirm(ctx: Context, contribution: int) -> str:
    network, _ = _open(ctx)
    row, entry = svc.confirm_contribution(ctx, network, ctx.person, contribution)
    ctx.audit("treasury.confirm", contribution=row.id)
    money = Money(row.amount_minor, row.currency)
    giver = ctx.session.get(Circle, row.circle_id)
    balance = svc.treasury_balances(ctx.session, network.id)[row.currency]
    if giver is not None and giver.id != ctx.circle.id and giver.left_at is None:
        ctx.say_to_circle(giver, lambda lang: Outgoing(text=i18n.t(
            lang, "treasury.confirmed_for_giver", number=row.id,
            amount=words.money_text(money, lang), seq=entry.seq), lang=lang),
            key=f"treasury:contribution:{row.id}:confirmed")
    return ctx.tr("treasury.confirmed", number=row.id, circle=giver.name if giver else "?",
                  amount=words.money_text(money, ctx.lang),
                  balance=words.money_text(balance, ctx.lang)) + "\n" + _head(ctx, network)


@feature.command("treasury rate", who=STEWARD, args=[
    Arg("base", Word), Arg("quote", Word), Arg("rate", Word),
    Arg("as_of", Date, required=False)])
async def rate(ctx: Context, base: str, quote: str, rate: str, as_of: date | None) -> str:
    network, _ = _open(ctx)
    day = as_of or local_wall(ctx.now, ctx.tz).date()
    try:
        entered = Rate(base, quote, rate.replace(",", "."), day, ctx.person.id)
    except (ValueError, TypeError, ArithmeticError):
        raise Refusal("treasury.bad_rate", value=rate) from None
    entry = svc.enter_rate(ctx, network, ctx.person, entered)
    return ctx.tr("treasury.rate_entered", base=entered.base, quote=entered.quote,
                  rate=str(entered.rate), date=day.isoformat(), seq=entry.seq)


# -- draws and ballots -------------------------------------------------------------------------


@feature.command("treasury draw", who=COORDINATOR, args=[
    Arg("amount", Word), Arg("currency", Word),
    Arg("category", choice(*(c.value for c in Category))),
    Arg("urgency", choice(*(u.value for u in Urgency))),
    Arg("importance", PositiveInt), Arg("purpose", Text, rest=True)])
async def draw(ctx: Context, amount: str, currency: str, category: str, urgency: str,
               importance: int, purpose: str) -> str:
    network, settings = _open(ctx)
    money = _money(ctx, amount, currency)
    try:
        request = DrawRequest(money, Category(category), Urgency(urgency), importance, purpose,
                              ctx.circle.id)
    except BallotError as err:
        raise Refusal("treasury." + err.key, limit=1000) from None
    row, ballot, circles, entry = svc.request_draw(ctx, network, ctx.circle, ctx.person,
                                                   request, settings)
    ctx.audit("treasury.draw", draw=row.id)
    requester = ctx.circle
    for c in circles:
        ctx.say_to_circle(c, lambda lang, c=c: words.ballot_open_message(
            lang, row, ballot, requester, c, entry.seq, entry.hash),
            key=f"treasury:ballot:{row.id}:open:c{c.id}")
    return ctx.tr("treasury.draw_requested", number=row.id, count=len(circles),
                  deadline=format_local(ballot.closes_at, ctx.tz, ctx.lang))


@feature.command("treasury vote", who=MEMBER, args=[
    Arg("draw", PositiveInt), Arg("choice", choice("yes", "no", "abstain"))])
async def vote(ctx: Context, draw: int, choice: str) -> str:
    network, settings = _open(ctx)
    account = f"{ctx.account.platform}:{ctx.account.platform_user_id}"
    receipt = svc.cast_vote(ctx, draw, ctx.person, ctx.circle, ctx.membership, choice, account)
    key = "treasury.vote_changed" if receipt.previous and receipt.previous != receipt.choice \
        else "treasury.vote_recorded"
    text = ctx.tr(key, number=draw, choice=ctx.tr(f"treasury.choice_{receipt.choice.value}"),
                  circle=ctx.circle.name,
                  deadline=format_local(receipt.ballot.closes_at, ctx.tz, ctx.lang))
    if settings.show_tally:
        tally = svc.count_ballot(ctx.session, receipt.draw, receipt.ballot)
        text += "\n" + words.tally_text(ctx.lang, tally, {ctx.circle.id: ctx.circle.name},
                                         focus=ctx.circle.id, number=draw)
    return text


def _names(ctx: Context | Work, ids) -> dict[int, str]:
    """Circle names for a tally, in one query (a circle since deleted shows as its number)."""
    from sqlmodel import select
    ids = list(ids)
    found = dict(ctx.session.exec(
        select(Circle.id, Circle.name).where(Circle.id.in_(ids or [-1]))).all())
    return {cid: found.get(cid, f"#{cid}") for cid in ids}


@feature.command("treasury ballot", who=MEMBER, args=[Arg("draw", PositiveInt, required=False)])
async def ballot_status(ctx: Context, draw: int | None) -> str:
    network, settings = _open(ctx)
    if draw is None:
        from sqlmodel import select
        open_ = ctx.session.exec(select(TreasuryBallot).where(
            TreasuryBallot.network_id == network.id, TreasuryBallot.state == "open")
            .order_by(TreasuryBallot.closes_at)).all()
        if not open_:
            return ctx.tr("treasury.no_open_ballots")
        return "\n".join([ctx.tr("treasury.open_ballots")] + [
            ctx.tr("treasury.open_ballot_line", number=b.draw_id,
                   deadline=format_local(b.closes_at, ctx.tz, ctx.lang, style="short"))
            for b in open_])
    row = svc.find_draw(ctx.session, network.id, draw)
    ballot = ctx.session.get(TreasuryBallot, row.id)
    requester = ctx.session.get(Circle, row.circle_id)
    lines = [ctx.tr("treasury.ballot_status", number=row.id, circle=requester.name,
                    amount=words.money_text(words.draw_money(row), ctx.lang),
                    category=ctx.tr(f"treasury.category_{row.category}"),
                    urgency=ctx.tr(f"treasury.urgency_{row.urgency}"),
                    importance=row.importance, purpose=row.purpose,
                    state=ctx.tr(f"treasury.state_{row.state}"),
                    deadline=format_local(ballot.closes_at, ctx.tz, ctx.lang))]
    if settings.show_tally or ballot.state == "closed":
        tally = svc.count_ballot(ctx.session, row, ballot)
        lines.append(words.tally_text(ctx.lang, tally, _names(ctx, ballot.eligible)))
    else:
        lines.append(ctx.tr("treasury.tally_hidden_until_close"))
    lines.append(words.criteria_text(ctx.lang, ballot=ballot))
    return "\n".join(lines)


@feature.command("treasury draws", who=MEMBER)
async def draws(ctx: Context) -> str:
    from sqlmodel import select
    network, _ = _open(ctx)
    rows = ctx.session.exec(select(TreasuryDraw).where(TreasuryDraw.network_id == network.id)
                            .order_by(TreasuryDraw.id.desc()).limit(15)).all()
    if not rows:
        return ctx.tr("treasury.no_draws")
    lines = [ctx.tr("treasury.draws_head")]
    for d in rows:
        c = ctx.session.get(Circle, d.circle_id)
        lines.append(ctx.tr("treasury.draw_line", number=d.id, circle=c.name if c else "?",
                            amount=words.money_text(words.draw_money(d), ctx.lang),
                            category=ctx.tr(f"treasury.category_{d.category}"),
                            state=ctx.tr(f"treasury.state_{d.state}")))
    return "\n".join(lines)


def _announce_result(work: Work, result: svc.BallotResult) -> None:
    requester = work.session.get(Circle, result.draw.circle_id)
    names = {c.id: c.name for c in result.circles}
    for c in result.circles:
        if c.left_at is not None:
            continue
        work.say_to_circle(c, lambda lang: words.result_message(
            lang, result.draw, result.tally, names, requester, result.entry.seq,
            result.entry.hash), key=f"treasury:ballot:{result.draw.id}:result:c{c.id}")


@feature.timer("treasury.ballot_close")
async def _ballot_close(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    try:
        result = svc.close_ballot(work, timer.payload["draw_id"])
    except Refusal:
        return  # deadline moved or draw gone: nothing to close now
    if result is None:
        return
    _announce_result(work, result)
    if missed:
        # Closed late (the bot was down): votes after the deadline were refused all along,
        # so the count is right, but coordinators should know why the result came late.
        requester = work.session.get(Circle, result.draw.circle_id)
        if requester is not None:
            number = result.draw.id
            work.tell_coordinators(requester, lambda lang: Outgoing(text=i18n.t(
                lang, "treasury.closed_late", number=number,
                late=format_countdown(late, lang)), lang=lang),
                key=f"treasury:ballot:{number}:late")


@feature.command("treasury close", who=MEMBER, args=[Arg("draw", PositiveInt)])
async def close(ctx: Context, draw: int) -> str:
    network, _ = _open(ctx)
    row = svc.find_draw(ctx.session, network.id, draw)
    ballot = ctx.session.get(TreasuryBallot, row.id)
    if ballot.state != "open":
        return ctx.tr("treasury.already_closed", number=row.id,
                      state=ctx.tr(f"treasury.state_{row.state}"))
    if ctx.now < ballot.closes_at:
        raise Refusal("treasury.ballot_still_open", number=row.id,
                      deadline=format_local(ballot.closes_at, ctx.tz, ctx.lang))
    result = svc.close_ballot(ctx, row.id)
    ctx.cancel_timers(f"treasury:ballot:{row.id}:close")
    _announce_result(ctx, result)
    return ctx.tr("treasury.closed_now", number=row.id)


# -- paying out --------------------------------------------------------------------------------


@feature.command("treasury disburse", who=STEWARD, args=[
    Arg("draw", PositiveInt), Arg("reference", Text, required=False, rest=True)])
async def disburse(ctx: Context, draw: int, reference: str | None) -> str:
    network, settings = _open(ctx)
    outcome = svc.disburse(ctx, network, draw, ctx.person, reference or "", settings)
    ctx.audit("treasury.disburse", draw=draw, complete=outcome.entry is not None)
    if outcome.entry is None:
        key = "treasury.payout_needs_outside" if outcome.check.reason_key == \
            "needs_outside_confirmer" else "treasury.payout_needs_more"
        return ctx.tr(key, number=draw, count=outcome.check.missing or 1)
    requester = ctx.session.get(Circle, outcome.draw.circle_id)
    entry = outcome.entry
    for c in active_circles(ctx.session, network.id, ctx.now):
        ctx.say_to_circle(c, lambda lang: words.disbursed_message(
            lang, outcome.draw, requester, outcome.draw.payment_ref or "", entry.seq, entry.hash),
            key=f"treasury:draw:{draw}:paid:c{c.id}")
    return ctx.tr("treasury.paid", number=draw,
                  balance=words.money_text(outcome.balance_after, ctx.lang))


@lru_cache(maxsize=1)
def _unconfirmed():
    # Numbers of contributions waiting for a steward: asked with every balance.
    t = TreasuryContribution.__table__.c
    return (select(t.id).where(t.network_id == bindparam("network"), t.confirmed_at == None)  # noqa: E711
            .order_by(t.id))


@feature.command("treasury balance", who=MEMBER, args=[Arg("currency", Word, required=False)])
async def balance(ctx: Context, currency: str | None) -> str:
    network, _ = _open(ctx)
    held = svc.treasury_balances(ctx.session, network.id)
    waiting = ctx.session.execute(_unconfirmed(), {"network": network.id}).scalars().all()
    lines = [ctx.tr("treasury.balance", balances=words.balances_text(held, ctx.lang))]
    if waiting:
        lines.append(ctx.tr("treasury.unconfirmed", count=len(waiting),
                            numbers=i18n.join_list((f"#{n}" for n in waiting[:10]), ctx.lang)))
    if currency:
        try:
            total = held.report_total(svc.rates(ctx.session, network.id), currency,
                                      local_wall(ctx.now, ctx.tz).date())
            lines.append(ctx.tr("treasury.report_total",
                                total=words.money_text(total, ctx.lang)))
        except MoneyError as err:
            lines.append(ctx.tr("treasury.no_rate", reason=ctx.tr(err.key, **err.params)))
    lines.append(_head(ctx, network))
    return "\n".join(lines)


# -- stewards, rules -----------------------------------------------------------------------------


@feature.command("treasury stewards", who=MEMBER, aliases=("treasury rotation",))
async def stewards(ctx: Context) -> str:
    network, settings = _open(ctx)
    from sqlmodel import select
    from core.storage.models import Membership, Person
    row = svc.stewardship(ctx.session, network.id)
    if row is None:
        return ctx.tr("treasury.no_stewardship")
    on_duty = ctx.session.get(Circle, row.circle_id)
    people = ctx.session.exec(select(Person, Circle).join(Membership, Membership.person_id == Person.id)
                              .join(Circle, Circle.id == Membership.circle_id)
                              .where(Membership.is_steward == True, Membership.left_at == None,  # noqa: E712,E711
                                     Circle.network_id == network.id, Circle.left_at == None)).all()  # noqa: E711
    from core.treasury_rules import next_handover
    start = date.fromisoformat(row.rotation_start)
    following = next_handover(start, date.fromisoformat(row.term_started), row.period_months)
    order = [ctx.session.get(Circle, cid) for cid in row.circles]
    return ctx.tr("treasury.stewards", circle=on_duty.name if on_duty else "?",
                  since=row.term_started, next=following.isoformat(),
                  stewards=i18n.join_list((f"{p.display_name} ({c.name})" for p, c in people),
                                          ctx.lang) or "—",
                  order=" → ".join(c.name for c in order if c is not None),
                  months=row.period_months)


@feature.timer("treasury.handover")
async def _handover(work: Work, timer: Timer, late: timedelta, missed: bool) -> None:
    network = work.session.get(Network, timer.payload["network_id"])
    if network is None:
        return
    handover = svc.rotate_stewardship(work, network, svc.settings_for(network))
    if handover is not None:
        _announce_handover(work, handover)


@feature.command("treasury criteria", who=MEMBER, aliases=("treasury rules",))
async def criteria(ctx: Context) -> str:
    _, settings = _open(ctx)
    return words.criteria_text(ctx.lang, settings=settings)


@feature.command("treasury settings", who=COORDINATOR, args=[
    Arg("name", Word, required=False), Arg("value", Word, required=False)])
async def settings_cmd(ctx: Context, name: str | None, value: str | None) -> str:
    network, settings = _open(ctx)
    if name is None or value is None:
        return words.criteria_text(ctx.lang, settings=settings) + "\n" + \
            ctx.tr("treasury.settings_how", names=i18n.join_list(svc.SETTING_NAMES, ctx.lang))
    new = svc.change_setting(ctx, network, name, value)
    ctx.audit("treasury.settings", name=name, value=value)
    others = [c for c in active_circles(ctx.session, network.id, ctx.now) if c.id != ctx.circle.id]
    ctx.say_to_circles(others, lambda lang: Outgoing(text=i18n.t(
        lang, "treasury.settings_announce", circle=ctx.circle.name, name=name, value=value)
        + "\n" + words.criteria_text(lang, settings=new), lang=lang))
    return ctx.tr("treasury.settings_done", name=name, value=value) + "\n" + \
        words.criteria_text(ctx.lang, settings=new)


# -- the ledger and the report ------------------------------------------------------------------


@feature.command("treasury verify", who=MEMBER, args=[Arg("head", Word, required=False)])
async def verify(ctx: Context, head: str | None) -> str:
    network, _ = _open(ctx)
    v = svc.verify_ledger(ctx.session, network.id, head)
    if not v.result.ok:
        return ctx.tr("treasury.verify_bad", seq=v.result.first_bad_id or "?",
                      reason=ctx.tr(f"treasury.fault_{v.result.reason}"),
                      checked=v.result.checked)
    text = ctx.tr("treasury.verify_ok", count=v.result.checked, seq=v.seq, head=v.head)
    if v.head_found is True:
        text += "\n" + ctx.tr("treasury.verify_head_found", head=head)
    elif v.head_found is False:
        text += "\n" + ctx.tr("treasury.verify_head_missing", head=head)
    return text


@feature.command("treasury export", who=MEMBER, args=[
    Arg("format", choice("csv", "json"), required=False, default="csv")])
async def export(ctx: Context, format: str) -> Outgoing:
    network, _ = _open(ctx)
    chain = load_chain(ctx.session, network.id)
    text = chain_to_csv(chain) if format == "csv" else chain_to_json(chain)
    mime = "text/csv" if format == "csv" else "application/json"
    data = text.encode("utf-8")
    key = ctx.services.media.put(data, mime)
    seq = chain[-1].seq if chain else 0
    name = f"tessera-ledger-network{network.id}-{seq}.{format}"
    return Outgoing(text=ctx.tr("treasury.exported", count=len(chain), format=format.upper()),
                    attachments=[Attachment(kind="file", mime_type=mime, size=len(data),
                                            filename=name, path=key)], lang=ctx.lang)


@feature.command("treasury report", who=MEMBER)
async def report(ctx: Context) -> Outgoing:
    network, _ = _open(ctx)
    rows = svc.asymmetry(ctx.session, network.id)
    table = words.report_table(ctx.lang, rows)
    title = ctx.tr("treasury.chart_title", network=network.name)
    # Release the database before the slow part: this unit of work may hold SQLite's write
    # lock (a first-seen member), and other commands must not wait for a chart.
    ctx.session.commit()
    png = await asyncio.to_thread(words.render_chart, rows, title)
    key = ctx.services.media.put(png, "image/png")
    return Outgoing(text=table, attachments=[Attachment(
        kind="image", mime_type="image/png", size=len(png),
        filename=f"tessera-treasury-network{network.id}.png", path=key,
        caption=title)], lang=ctx.lang)


@feature.on_person_merge
def _merge(session, source_id: int, target_id: int) -> None:
    svc.merge_person(session, source_id, target_id)


feature.on_person_export(svc.person_data)
feature.on_circle_export(svc.circle_data)


@feature.on_person_erase
def _erase_person(work: Work, person_id: int) -> None:
    svc.erase_person(work.session, person_id)


def add_cli(sub) -> None:
    """`tessera ledger verify|export` and `tessera treasury report` (see bots.treasury_cli)."""
    from bots.treasury_cli import add_cli as add
    add(sub)
