"""The hash-chained ledger: canonical bytes, tamper detection, exports an organisation can
verify on its own."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ledger import (
    GENESIS_HASH,
    EntryKind,
    LedgerEntry,
    LedgerError,
    build_chain,
    canonical_bytes,
    chain_from_csv,
    chain_from_json,
    chain_to_csv,
    chain_to_json,
    entry_hash,
    next_entry,
    verify_chain,
    verify_export,
)
from core.money import Money

T0 = datetime(2025, 5, 1, 9, 30, tzinfo=timezone.utc)


def sample_chain() -> list[LedgerEntry]:
    return build_chain([
        (EntryKind.PLEDGE, T0, {"circle": 2, "basis_points": 300, "currency": "EUR"}),
        ("income_report", T0 + timedelta(days=1), {"circle": 2, "income": Money(250_000, "EUR")}),
        ("contribution", T0 + timedelta(days=2), {"circle": 2, "amount": Money(7_500, "EUR")}),
        ("contribution_confirmed", T0 + timedelta(days=3),
         {"circle": 2, "amount": Money(7_500, "EUR"), "by": 10}),
        ("rate", T0 + timedelta(days=3), {"base": "EUR", "quote": "NGN",
                                          "rate": Decimal("1650.25"), "as_of": date(2025, 5, 4)}),
        ("draw_requested", T0 + timedelta(days=4),
         {"draw": 1, "circle": 1, "amount": Money(5_000, "EUR"), "category": "strike",
          "purpose": "Streikkasse für die Kolleg\u0301innen \u2014 \"Tag 3\"\n"}),
        ("ballot_closed", T0 + timedelta(days=7), {"draw": 1, "approved": True,
                                                   "reason": "approved", "yes": 3, "no": 1}),
        ("disbursement", T0 + timedelta(days=8, microseconds=5),
         {"draw": 1, "amount": Money(5_000, "EUR"), "confirmed_by": [10, 11]}),
        ("steward_handover", T0 + timedelta(days=60), {"from": 1, "to": 2}),
        ("erasure_pseudonymised", T0 + timedelta(days=90), {"person": 11}),
    ])


CHAIN = sample_chain()


# -- canonical form and hashing -----------------------------------------------------------


def test_canonical_bytes_are_sorted_compact_utf8_nfc():
    fields = {"b": 1, "a": {"z": "e\u0301", "y": [True, None]}, "é": "ü"}
    assert canonical_bytes(fields) == '{"a":{"y":[true,null],"z":"é"},"b":1,"é":"ü"}'.encode()
    assert canonical_bytes({"t": "a\"b\\c\n\x01"}) == b'{"t":"a\\"b\\\\c\\n\\u0001"}'


def test_canonical_values_for_money_times_dates_and_decimals():
    plain = canonical_bytes({
        "amount": Money(1250, "EUR"),
        "at": datetime(2025, 5, 1, 11, 30, tzinfo=timezone(timedelta(hours=2))),
        "precise": datetime(2025, 5, 1, 9, 30, 0, 120, tzinfo=timezone.utc),
        "day": date(2025, 5, 1),
        "rate": Decimal("1.0825"),
        "kind": EntryKind.RATE,
    })
    assert plain == (b'{"amount":{"currency":"EUR","minor":1250},"at":"2025-05-01T09:30:00Z",'
                     b'"day":"2025-05-01","kind":"rate","precise":"2025-05-01T09:30:00.000120Z",'
                     b'"rate":"1.0825"}')


@pytest.mark.parametrize("bad", [
    {"x": 1.5},
    {"x": datetime(2025, 1, 1)},  # no time zone
    {"x": 2**53},
    {1: "non-string key"},
    {"x": {1, 2}},
    {"x": "\ud800"},
    {"e\u0301": 1, "é": 2},
])
def test_canonical_bytes_refuse_ambiguous_values(bad):
    with pytest.raises(LedgerError):
        canonical_bytes(bad)


def test_entry_hash_is_sha256_of_prev_newline_canonical():
    fields = CHAIN[0].fields()
    expected = hashlib.sha256(
        GENESIS_HASH.encode() + b"\n" + json.dumps(fields, sort_keys=True,
                                                  separators=(",", ":")).encode()
    ).hexdigest()
    assert entry_hash(GENESIS_HASH, fields) == expected == CHAIN[0].hash
    assert CHAIN[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(CHAIN, CHAIN[1:]))
    assert [e.seq for e in CHAIN] == list(range(1, len(CHAIN) + 1))


def test_entries_keep_the_plain_form_they_were_hashed_in():
    entry = CHAIN[1]
    assert entry.data == {"circle": 2, "income": {"currency": "EUR", "minor": 250_000}}
    assert entry.at == "2025-05-02T09:30:00Z"
    with pytest.raises(ValueError):
        next_entry(None, "gift", T0, {})
    with pytest.raises(LedgerError):
        next_entry(None, "pledge", T0, {"share": 0.03})


# -- verification ---------------------------------------------------------------------------


def test_an_untouched_chain_verifies():
    result = verify_chain(CHAIN)
    assert result.ok and result.checked == len(CHAIN) and result.reason is None
    assert verify_chain([]).ok
    assert verify_chain(CHAIN, expected_head=CHAIN[-1].hash).ok


def test_a_continuation_verifies_from_its_anchor():
    tail = CHAIN[4:]
    assert verify_chain(tail, start_hash=CHAIN[3].hash, start_seq=5).ok
    # Read as a whole chain, entries 1 to 4 are missing.
    result = verify_chain(tail)
    assert (result.reason, result.first_bad_index, result.first_bad_id) == ("missing_entry", 0, 5)


def _mutations(value):
    """Ways to change a stored value so that its canonical form differs."""
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    if isinstance(value, str):
        return [value + "x", value[:-1] + ("0" if value[-1:] != "0" else "1")]
    if isinstance(value, list):
        return [value + [0], value[:-1]] if value else [[0]]
    if value is None:
        return [0]
    return []


def _paths(value, path=()):
    """Every place inside an entry's dict that can be changed."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, path + (i,))


def _get(value, path):
    for step in path:
        value = value[step]
    return value


def _set(value, path, new):
    *parents, last = path
    _get(value, parents)[last] = new


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_changed_field_of_any_entry_is_named(data):
    dicts = json.loads(json.dumps([e.to_dict() for e in CHAIN]))
    index = data.draw(st.integers(0, len(dicts) - 1), label="entry")
    paths = [p for p in _paths(dicts[index]) if p and _mutations(_get(dicts[index], p))]
    path = data.draw(st.sampled_from(paths), label="field")
    original = _get(dicts[index], path)
    new = data.draw(st.sampled_from(_mutations(original)), label="new value")
    if path == ("kind",):
        new = data.draw(st.sampled_from([k.value for k in EntryKind if k.value != original]))
    _set(dicts[index], path, new)

    result = verify_chain(dicts)
    assert not result.ok
    assert result.first_bad_index == index
    assert result.checked == index
    assert result.reason in {"hash_mismatch", "malformed"}
    if path != ("seq",):
        assert result.first_bad_id == CHAIN[index].seq


def test_a_rewritten_entry_with_a_fresh_hash_breaks_the_next_link():
    forged = next_entry(CHAIN[2], "contribution_confirmed", T0 + timedelta(days=3),
                        {"circle": 2, "amount": Money(750_000, "EUR"), "by": 10})
    tampered = CHAIN[:3] + [forged] + CHAIN[4:]
    result = verify_chain(tampered)
    assert (result.reason, result.first_bad_index, result.first_bad_id) == ("broken_link", 4, 5)
    # Rewriting every later hash as well is caught by the head hash published in the chats.
    rewritten = build_chain([(e.kind, datetime.fromisoformat(e.at), e.data)
                             for e in tampered[4:]], after=forged)
    forged_chain = CHAIN[:3] + [forged] + rewritten
    assert verify_chain(forged_chain).ok
    result = verify_chain(forged_chain, expected_head=CHAIN[-1].hash)
    assert result.reason == "head_mismatch" and result.first_bad_index == len(CHAIN) - 1


@given(st.integers(0, len(CHAIN) - 1))
def test_a_deleted_entry_is_named_by_its_successor(gone):
    shortened = CHAIN[:gone] + CHAIN[gone + 1:]
    result = verify_chain(shortened)
    if gone == len(CHAIN) - 1:
        assert result.ok  # dropping the newest entry is only visible against the head
        assert verify_chain(shortened, expected_head=CHAIN[-1].hash).reason == "head_mismatch"
    else:
        assert (result.reason, result.first_bad_index, result.first_bad_id) == (
            "missing_entry", gone, gone + 2)


@given(st.integers(0, len(CHAIN) - 2))
def test_swapped_entries_are_named_out_of_order(i):
    swapped = list(CHAIN)
    swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    result = verify_chain(swapped)
    assert (result.reason, result.first_bad_index, result.first_bad_id) == (
        "out_of_order", i, i + 2)


def test_a_duplicated_entry_is_out_of_order():
    result = verify_chain(CHAIN[:3] + [CHAIN[2]] + CHAIN[3:])
    assert (result.reason, result.first_bad_index) == ("out_of_order", 3)


def test_unreadable_entries_are_malformed():
    broken = [e.to_dict() for e in CHAIN]
    del broken[2]["hash"]
    assert verify_chain(broken).reason == "malformed"
    broken = [e.to_dict() for e in CHAIN]
    broken[1]["prev_hash"] = broken[1]["prev_hash"].upper()
    assert (verify_chain(broken).reason, verify_chain(broken).first_bad_index) == ("malformed", 1)


# -- exports ----------------------------------------------------------------------------------


def test_json_export_roundtrips_and_verifies():
    text = chain_to_json(CHAIN)
    document = json.loads(text)
    assert document["format"] == "tessera-ledger" and document["genesis"] == GENESIS_HASH
    assert chain_from_json(text) == CHAIN
    assert verify_chain(chain_from_json(text)).ok
    assert verify_export(text, expected_head=CHAIN[-1].hash).ok


def test_an_organisation_can_verify_the_json_export_with_its_own_few_lines():
    # Following only the module docstring: no Tessera code involved.
    document = json.loads(chain_to_json(CHAIN))
    prev = "0" * 64
    for number, entry in enumerate(document["entries"], start=1):
        fields = {k: entry[k] for k in ("seq", "kind", "at", "data")}
        canonical = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(prev.encode() + b"\n" + canonical.encode("utf-8")).hexdigest()
        assert (entry["seq"], entry["prev_hash"], entry["hash"]) == (number, prev, digest)
        prev = digest


def test_csv_export_roundtrips_and_verifies():
    text = chain_to_csv(CHAIN)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["seq", "kind", "at", "prev_hash", "hash", "data"]
    assert len(rows) == len(CHAIN) + 1
    assert chain_from_csv(text) == CHAIN
    assert verify_export(text).ok


def test_tampering_inside_an_export_is_named():
    text = chain_to_json(CHAIN).replace('"minor": 5000', '"minor": 50000', 1)
    result = verify_export(text)
    assert (result.ok, result.reason, result.first_bad_id) == (False, "hash_mismatch", 6)
    csv_text = chain_to_csv(CHAIN).replace("Streikkasse", "Streikkassa")
    assert verify_export(csv_text).first_bad_id == 6
    bad_data = chain_to_csv(CHAIN).replace('{""from"":1', '{""from"":1.0', 1)
    assert verify_export(bad_data).reason == "malformed"
    assert verify_export("not an export").reason == "malformed"
    assert verify_export('{"format": "something else"}').reason == "malformed"


@settings(max_examples=50, deadline=None)
@given(st.lists(
    st.tuples(st.sampled_from(list(EntryKind)),
              st.datetimes(timezones=st.just(timezone.utc)),
              st.dictionaries(st.text(min_size=1, max_size=8),
                              st.one_of(st.integers(-2**53 + 1, 2**53 - 1), st.text(max_size=20),
                                        st.booleans(), st.none()), max_size=4)),
    max_size=6))
def test_any_chain_survives_both_exports(items):
    try:
        chain = build_chain(items)
    except LedgerError:
        return  # keys that collide after NFC, or lone surrogates: refused at write time
    exports = ((chain_to_json(chain), chain_from_json), (chain_to_csv(chain), chain_from_csv))
    for text, read in exports:
        assert read(text) == chain
        assert verify_export(text).ok
