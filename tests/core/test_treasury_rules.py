"""Treasury rules: pledges, steward confirmations, no overdraft, steward rotation."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.ledger import build_chain
from core.money import Balances, CurrencyMismatch, Money
from core.treasury_rules import (
    Confirmer,
    DisbursementPolicy,
    IncomeNotReported,
    InsufficientFunds,
    Pledge,
    StewardRotation,
    TreasuryError,
    balances_from_entries,
    check_confirmations,
    check_disbursement,
    next_handover,
    pledge_due,
    steward_for,
)

BERLIN, LAGOS, MANILA = 1, 2, 3


# -- pledges ---------------------------------------------------------------------------------


def test_share_pledge_is_basis_points_of_reported_income():
    three_percent = Pledge.share(300, "EUR")
    assert pledge_due(three_percent, Money(250_000, "EUR")) == Money(7_500, "EUR")
    assert pledge_due(three_percent, Money(1_050, "EUR")) == Money(32, "EUR")  # half to even
    with pytest.raises(IncomeNotReported):
        pledge_due(three_percent, None)
    with pytest.raises(CurrencyMismatch):
        pledge_due(three_percent, Money(100_000, "NGN"))
    with pytest.raises(ValueError):
        pledge_due(three_percent, Money(-100, "EUR"))


def test_fixed_pledge_ignores_income():
    fifty = Pledge.fixed(Money(5_000, "EUR"), period_months=3)
    assert pledge_due(fifty, None) == Money(5_000, "EUR")
    assert pledge_due(fifty, Money(1, "USD")) == Money(5_000, "EUR")
    assert fifty.period_months == 3


def test_pledges_refuse_nonsense():
    for build in (lambda: Pledge.share(0, "EUR"), lambda: Pledge.share(10_001, "EUR"),
                  lambda: Pledge.fixed(Money(0, "EUR")),
                  lambda: Pledge.fixed(Money(100, "EUR"), period_months=0)):
        with pytest.raises(ValueError):
            build()


# -- confirmations -----------------------------------------------------------------------------


def steward(person: int, *circles: int) -> Confirmer:
    return Confirmer(person, frozenset(circles), is_steward=True)


def test_one_outside_steward_confirms_a_payout():
    check = check_confirmations([steward(10, LAGOS)], receiving_circle=BERLIN)
    assert check.complete and check.reason_key == "confirmed" and check.confirmed_by == (10,)


def test_a_steward_cannot_pay_their_own_circle_alone():
    check = check_confirmations([steward(10, BERLIN)], receiving_circle=BERLIN)
    assert not check.complete and check.reason_key == "needs_outside_confirmer"
    check = check_confirmations([steward(10, BERLIN), steward(11, LAGOS)], BERLIN)
    assert check.complete


def test_two_confirmations_must_be_two_people_and_stewards():
    four_eyes = DisbursementPolicy(confirmations_required=2)
    same_person_twice = [steward(10, LAGOS), steward(10, LAGOS, MANILA)]
    check = check_confirmations(same_person_twice, BERLIN, four_eyes)
    assert not check.complete and check.missing == 1
    assert check.reason_key == "needs_more_confirmations"
    not_a_steward = Confirmer(12, frozenset({MANILA}), is_steward=False)
    assert not check_confirmations(same_person_twice + [not_a_steward], BERLIN, four_eyes).complete
    check = check_confirmations(same_person_twice + [steward(11, MANILA)], BERLIN, four_eyes)
    assert check.complete and check.confirmed_by == (10, 11)
    both_from_berlin = [steward(10, BERLIN), steward(11, BERLIN)]
    assert check_confirmations(both_from_berlin, BERLIN, four_eyes).reason_key == \
        "needs_outside_confirmer"
    with pytest.raises(TreasuryError):
        DisbursementPolicy(confirmations_required=3)


# -- no overdraft ----------------------------------------------------------------------------


def test_a_draw_never_takes_a_currency_below_zero():
    balances = Balances.of(Money(10_000, "EUR"), Money(900_000, "NGN"))
    after = check_disbursement(balances, Money(10_000, "EUR"))
    assert after["EUR"] == Money(0, "EUR") and after["NGN"] == Money(900_000, "NGN")
    with pytest.raises(InsufficientFunds) as refused:
        check_disbursement(balances, Money(10_001, "EUR"))
    assert refused.value.available == Money(10_000, "EUR")
    assert refused.value.requested == Money(10_001, "EUR")
    # Plenty of naira does not cover a dollar draw: no silent conversion.
    with pytest.raises(InsufficientFunds) as refused:
        check_disbursement(balances, Money(1, "USD"))
    assert refused.value.available == Money(0, "USD")
    with pytest.raises(TreasuryError):
        check_disbursement(balances, Money(0, "EUR"))


@given(st.integers(0, 10**9), st.integers(1, 10**9))
def test_disbursement_refused_exactly_when_it_would_overdraw(held, asked):
    balances = Balances.of(Money(held, "EUR"))
    if asked > held:
        with pytest.raises(InsufficientFunds):
            check_disbursement(balances, Money(asked, "EUR"))
    else:
        after = check_disbursement(balances, Money(asked, "EUR"))
        assert after["EUR"].minor == held - asked >= 0


def test_balances_from_the_ledger_count_confirmed_money_only():
    at = datetime(2025, 5, 1, tzinfo=timezone.utc)
    chain = build_chain([
        ("contribution", at, {"circle": LAGOS, "amount": Money(5_000, "EUR")}),
        ("contribution_confirmed", at, {"circle": LAGOS, "amount": Money(5_000, "EUR")}),
        ("contribution_confirmed", at, {"circle": MANILA, "amount": Money(20_000, "PHP")}),
        ("disbursement", at, {"draw": 1, "circle": BERLIN, "amount": Money(1_500, "EUR")}),
    ])
    assert balances_from_entries(chain) == Balances.of(Money(3_500, "EUR"), Money(20_000, "PHP"))
    assert balances_from_entries([e.to_dict() for e in chain])["EUR"] == Money(3_500, "EUR")


# -- steward rotation --------------------------------------------------------------------------


def test_circles_take_quarterly_turns_in_join_order():
    circles = [BERLIN, LAGOS, MANILA]
    start = date(2025, 1, 1)
    assert steward_for(circles, start, date(2025, 1, 1)) == BERLIN
    assert steward_for(circles, start, date(2025, 3, 31)) == BERLIN
    assert steward_for(circles, start, date(2025, 4, 1)) == LAGOS
    assert steward_for(circles, start, date(2025, 7, 1)) == MANILA
    assert steward_for(circles, start, date(2025, 10, 1)) == BERLIN  # round again
    assert steward_for(circles, start, date(2025, 2, 1), period_months=1) == LAGOS
    assert next_handover(start, date(2025, 2, 14)) == date(2025, 4, 1)
    assert next_handover(start, date(2025, 4, 1)) == date(2025, 7, 1)
    with pytest.raises(TreasuryError):
        steward_for(circles, start, date(2024, 12, 31))
    with pytest.raises(TreasuryError):
        steward_for([], start, date(2025, 1, 1))


def test_terms_from_a_month_end_clamp_and_recover():
    rotation = StewardRotation((BERLIN, LAGOS), date(2025, 1, 31), period_months=1)
    assert rotation.next_handover(date(2025, 2, 1)) == date(2025, 2, 28)
    assert rotation.steward_for(date(2025, 2, 27)) == BERLIN
    assert rotation.steward_for(date(2025, 2, 28)) == LAGOS
    assert rotation.next_handover(date(2025, 2, 28)) == date(2025, 3, 31)
    assert rotation.steward_for(date(2025, 3, 30)) == LAGOS
    assert rotation.steward_for(date(2025, 3, 31)) == BERLIN


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)),
       st.integers(0, 5000), st.integers(1, 12))
def test_the_steward_changes_exactly_at_handovers(start, offset_days, months):
    circles = ["a", "b", "c", "d", "e"]
    day = start + timedelta(days=offset_days)
    handover = next_handover(start, day, months)
    assert handover > day
    eve = handover - timedelta(days=1)
    assert steward_for(circles, start, eve, months) == steward_for(circles, start, day, months)
    assert steward_for(circles, start, handover, months) != steward_for(circles, start, day, months)
