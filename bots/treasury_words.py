"""What the treasury says: ballot openings with their poll, results, handovers, the
asymmetry table and chart. Each builder takes a language so every circle reads its own."""
from __future__ import annotations

import io
import re
from datetime import datetime

from core import i18n
from core.ballots import Tally
from core.messages import Choice as Button
from core.messages import Outgoing, Poll
from core.money import Balances, Money
from core.storage.models import Circle
from core.storage.treasury import TreasuryBallot, TreasuryDraw, TreasuryPledge
from core.timekeeping import format_local
from core.treasury import CircleAccount, Handover, TreasurySettings, ballot_policy


def money_text(money: Money, lang: str) -> str:
    """An amount with its ISO code, as readers of `lang` write numbers ("EUR 300.00")."""
    try:
        text = money.format(lang, code=True)
    except Exception:  # a language Babel lacks: the locale-free form is always right
        return str(money)
    # CLDR glues the code to the digits in some locales ("EUR2,500.00"); keep them apart.
    text = re.sub(r"([A-Z]{3})(?=[-\d])", r"\1 ", text)
    return re.sub(r"(\d)([A-Z]{3})", r"\1 \2", text)


def balances_text(balances: Balances, lang: str) -> str:
    """"EUR 300.00 · NGN 5,000.00", or "0" when empty."""
    return " · ".join(money_text(m, lang) for m in balances) or "0"


def share_text(fraction_text: str) -> str:
    """Quorum/threshold settings as typed ("1/2", "50%")."""
    return str(fraction_text)


def head_line(lang: str, seq: int, head: str) -> str:
    """The published head of the ledger, so a rewritten history can be detected."""
    return i18n.t(lang, "treasury.head_line", seq=seq, head=head)


def draw_money(draw: TreasuryDraw) -> Money:
    """The draw's amount."""
    return Money(draw.amount_minor, draw.currency)


def criteria_text(lang: str, settings: TreasurySettings | None = None,
                  ballot: TreasuryBallot | None = None) -> str:
    """The rules that decide: counting, quorum, threshold, deadlines, eligibility, payout."""
    if ballot is not None:
        policy = ballot_policy(ballot)
    else:
        policy = settings.policy
    counting = i18n.t(lang, f"treasury.counting_{policy.counting.value}")
    hours = {u.value: int(d.total_seconds() // 3600) for u, d in policy.deadlines.items()}
    text = i18n.t(lang, "treasury.criteria", counting=counting,
                  quorum=_percent(policy.quorum), threshold=_percent(policy.threshold),
                  compare=i18n.t(lang, "treasury.at_least" if policy.threshold_inclusive
                                 else "treasury.more_than"),
                  normal=hours["normal"], high=hours["high"], critical=hours["critical"],
                  days=policy.min_membership_age.days)
    if settings is not None:
        text += "\n" + i18n.t(lang, "treasury.criteria_payout",
                              count=settings.payout.confirmations_required,
                              months=settings.rotation_months,
                              tally=i18n.t(lang, "treasury.tally_shown" if settings.show_tally
                                           else "treasury.tally_hidden"))
    return text


def _percent(share) -> str:
    value = share * 100
    if value.denominator == 1:
        return f"{value.numerator} %"
    return f"{float(value):.1f} %"


def ballot_open_message(lang: str, draw: TreasuryDraw, ballot: TreasuryBallot,
                        requester: Circle, circle: Circle, seq: int, head: str) -> Outgoing:
    """The ballot as it opens in one circle's chat: what is asked, the rules, the deadline in
    that circle's local time, and a poll (buttons or commands where there are no polls)."""
    deadline = format_local(ballot.closes_at, circle.timezone, lang)
    text = "\n".join([
        i18n.t(lang, "treasury.ballot_open", number=draw.id, circle=requester.name,
               city=requester.city, amount=money_text(draw_money(draw), lang),
               category=i18n.t(lang, f"treasury.category_{draw.category}"),
               urgency=i18n.t(lang, f"treasury.urgency_{draw.urgency}"),
               importance=draw.importance, purpose=draw.purpose, deadline=deadline),
        criteria_text(lang, ballot=ballot),
        i18n.t(lang, "treasury.ballot_how", number=draw.id),
        head_line(lang, seq, head),
    ])
    return Outgoing(text=text, poll=ballot_poll(lang, draw, requester), lang=lang)


def ballot_poll(lang: str, draw: TreasuryDraw, requester: Circle) -> Poll:
    """The poll of a ballot, ref "ballot:<number>"; every option is also a command."""
    question = i18n.t(lang, "treasury.poll_question", number=draw.id, circle=requester.name,
                      amount=money_text(draw_money(draw), lang))
    options = [Button(i18n.t(lang, f"treasury.choice_{c}"), f"/treasury vote {draw.id} {c}")
               for c in ("yes", "no", "abstain")]
    return Poll(question=question[:250], options=options, ref=f"ballot:{draw.id}")


def tally_text(lang: str, tally: Tally, names: dict[int, str], focus: int | None = None,
               number: int | None = None) -> str:
    """The overall state and per circle counts; with `focus`, only that circle's line and
    a pointer to `/treasury ballot <number>` for the others (a vote's reply in a network of
    fifty circles should not be fifty lines long)."""
    lines = [i18n.t(lang, "treasury.tally_head", yes=tally.yes, no=tally.no,
                    abstain=tally.abstain, took_part=tally.took_part, eligible=tally.eligible,
                    unit=i18n.t(lang, f"treasury.unit_{tally.counting.value}"))]
    for cid, count in tally.per_circle.items():
        if focus is not None and cid != focus:
            continue
        decision = count.decision.value if count.decision else "none"
        lines.append(i18n.t(lang, "treasury.tally_circle", circle=names.get(cid, f"#{cid}"),
                            yes=count.yes, no=count.no, abstain=count.abstain,
                            decision=i18n.t(lang, f"treasury.decision_{decision}")))
    others = len(tally.per_circle) - (focus in tally.per_circle)
    if focus is not None and others > 0:
        lines.append(i18n.t(lang, "treasury.tally_others", count=others, number=number))
    return "\n".join(lines)


def result_message(lang: str, draw: TreasuryDraw, tally: Tally, names: dict[int, str],
                   requester: Circle, seq: int, head: str) -> Outgoing:
    """The result, announced in every chat; `close_ref` stops the native polls."""
    key = "treasury.result_approved" if tally.approved else "treasury.result_rejected"
    text = "\n".join([
        i18n.t(lang, key, number=draw.id, circle=requester.name,
               amount=money_text(draw_money(draw), lang),
               reason=i18n.t(lang, f"treasury.reason_{tally.reason_key}")),
        tally_text(lang, tally, names),
        head_line(lang, seq, head),
    ])
    return Outgoing(text=text, close_ref=f"ballot:{draw.id}", lang=lang)


def handover_message(lang: str, handover: Handover, circle: Circle) -> Outgoing:
    """The stewardship changed hands."""
    names = i18n.join_list((p.display_name for p in handover.stewards), lang) or "—"
    key = "treasury.handover_first" if handover.from_circle is None else "treasury.handover"
    text = "\n".join([
        i18n.t(lang, key, to_circle=handover.to_circle.name,
               from_circle=handover.from_circle.name if handover.from_circle else "",
               stewards=names, next=handover.next_handover.isoformat()),
        head_line(lang, handover.entry.seq, handover.entry.hash),
    ])
    return Outgoing(text=text, lang=lang)


def disbursed_message(lang: str, draw: TreasuryDraw, requester: Circle, reference: str,
                      seq: int, head: str) -> Outgoing:
    """An approved draw was paid out."""
    text = "\n".join([
        i18n.t(lang, "treasury.disbursed_announce", number=draw.id, circle=requester.name,
               amount=money_text(draw_money(draw), lang), reference=reference),
        head_line(lang, seq, head),
    ])
    return Outgoing(text=text, lang=lang)


def pledge_text(lang: str, pledge: TreasuryPledge | None, due: Money | None) -> str:
    """"3 % of income (= EUR 75.00)", "EUR 50.00", or "—"."""
    if pledge is None:
        return "—"
    if pledge.kind == "share":
        share = f"{pledge.basis_points / 100:g} %"
        text = i18n.t(lang, "treasury.pledge_share", share=share, currency=pledge.currency)
        if due is not None:
            text += f" (= {money_text(due, lang)})"
    else:
        text = money_text(Money(pledge.amount_minor, pledge.currency), lang)
    months = pledge.period_months
    return text + i18n.t(lang, "treasury.per_months", count=months)


def report_table(lang: str, rows: list[CircleAccount]) -> str:
    """The asymmetry report as a short table for a chat."""
    lines = [i18n.t(lang, "treasury.report_head")]
    for r in rows:
        cats = i18n.join_list((f"{i18n.t(lang, f'treasury.category_{k}')} {v}"
                               for k, v in sorted(r.draws_by_category.items())), lang) or "—"
        lines.append(i18n.t(lang, "treasury.report_line", circle=r.name,
                            pledged=pledge_text(lang, r.pledge, r.pledge_due),
                            contributed=balances_text(r.contributed, lang),
                            drawn=balances_text(r.drawn, lang), categories=cats,
                            took=r.ballots_taken_part, of=r.ballots_eligible))
    return "\n".join(lines)


def report_csv(rows: list[CircleAccount]) -> str:
    """The asymmetry report as CSV: one line per circle and currency (amounts in minor units
    and in major units; currencies are never summed together)."""
    import csv

    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(["circle_id", "circle", "active", "currency", "pledge", "pledge_due",
                "contributed", "drawn", "contributed_minor", "drawn_minor", "draws_by_category",
                "ballots_taken_part", "ballots_eligible"])
    for r in rows:
        currencies = sorted(set(r.contributed.currencies) | set(r.drawn.currencies)
                            | ({r.pledge.currency} if r.pledge else set())) or [""]
        pledge = ""
        if r.pledge is not None:
            pledge = (f"{r.pledge.basis_points} bp" if r.pledge.kind == "share"
                      else str(Money(r.pledge.amount_minor, r.pledge.currency)))
            pledge += f" / {r.pledge.period_months} month(s)"
        cats = ";".join(f"{k}={v}" for k, v in sorted(r.draws_by_category.items()))
        for cur in currencies:
            c = r.contributed[cur] if cur else None
            d = r.drawn[cur] if cur else None
            due = r.pledge_due if r.pledge_due is not None and r.pledge_due.currency == cur else None
            w.writerow([r.circle_id, r.name, "yes" if r.active else "no", cur, pledge,
                        str(due.amount) if due else "", str(c.amount) if c else "0",
                        str(d.amount) if d else "0", c.minor if c else 0, d.minor if d else 0,
                        cats, r.ballots_taken_part, r.ballots_eligible])
    return out.getvalue()


def render_chart(rows: list[CircleAccount], title: str) -> bytes:
    """A PNG bar chart: per currency, each circle's pledged (per period), contributed and
    drawn. Blocking: call it with asyncio.to_thread."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must be chosen before pyplot is imported
    from matplotlib.figure import Figure

    currencies = sorted({m.currency for r in rows for m in (*r.contributed, *r.drawn)}
                        | {r.pledge_due.currency for r in rows if r.pledge_due}) or ["—"]
    currencies = currencies[:4]
    fig = Figure(figsize=(7, 2.8 * len(currencies)), dpi=100)
    names = [r.name for r in rows] or ["—"]
    for i, cur in enumerate(currencies, 1):
        ax = fig.add_subplot(len(currencies), 1, i)
        width = 0.27
        xs = range(len(names))
        series = []
        for r in rows or []:
            due = r.pledge_due if r.pledge_due and r.pledge_due.currency == cur else None
            series.append((float(due.amount) if due else 0.0,
                           float(r.contributed[cur].amount) if cur != "—" else 0.0,
                           float(r.drawn[cur].amount) if cur != "—" else 0.0))
        if not series:
            series = [(0.0, 0.0, 0.0)]
        for j, (label, color) in enumerate((("pledged / period", "#9aa5b1"),
                                            ("contributed", "#2f855a"),
                                            ("drawn", "#c05621"))):
            ax.bar([x + (j - 1) * width for x in xs], [s[j] for s in series], width,
                   label=label, color=color)
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names)
        ax.set_ylabel(cur)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def local_deadline(when: datetime, tz: str, lang: str) -> str:
    """A deadline in the reader's local time."""
    return format_local(when, tz, lang)
