"""Money for the solidarity treasury: integer minor units and an ISO 4217 code.

A `Money` never holds a float and never adds to a different currency: `Money(1250, "EUR")`
is 12.50 EUR, and `Money(1250, "EUR") + Money(100, "USD")` raises `CurrencyMismatch`.
Balances keep one total per currency (`Balances`); exchange rates exist only to draw reports
(`convert_for_report`), never to move or check money.

Precision comes from Babel's CLDR data (`babel.numbers.get_currency_precision`): EUR has 2
minor digits, JPY 0, KWD 3. Parsing refuses anything that would need rounding; the only
rounding in this module is in `percent_of` and `convert_for_report`, and it is round half to
even ("banker's rounding": 0.5 -> 0, 1.5 -> 2, 2.5 -> 2), so that over many pledges the
rounding does not drift in one direction.

Every error is a `MoneyError` (a `ValueError`) with a `key` and `params` the command layer
can turn into a message in the member's language.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from typing import Iterable, Iterator, Mapping

from babel import Locale
from babel.numbers import (
    NumberFormatError,
    format_currency,
    get_currency_precision,
    list_currencies,
    parse_decimal,
)

# 10**15 minor units (10 trillion euros) is far beyond any treasury, and stays below 2**53 so
# that ledger exports can be verified by JavaScript tools without losing digits.
MAX_MINOR = 10**15
_MAX_TEXT = 64

# Codes Babel knows that are not money a circle can hold: "no currency", the testing code,
# precious metals and bond-market units.
_NOT_MONEY = frozenset(
    {"XXX", "XTS", "XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA",
     "XFO", "XFU", "XRE"}
)
# Direction marks that right-to-left locales put around amounts; they carry no meaning here.
_BIDI = dict.fromkeys(map(ord, "\u200e\u200f\u061c\u2066\u2067\u2068\u2069\u202a\u202b\u202c"))
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")


class MoneyError(ValueError):
    """A money value was refused. `key` names the reason for the message catalog."""

    key = "money.invalid"

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.params = params


class UnknownCurrency(MoneyError):
    """The code is not an ISO 4217 currency (or not one a treasury can hold)."""

    key = "money.unknown_currency"


class TooManyDecimals(MoneyError):
    """The amount has more decimals than the currency has minor units (12.345 EUR)."""

    key = "money.too_many_decimals"


class NegativeAmount(MoneyError):
    """A negative amount where only zero or more makes sense."""

    key = "money.negative"


class AmountTooLarge(MoneyError):
    """The amount is beyond `MAX_MINOR` minor units: a typo, not a contribution."""

    key = "money.too_large"


class BadAmount(MoneyError):
    """The text is not an amount with a currency ("12.50 EUR", "EUR 12.50")."""

    key = "money.bad_amount"


class CurrencyMismatch(MoneyError):
    """Two amounts in different currencies met where only one currency makes sense."""

    key = "money.currency_mismatch"


class NoRate(MoneyError):
    """No exchange rate on or before the report date for that pair of currencies."""

    key = "money.no_rate"


@lru_cache(maxsize=None)
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies()) - _NOT_MONEY


def check_currency(code: str) -> str:
    """Return `code` upper-cased if it is a known ISO 4217 currency, else raise."""
    if not isinstance(code, str):
        raise UnknownCurrency(f"currency must be a code, got {code!r}", currency=repr(code))
    upper = code.strip().upper()
    if upper not in _known_currencies():
        raise UnknownCurrency(f"unknown currency {code!r}", currency=code)
    return upper


@lru_cache(maxsize=None)
def precision(currency: str) -> int:
    """Number of minor digits of `currency` per CLDR (EUR 2, JPY 0, KWD 3)."""
    return get_currency_precision(check_currency(currency))


@dataclass(frozen=True)
class Money:
    """An amount: `minor` integer units of `currency` (ISO 4217, e.g. 1250 EUR = 12.50 EUR).

    Arithmetic and ordering work within one currency only and raise `CurrencyMismatch`
    otherwise; `==` between currencies is simply False.
    """

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise BadAmount(f"minor units must be an integer, got {self.minor!r}")
        object.__setattr__(self, "currency", check_currency(self.currency))
        if abs(self.minor) > MAX_MINOR:
            raise AmountTooLarge(f"{self.minor} minor units is too large", limit=MAX_MINOR)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Nothing, in `currency`."""
        return cls(0, currency)

    @classmethod
    def from_decimal(cls, amount: Decimal | int | str, currency: str) -> Money:
        """Build from a major-unit amount (Decimal("12.50"), "EUR"); never rounds."""
        cur = check_currency(currency)
        try:
            value = Decimal(amount) if not isinstance(amount, Decimal) else amount
        except (InvalidOperation, TypeError, ValueError):
            raise BadAmount(f"not an amount: {amount!r}", text=str(amount)) from None
        if isinstance(amount, float) or not value.is_finite():
            raise BadAmount(f"not an amount: {amount!r}", text=str(amount))
        digits = precision(cur)
        # Exact rational arithmetic: Decimal's 28-digit context could round a long input
        # such as 1.000000000000000000000000000001 into something that looks whole.
        scaled = Fraction(value) * 10**digits
        if scaled.denominator != 1:
            raise TooManyDecimals(
                f"{cur} has {digits} decimal(s): {amount}", currency=cur, digits=digits
            )
        if abs(scaled) > MAX_MINOR:
            raise AmountTooLarge(f"{amount} {cur} is too large", limit=MAX_MINOR)
        return cls(int(scaled), cur)

    @classmethod
    def parse(cls, text: str, *, locale: str | Locale | None = None,
              allow_negative: bool = False) -> Money:
        """Read an amount a member typed: "12.50 EUR", "EUR 12.50", "12,50 EUR", "1200 JPY".

        The code may stand before or after the number. Without `locale` the number is read
        leniently: a single "." or "," is the decimal mark ("12,50"), a mark that occurs
        several times groups thousands ("1.234.567"), and when both occur the last one is the
        decimal mark ("1.234,50", "1,234.50"); spaces and apostrophes may group thousands in
        threes. With `locale` (e.g. "de_DE") the number must follow that locale's symbols
        exactly, which reads back whatever `format(locale, code=True)` wrote.

        Refuses unknown codes, more decimals than the currency has, negative amounts unless
        `allow_negative`, and anything beyond `MAX_MINOR` minor units.
        """
        if not isinstance(text, str) or not text.strip():
            raise BadAmount("empty amount", text=str(text))
        if len(text) > _MAX_TEXT:
            raise AmountTooLarge("amount text too long", limit=MAX_MINOR)
        cleaned = _SPACES.sub(" ", _ascii_digits(text.translate(_BIDI))).strip()
        sign, code, number = _split_code(cleaned)
        currency = check_currency(code)
        if number.startswith(("-", "+")):
            if sign:
                raise BadAmount(f"two signs in {text!r}", text=text)
            sign, number = number[0], number[1:].strip()
        if locale is None:
            value = _lenient_decimal(number, text)
        else:
            value = _locale_decimal(number, Locale.parse(locale), text)
        if sign == "-":
            value = -value
        if value < 0 and not allow_negative:
            raise NegativeAmount(f"negative amount {text!r}", text=text)
        return cls.from_decimal(value, currency)

    # -- views --------------------------------------------------------------------------

    @property
    def precision(self) -> int:
        """Minor digits of this currency."""
        return precision(self.currency)

    @property
    def amount(self) -> Decimal:
        """The amount in major units, exactly (Decimal("12.50") for 1250 EUR)."""
        return Decimal(self.minor).scaleb(-self.precision)

    def is_zero(self) -> bool:
        """True for nothing."""
        return self.minor == 0

    def is_negative(self) -> bool:
        """True below zero (only differences and balances can be)."""
        return self.minor < 0

    def __str__(self) -> str:
        # Locale-free and exact: "12.50 EUR", "1200 JPY", "-0.005 KWD". `parse` reads it back.
        digits = self.precision
        sign = "-" if self.minor < 0 else ""
        whole, frac = divmod(abs(self.minor), 10**digits)
        body = f"{whole}.{frac:0{digits}d}" if digits else str(whole)
        return f"{sign}{body} {self.currency}"

    def format(self, locale: str | Locale = "en", *, code: bool = False) -> str:
        """The amount as the member's locale writes it ("12,50 €" in de_DE, "€12.50" in en).

        `code=True` writes the ISO code instead of the symbol ("12,50 EUR"), which is
        unambiguous across borders ($ is several currencies) and reads back with
        `Money.parse(text, locale=locale)`.
        """
        loc = Locale.parse(locale)
        if not code:
            return format_currency(self.amount, self.currency, locale=loc)
        pattern = loc.currency_formats["standard"].pattern.replace("¤", "¤¤")
        return format_currency(self.amount, self.currency, format=pattern, locale=loc)

    def to_plain(self) -> dict[str, object]:
        """JSON-ready form used by the ledger: {"currency": "EUR", "minor": 1250}."""
        return {"currency": self.currency, "minor": self.minor}

    @classmethod
    def from_plain(cls, plain: Mapping[str, object]) -> Money:
        """Inverse of `to_plain`."""
        try:
            return cls(plain["minor"], plain["currency"])  # type: ignore[arg-type]
        except (KeyError, TypeError):
            raise BadAmount(f"not a money value: {plain!r}") from None

    # -- arithmetic (one currency only) ---------------------------------------------------

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"expected Money, got {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"{self.currency} and {other.currency} do not add up",
                left=self.currency, right=other.currency,
            )
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.minor + self._same(other).minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.minor - self._same(other).minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __mul__(self, times: int) -> Money:
        # Only whole multiples (a fixed pledge over n periods); shares go through percent_of.
        if not isinstance(times, int) or isinstance(times, bool):
            return NotImplemented
        return Money(self.minor * times, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.minor < self._same(other).minor

    def __le__(self, other: Money) -> bool:
        return self.minor <= self._same(other).minor

    def __gt__(self, other: Money) -> bool:
        return self.minor > self._same(other).minor

    def __ge__(self, other: Money) -> bool:
        return self.minor >= self._same(other).minor


def _ascii_digits(text: str) -> str:
    # Members may type Arabic-Indic, Devanagari... digits; they mean the same numbers.
    return "".join(
        str(unicodedata.decimal(ch)) if ch.isdigit() and not ch.isascii() and
        unicodedata.category(ch) == "Nd" else ch
        for ch in text
    )


_CODE_FIRST = re.compile(r"([+-]?) ?([A-Za-z]{3}) ?(.+)")
_CODE_LAST = re.compile(r"(.+?) ?([A-Za-z]{3})")


def _split_code(text: str) -> tuple[str, str, str]:
    # A text ending in letters has its code last ("NaN EUR" is a bad number, not NAN money).
    match = _CODE_LAST.fullmatch(text)
    if match:
        return "", match.group(2), match.group(1).strip()
    match = _CODE_FIRST.fullmatch(text)
    if match:
        return match.group(1), match.group(2), match.group(3).strip()
    raise BadAmount(f"write an amount with its currency code, e.g. 12.50 EUR: {text!r}",
                    text=text)


_LENIENT_CHARS = re.compile(r"[0-9.,' ’\u066b\u066c]+")


def _lenient_decimal(number: str, text: str) -> Decimal:
    if not _LENIENT_CHARS.fullmatch(number) or not number[0].isdigit() or not number[-1].isdigit():
        raise BadAmount(f"not an amount: {text!r}", text=text)
    number = number.replace("\u066b", ".").replace("\u066c", ",")  # Arabic marks
    dots, commas = number.count("."), number.count(",")
    if dots and commas:
        decimal_mark = "." if number.rfind(".") > number.rfind(",") else ","
    elif dots == 1 or commas == 1:
        decimal_mark = "." if dots else ","
    else:
        decimal_mark = None  # none at all, or one mark repeated: it groups thousands
    if decimal_mark and number.count(decimal_mark) > 1:
        raise BadAmount(f"two decimal marks in {text!r}", text=text)
    whole, _, frac = number.partition(decimal_mark) if decimal_mark else (number, "", "")
    groups = re.split(r"[.,' ’]", whole)
    if len(groups) > 1 and (
        not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])
    ):
        raise BadAmount(f"thousands are grouped by three: {text!r}", text=text)
    if not frac.isdigit() and decimal_mark:
        raise BadAmount(f"not an amount: {text!r}", text=text)
    return Decimal("".join(groups) + ("." + frac if frac else ""))


def _locale_decimal(number: str, loc: Locale, text: str) -> Decimal:
    # Babel formats with Latin digits and symbols unless told otherwise, so read those.
    symbols = loc.number_symbols["latn"]
    group, decimal_mark = symbols.get("group", ","), symbols.get("decimal", ".")
    if group in "\u00a0\u202f":
        number = number.replace(" ", group)  # members type a plain space
    allowed = set("0123456789") | {group, decimal_mark}
    if not number or not set(number) <= allowed:
        raise BadAmount(f"not an amount: {text!r}", text=text)
    try:
        value = parse_decimal(number, locale=loc, strict=True)
    except NumberFormatError:
        raise BadAmount(f"not an amount in {loc}: {text!r}", text=text) from None
    if not value.is_finite():
        raise BadAmount(f"not an amount: {text!r}", text=text)
    return value


def percent_of(income: Money, basis_points: int) -> Money:
    """`basis_points`/10 000 of `income` (300 = 3 %), rounded half to even in minor units.

    Exact halves go to the even minor unit: 3 % of 10.50 EUR is 31.5 cents -> 32 cents,
    3 % of 11.50 EUR is 34.5 cents -> 34 cents. Over many pledges this favours neither the
    treasury nor the member.
    """
    if not isinstance(basis_points, int) or isinstance(basis_points, bool):
        raise TypeError("basis points must be an integer (300 = 3 %)")
    if not 0 <= basis_points <= 10_000:
        raise MoneyError(f"share must be 0..10000 basis points, got {basis_points}",
                         basis_points=basis_points)
    # round() on a Fraction rounds half to even, exactly (no float in between).
    return Money(round(Fraction(income.minor * basis_points, 10_000)), income.currency)


@dataclass(frozen=True)
class Rate:
    """An exchange rate a member entered: 1 `base` = `rate` `quote`, valid from `as_of`.

    Rates are data typed in by people (with `entered_by`, a person id), used only to draw
    reports in one currency.
    """

    base: str
    quote: str
    rate: Decimal
    as_of: date
    entered_by: int | str

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", check_currency(self.base))
        object.__setattr__(self, "quote", check_currency(self.quote))
        if self.base == self.quote:
            raise MoneyError("a rate needs two different currencies", currency=self.base)
        if isinstance(self.rate, float) or not isinstance(self.rate, (Decimal, int, str)):
            raise TypeError("rate must be a Decimal (floats lose digits)")
        value = Decimal(self.rate)
        if not value.is_finite() or value <= 0:
            raise MoneyError(f"rate must be positive, got {self.rate}", rate=str(self.rate))
        object.__setattr__(self, "rate", value)
        if isinstance(self.as_of, datetime):
            object.__setattr__(self, "as_of", self.as_of.date())
        elif not isinstance(self.as_of, date):
            raise TypeError("as_of must be a date")


def find_rate(rates: Iterable[Rate], from_currency: str, to_currency: str,
              on_date: date) -> tuple[Rate, Fraction]:
    """The rate to use for `from_currency` -> `to_currency` on `on_date`, and its factor.

    The latest rate dated on or before `on_date` wins, whether entered in that direction or
    the inverse one (EUR->USD 1.1 also converts USD->EUR at 1/1.1). Of several rates on the
    same day, the last one in `rates` wins (the latest correction).
    """
    src, dst = check_currency(from_currency), check_currency(to_currency)
    on = on_date.date() if isinstance(on_date, datetime) else on_date
    best: tuple[Rate, Fraction] | None = None
    for rate in rates:
        if rate.as_of > on:
            continue
        if (rate.base, rate.quote) == (src, dst):
            factor = Fraction(rate.rate)
        elif (rate.base, rate.quote) == (dst, src):
            factor = 1 / Fraction(rate.rate)
        else:
            continue
        if best is None or rate.as_of >= best[0].as_of:
            best = (rate, factor)
    if best is None:
        raise NoRate(f"no {src}->{dst} rate on or before {on}", base=src, quote=dst,
                     date=on.isoformat())
    return best


def convert_for_report(money: Money, rates: Iterable[Rate], to_currency: str,
                       on_date: date) -> Money:
    """`money` expressed in `to_currency` for a report, at the rate valid on `on_date`.

    Only for showing totals: balances, draws and disbursements always stay in their own
    currency. Rounded half to even to the target's minor units.
    """
    target = check_currency(to_currency)
    if money.currency == target:
        return money
    _, factor = find_rate(rates, money.currency, target, on_date)
    exact = Fraction(money.minor, 10**money.precision) * factor * 10**precision(target)
    return Money(round(exact), target)


@dataclass(frozen=True)
class Balances:
    """One total per currency, never mixed. Immutable: `plus`/`minus` return new balances.

    Currencies whose total comes back to zero are dropped, so two balances holding the same
    money compare equal however they got there.
    """

    totals: tuple[tuple[str, int], ...] = ()

    @classmethod
    def of(cls, *moneys: Money) -> Balances:
        """Balances holding the sum of `moneys`, per currency."""
        result = cls()
        for money in moneys:
            result = result.plus(money)
        return result

    def _with(self, currency: str, delta: int) -> Balances:
        totals = dict(self.totals)
        value = totals.get(currency, 0) + delta
        Money(value, currency)  # same size limit as any amount
        if value:
            totals[currency] = value
        else:
            totals.pop(currency, None)
        return Balances(tuple(sorted(totals.items())))

    def plus(self, money: Money) -> Balances:
        """These balances with `money` added to its currency."""
        return self._with(money.currency, money.minor)

    def minus(self, money: Money) -> Balances:
        """These balances with `money` taken from its currency (may go negative: the
        treasury rules, not this bookkeeping, refuse overdrafts)."""
        return self._with(money.currency, -money.minor)

    def __getitem__(self, currency: str) -> Money:
        code = check_currency(currency)
        return Money(dict(self.totals).get(code, 0), code)

    def __iter__(self) -> Iterator[Money]:
        return (Money(minor, cur) for cur, minor in self.totals)

    def __len__(self) -> int:
        return len(self.totals)

    @property
    def currencies(self) -> tuple[str, ...]:
        """Currencies held (non-zero), alphabetically."""
        return tuple(cur for cur, _ in self.totals)

    def report_total(self, rates: Iterable[Rate], to_currency: str, on_date: date) -> Money:
        """All currencies expressed in `to_currency` at `on_date`'s rates (reports only).

        Each currency is converted and rounded separately, then summed.
        """
        rate_list = list(rates)
        total = Money.zero(to_currency)
        for money in self:
            total += convert_for_report(money, rate_list, to_currency, on_date)
        return total
