"""Money: integer minor units, one currency at a time, read and written as members do."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.money import (
    MAX_MINOR,
    AmountTooLarge,
    BadAmount,
    Balances,
    CurrencyMismatch,
    Money,
    NegativeAmount,
    NoRate,
    Rate,
    TooManyDecimals,
    UnknownCurrency,
    convert_for_report,
    find_rate,
    percent_of,
)

CURRENCIES = ["EUR", "USD", "JPY", "KWD", "BRL", "NGN", "CLF", "INR"]
LOCALES = ["en_US", "de_DE", "fr_FR", "de_CH", "hi_IN", "ar_EG", "fa", "nl_NL", "es", "tr",
           "pt_BR", "sw", "he", "bn"]

currencies = st.sampled_from(CURRENCIES)
minors = st.integers(min_value=-MAX_MINOR // 4, max_value=MAX_MINOR // 4)


@st.composite
def same_currency(draw, n=2):
    cur = draw(currencies)
    return [Money(draw(minors), cur) for _ in range(n)]


# -- arithmetic ------------------------------------------------------------------------


@given(same_currency(3))
def test_addition_is_commutative_and_associative(ms):
    a, b, c = ms
    assert a + b == b + a
    assert (a + b) + c == a + (b + c)


@given(same_currency(2))
def test_subtraction_undoes_addition_and_zero_is_neutral(ms):
    a, b = ms
    assert a + b - b == a
    assert a + Money.zero(a.currency) == a
    assert a - a == Money.zero(a.currency)
    assert -(-a) == a


@given(same_currency(2))
def test_ordering_follows_minor_units(ms):
    a, b = ms
    assert (a < b) == (a.minor < b.minor)
    assert (a <= b) == (a.minor <= b.minor)
    assert (a > b) == (a.minor > b.minor)
    assert (a >= b) == (a.minor >= b.minor)


@given(minors, minors, st.sampled_from(CURRENCIES), st.sampled_from(CURRENCIES))
def test_two_currencies_never_add_or_compare(x, y, c1, c2):
    a, b = Money(x, c1), Money(y, c2)
    if c1 == c2:
        return
    for operation in (lambda: a + b, lambda: a - b, lambda: a < b, lambda: a >= b):
        with pytest.raises(CurrencyMismatch):
            operation()
    assert a != b  # equality is allowed, and false


def test_money_refuses_floats_bools_and_absurd_sizes():
    with pytest.raises(BadAmount):
        Money(12.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(BadAmount):
        Money(True, "EUR")  # type: ignore[arg-type]
    with pytest.raises(AmountTooLarge):
        Money(MAX_MINOR + 1, "EUR")
    with pytest.raises(AmountTooLarge):
        Money(MAX_MINOR, "EUR") + Money(1, "EUR")


def test_unknown_and_non_money_codes_are_refused():
    for code in ("ZZZ", "XXX", "XAU", "EURO", "", "€"):
        with pytest.raises(UnknownCurrency):
            Money(1, code)
    assert Money(1, "eur").currency == "EUR"


def test_multiplying_by_whole_periods_only():
    assert Money(500, "EUR") * 3 == Money(1500, "EUR")
    assert 3 * Money(500, "EUR") == Money(1500, "EUR")
    with pytest.raises(TypeError):
        Money(500, "EUR") * 1.5  # type: ignore[operator]


# -- parsing and formatting ------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("12.50 EUR", Money(1250, "EUR")),
    ("EUR 12.50", Money(1250, "EUR")),
    ("12,50 EUR", Money(1250, "EUR")),
    ("12.5 eur", Money(1250, "EUR")),
    ("1200 JPY", Money(1200, "JPY")),
    ("1.234 KWD", Money(1234, "KWD")),
    ("1.234,50 EUR", Money(123450, "EUR")),
    ("1,234.50 USD", Money(123450, "USD")),
    ("1 234,50 EUR", Money(123450, "EUR")),
    ("1'234.50 CHF", Money(123450, "CHF")),
    ("1.234.567 JPY", Money(1234567, "JPY")),
    ("٣٫٥ EUR", Money(350, "EUR")),  # Arabic-Indic digits and decimal mark
    ("\u200f12.50\u00a0EUR", Money(1250, "EUR")),
    ("12.500 EUR", Money(1250, "EUR")),  # exact, nothing lost
])
def test_parse_reads_what_members_type(text, expected):
    assert Money.parse(text) == expected


@pytest.mark.parametrize("text, error", [
    ("12.345 EUR", TooManyDecimals),
    ("1,200 JPY", TooManyDecimals),  # a lone comma is a decimal mark: refused, not guessed
    ("12.5 JPY", TooManyDecimals),
    ("1.0000000000000000000000000000001 EUR", TooManyDecimals),  # beyond Decimal's context
    ("12 ZZZ", UnknownCurrency),
    ("-5 EUR", NegativeAmount),
    ("EUR -5", NegativeAmount),
    ("99999999999999999 EUR", AmountTooLarge),
    ("1" * 70 + " EUR", AmountTooLarge),
    ("12.50", BadAmount),
    ("EUR", BadAmount),
    ("1e5 EUR", BadAmount),
    ("NaN EUR", BadAmount),
    ("12. EUR", BadAmount),
    ("1,23,4 EUR", BadAmount),
    ("1.2.3,4.5 EUR", BadAmount),
    ("--5 EUR", BadAmount),
    ("", BadAmount),
])
def test_parse_refuses_what_would_be_a_guess(text, error):
    with pytest.raises(error):
        Money.parse(text)


def test_negative_amounts_only_when_allowed():
    assert Money.parse("-5 EUR", allow_negative=True) == Money(-500, "EUR")
    assert Money.parse("EUR -5", allow_negative=True) == Money(-500, "EUR")


@given(st.builds(Money, minors, currencies))
def test_str_roundtrips_through_parse(m):
    assert Money.parse(str(m), allow_negative=True) == m


@settings(max_examples=150)
@given(st.builds(Money, minors, currencies), st.sampled_from(LOCALES))
def test_locale_format_with_code_roundtrips(m, locale):
    text = m.format(locale, code=True)
    assert m.currency in text
    assert Money.parse(text, locale=locale, allow_negative=True) == m


def test_format_uses_the_locale():
    assert Money(1250, "EUR").format("de_DE") == "12,50\xa0€"
    assert Money(1250, "EUR").format("en_US") == "€12.50"
    assert Money(1200, "JPY").format("en_US") == "¥1,200"
    assert Money(1250, "EUR").format("de_DE", code=True) == "12,50\xa0EUR"
    assert str(Money(-5, "KWD")) == "-0.005 KWD"
    assert Money(1250, "EUR").amount == Decimal("12.50")


def test_from_decimal_never_rounds():
    assert Money.from_decimal(Decimal("12.5"), "EUR") == Money(1250, "EUR")
    with pytest.raises(TooManyDecimals):
        Money.from_decimal(Decimal("0.001"), "EUR")
    with pytest.raises(BadAmount):
        Money.from_decimal(0.1, "EUR")  # type: ignore[arg-type]


# -- shares ----------------------------------------------------------------------------


def test_percent_of_rounds_half_to_even():
    assert percent_of(Money(1050, "EUR"), 300) == Money(32, "EUR")  # 31.5 -> 32
    assert percent_of(Money(1150, "EUR"), 300) == Money(34, "EUR")  # 34.5 -> 34
    assert percent_of(Money(100_000, "JPY"), 250) == Money(2500, "JPY")
    assert percent_of(Money(1, "EUR"), 5000) == Money(0, "EUR")  # 0.5 -> 0
    assert percent_of(Money(3, "EUR"), 5000) == Money(2, "EUR")  # 1.5 -> 2


@given(st.builds(Money, st.integers(0, MAX_MINOR // 10), currencies), st.integers(0, 10_000))
def test_percent_of_is_within_half_a_minor_unit(income, bp):
    share = percent_of(income, bp)
    assert share.currency == income.currency
    assert abs(share.minor * 10_000 - income.minor * bp) <= 5_000


def test_percent_of_refuses_odd_shares():
    with pytest.raises(ValueError):
        percent_of(Money(100, "EUR"), 10_001)
    with pytest.raises(TypeError):
        percent_of(Money(100, "EUR"), 2.5)  # type: ignore[arg-type]


# -- rates and reports -------------------------------------------------------------------

RATES = [
    Rate("EUR", "USD", Decimal("1.10"), date(2025, 1, 1), entered_by=1),
    Rate("EUR", "USD", Decimal("1.20"), date(2025, 3, 1), entered_by=2),
    Rate("USD", "EUR", Decimal("0.5"), date(2025, 6, 1), entered_by=3),
    Rate("EUR", "JPY", Decimal("160"), date(2025, 1, 1), entered_by=1),
]


def test_report_conversion_uses_latest_rate_not_after_the_date():
    ten_eur = Money(1000, "EUR")
    assert convert_for_report(ten_eur, RATES, "USD", date(2025, 2, 15)) == Money(1100, "USD")
    assert convert_for_report(ten_eur, RATES, "USD", date(2025, 3, 1)) == Money(1200, "USD")
    # From June the rate was entered the other way round: 1 USD = 0.5 EUR.
    assert convert_for_report(ten_eur, RATES, "USD", date(2025, 7, 1)) == Money(2000, "USD")
    twelve_usd = Money(1200, "USD")
    assert convert_for_report(twelve_usd, RATES, "EUR", date(2025, 3, 2)) == Money(1000, "EUR")
    assert convert_for_report(ten_eur, RATES, "JPY", date(2025, 1, 1)) == Money(1600, "JPY")
    assert convert_for_report(ten_eur, RATES, "EUR", date(2000, 1, 1)) == ten_eur
    assert find_rate(RATES, "EUR", "USD", date(2025, 4, 1))[0].entered_by == 2


def test_report_conversion_without_a_rate_says_so():
    with pytest.raises(NoRate):
        convert_for_report(Money(1000, "EUR"), RATES, "USD", date(2024, 12, 31))
    with pytest.raises(NoRate):
        convert_for_report(Money(1000, "EUR"), RATES, "BRL", date(2025, 12, 31))


def test_conversion_rounds_half_to_even():
    rates = [Rate("JPY", "EUR", Decimal("0.005"), date(2025, 1, 1), entered_by=1)]
    # 1 JPY = 0.5 cent -> 0 cents; 3 JPY = 1.5 cents -> 2 cents
    assert convert_for_report(Money(1, "JPY"), rates, "EUR", date(2025, 1, 1)) == Money(0, "EUR")
    assert convert_for_report(Money(3, "JPY"), rates, "EUR", date(2025, 1, 1)) == Money(2, "EUR")


def test_rates_refuse_floats_and_nonsense():
    with pytest.raises(TypeError):
        Rate("EUR", "USD", 1.1, date(2025, 1, 1), entered_by=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Rate("EUR", "USD", Decimal("0"), date(2025, 1, 1), entered_by=1)
    with pytest.raises(ValueError):
        Rate("EUR", "EUR", Decimal("1"), date(2025, 1, 1), entered_by=1)


# -- balances --------------------------------------------------------------------------


def test_balances_keep_one_total_per_currency():
    balances = Balances.of(Money(1000, "EUR"), Money(500, "USD"), Money(250, "EUR"))
    assert balances["EUR"] == Money(1250, "EUR")
    assert balances["USD"] == Money(500, "USD")
    assert balances["JPY"] == Money(0, "JPY")
    assert balances.currencies == ("EUR", "USD")
    assert list(balances) == [Money(1250, "EUR"), Money(500, "USD")]
    assert balances.minus(Money(500, "USD")) == Balances.of(Money(1250, "EUR"))
    total = balances.report_total(RATES, "EUR", date(2025, 7, 1))
    assert total == Money(1500, "EUR")  # 5 USD at 0.5 = 2.50 EUR
    assert balances["EUR"] == Money(1250, "EUR")  # reports never change balances


@given(st.lists(st.builds(Money, minors.filter(lambda x: abs(x) < 10**12), currencies),
                max_size=30))
def test_balances_equal_per_currency_sums(moneys):
    balances = Balances.of(*moneys)
    for cur in CURRENCIES:
        assert balances[cur].minor == sum(m.minor for m in moneys if m.currency == cur)
    assert Balances.of(*reversed(moneys)) == balances
