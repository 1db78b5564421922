"""The treasury ledger: append-only entries, each bound to the one before by a SHA-256 hash.

Anyone holding an export can check that no entry was changed, removed, inserted or
reordered since it was written, without trusting the server. The algorithm, precisely
enough to reimplement in another language:

Entry. Each entry has `seq` (1, 2, 3... without gaps), `kind` (one of `EntryKind`), `at`
(the instant, UTC), `data` (a JSON object), `prev_hash` and `hash` (64 lowercase hex
characters each).

Hashed fields. The object {"seq": seq, "kind": kind, "at": at, "data": data}; `prev_hash`
and `hash` are not in it.

Canonical bytes (`canonical_bytes`) of a JSON value:
- objects: keys are strings, written in ascending order of Unicode code points (NFC
  normalised first; two keys that normalise alike are an error);
- no whitespace anywhere: `,` between items and `:` between key and value;
- strings: NFC normalised, then written as JSON with only these escapes: `\\"`, `\\\\`,
  `\\b`, `\\f`, `\\n`, `\\r`, `\\t`, and `\\u00xx` (lowercase hex) for the other
  characters below U+0020; every other character is written as itself;
- numbers: integers only (money is integer minor units), written in decimal without sign
  for zero or positives, within +-(2**53 - 1) so every JSON reader keeps them exact;
  floats are refused;
- true, false, null as such; arrays in their order;
- the whole text encoded as UTF-8.
When entries are written, richer values are first turned into JSON: `Money` -> {"currency":
"EUR", "minor": 1250}; datetime (must be time-zone aware) -> UTC ISO 8601 with a "Z",
"2025-01-31T18:00:00Z", with ".ffffff" microseconds only when non-zero; date ->
"2025-01-31"; Decimal -> its string ("1.0825"); enums -> their value; tuples -> arrays.
The stored entry keeps that JSON form, so exports hold exactly what was hashed.

Hash. hash = lowercase hex of SHA-256 over the ASCII bytes of `prev_hash`, one line feed
(0x0A), then the canonical bytes of the hashed fields. The first entry's `prev_hash` is
64 zeros (`GENESIS_HASH`); every other entry's `prev_hash` is the previous entry's `hash`.

Verifying (`verify_chain`), entry by entry from the first, stopping at the first fault:
1. "malformed": a field is missing or of the wrong type, or a hash is not 64 hex digits;
2. "hash_mismatch": the recomputed hash differs from the stored one (a field, or
   prev_hash, was altered);
3. "missing_entry" / "out_of_order": `seq` is not the previous seq + 1 (an entry was removed,
   or entries were moved or duplicated);
4. "broken_link": `prev_hash` is not the previous entry's `hash` (an earlier entry was
   rewritten together with its hash, or an entry was replaced wholesale).
Optionally the last hash is compared with a head hash published elsewhere (in the circles'
chats): "head_mismatch". Whoever rewrites an entry *and* recomputes every later hash can
only be caught that way, so the treasury announces its head hash regularly.

Exports. `chain_to_json` writes {"format": "tessera-ledger", "version": 1, "hash":
"sha256", "genesis": GENESIS_HASH, "entries": [{seq, kind, at, data, prev_hash, hash}]}
(indented for reading; indentation does not matter to the hash, which is over canonical
bytes). `chain_to_csv` writes an RFC 4180 table with the header
seq,kind,at,prev_hash,hash,data where `data` is the canonical JSON text of the data.
`chain_from_json` / `chain_from_csv` read them back, and `verify_export` checks either.

Privacy. The chain cannot forget, so `data` refers to people by id only, never by name or
contact; erasing a person deletes the id's mapping outside the chain and appends an
`erasure_pseudonymised` entry saying so. Free text (a draw's purpose) should not name
people either.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Iterable, Mapping, Sequence

from core.money import Money

GENESIS_HASH = "0" * 64
MAX_SAFE_INT = 2**53 - 1
EXPORT_FORMAT = "tessera-ledger"
EXPORT_VERSION = 1
CSV_COLUMNS = ("seq", "kind", "at", "prev_hash", "hash", "data")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class EntryKind(str, Enum):
    """What happened."""

    PLEDGE = "pledge"
    INCOME_REPORT = "income_report"
    CONTRIBUTION = "contribution"
    CONTRIBUTION_CONFIRMED = "contribution_confirmed"
    DRAW_REQUESTED = "draw_requested"
    BALLOT_CLOSED = "ballot_closed"
    DISBURSEMENT = "disbursement"
    RATE = "rate"
    STEWARD_HANDOVER = "steward_handover"
    ERASURE_PSEUDONYMISED = "erasure_pseudonymised"


class LedgerError(ValueError):
    """A value cannot go into the ledger (a float, a naive time, an unknown kind...)."""


# -- canonical form ----------------------------------------------------------------------


def format_instant(moment: datetime) -> str:
    """An aware datetime as UTC ISO 8601 with "Z" (microseconds only when non-zero)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise LedgerError("ledger times must carry a time zone")
    utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    # isoformat, not strftime: strftime("%Y") does not pad years below 1000 on glibc.
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"


def to_plain(value: Any) -> Any:
    """`value` as plain JSON data (dict, list, str, int, bool, None), by the rules in the
    module docstring. Strings come out NFC normalised."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return to_plain(value.value)
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise LedgerError(f"integer {value} is beyond 2**53-1")
        return int(value)
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, float):
        raise LedgerError("floats are not allowed in the ledger: use integer minor units "
                          "or a Decimal")
    if isinstance(value, Money):
        return value.to_plain()
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise LedgerError(f"not a number: {value}")
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise LedgerError(f"object keys must be strings, got {key!r}")
            norm = unicodedata.normalize("NFC", key)
            if norm in out:
                raise LedgerError(f"two keys normalise to {norm!r}")
            out[norm] = to_plain(item)
        return out
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    raise LedgerError(f"cannot put {type(value).__name__} in the ledger")


def canonical_bytes(entry_fields: Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of `entry_fields` (see the module docstring)."""
    plain = to_plain(entry_fields)
    # json.dumps with ensure_ascii=False escapes exactly ", \\, and characters below U+0020
    # (\b \f \n \r \t as such, others as lowercase \u00xx), the rules documented above.
    text = json.dumps(plain, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise LedgerError("text with lone surrogates cannot go into the ledger") from None


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 hex of `prev_hash` + "\\n" + canonical bytes of `fields`."""
    if not isinstance(prev_hash, str) or not _HEX64.fullmatch(prev_hash):
        raise LedgerError("prev_hash must be 64 lowercase hex characters")
    digest = hashlib.sha256(prev_hash.encode("ascii") + b"\n")
    digest.update(canonical_bytes(fields))
    return digest.hexdigest()


# -- entries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """One written line of the ledger. `seq` is its id within the chain (1, 2, 3...)."""

    seq: int
    kind: str
    at: str
    data: dict
    prev_hash: str
    hash: str

    def fields(self) -> dict[str, Any]:
        """The hashed fields."""
        return {"seq": self.seq, "kind": self.kind, "at": self.at, "data": self.data}

    def to_dict(self) -> dict[str, Any]:
        """Every field, as exported."""
        return {**self.fields(), "prev_hash": self.prev_hash, "hash": self.hash}


def next_entry(previous: LedgerEntry | None, kind: EntryKind | str, at: datetime,
               data: Mapping[str, Any]) -> LedgerEntry:
    """The entry that follows `previous` (None for the first entry of a chain)."""
    kind_value = EntryKind(kind).value
    seq = previous.seq + 1 if previous else 1
    prev_hash = previous.hash if previous else GENESIS_HASH
    fields = {"seq": seq, "kind": kind_value, "at": format_instant(at), "data": to_plain(data)}
    if not isinstance(fields["data"], dict):
        raise LedgerError("entry data must be an object")
    return LedgerEntry(hash=entry_hash(prev_hash, fields), prev_hash=prev_hash, **fields)


def build_chain(items: Iterable[tuple[EntryKind | str, datetime, Mapping[str, Any]]],
                after: LedgerEntry | None = None) -> list[LedgerEntry]:
    """Entries for (kind, at, data) items, appended after `after` (or from genesis)."""
    chain: list[LedgerEntry] = []
    previous = after
    for kind, at, data in items:
        previous = next_entry(previous, kind, at, data)
        chain.append(previous)
    return chain


# -- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of `verify_chain`: `ok`, how many entries were `checked` and found good, and
    where the first fault is (list index and the entry's seq) with a `reason` key."""

    ok: bool
    checked: int
    first_bad_index: int | None = None
    first_bad_id: int | None = None
    reason: str | None = None


_KINDS = frozenset(k.value for k in EntryKind)


def _read(entry: LedgerEntry | Mapping[str, Any]) -> dict[str, Any] | None:
    raw = entry.to_dict() if isinstance(entry, LedgerEntry) else entry
    if not isinstance(raw, Mapping):
        return None
    try:
        seq, kind, at, data = raw["seq"], raw["kind"], raw["at"], raw["data"]
        prev_hash, stored = raw["prev_hash"], raw["hash"]
    except KeyError:
        return None
    if (isinstance(seq, bool) or not isinstance(seq, int) or kind not in _KINDS
            or not isinstance(at, str) or not isinstance(data, Mapping)
            or not isinstance(prev_hash, str) or not _HEX64.fullmatch(prev_hash)
            or not isinstance(stored, str) or not _HEX64.fullmatch(stored)):
        return None
    return {"seq": seq, "kind": kind, "at": at, "data": data, "prev_hash": prev_hash,
            "hash": stored}


def verify_chain(entries: Sequence[LedgerEntry | Mapping[str, Any]], *,
                 start_hash: str = GENESIS_HASH, start_seq: int = 1,
                 expected_head: str | None = None) -> VerifyResult:
    """Check a whole chain (or a continuation: pass the hash and seq it continues from).

    Entries may be `LedgerEntry` objects or dicts read from an export. Stops at the first
    fault, named as in the module docstring.
    """
    prev_hash, expected_seq = start_hash, start_seq
    all_seqs = {row["seq"] for row in map(_read, entries) if row is not None}

    def bad(index: int, seq: Any, reason: str) -> VerifyResult:
        seq_id = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
        return VerifyResult(False, index, index, seq_id, reason)

    for index, entry in enumerate(entries):
        row = _read(entry)
        if row is None:
            raw_seq = entry.get("seq") if isinstance(entry, Mapping) else None
            return bad(index, raw_seq, "malformed")
        fields = {k: row[k] for k in ("seq", "kind", "at", "data")}
        try:
            recomputed = entry_hash(row["prev_hash"], fields)
        except LedgerError:
            return bad(index, row["seq"], "malformed")
        if recomputed != row["hash"]:
            return bad(index, row["seq"], "hash_mismatch")
        if row["seq"] != expected_seq:
            moved = row["seq"] < expected_seq or expected_seq in all_seqs
            return bad(index, row["seq"], "out_of_order" if moved else "missing_entry")
        if row["prev_hash"] != prev_hash:
            return bad(index, row["seq"], "broken_link")
        prev_hash, expected_seq = row["hash"], expected_seq + 1
    if expected_head is not None and prev_hash != expected_head:
        last = len(entries) - 1 if entries else None
        return VerifyResult(False, len(entries), last, expected_seq - 1 if entries else None,
                            "head_mismatch")
    return VerifyResult(True, len(entries))


# -- exports -----------------------------------------------------------------------------------


def chain_to_json(entries: Iterable[LedgerEntry]) -> str:
    """The chain as a JSON document an organisation can keep and verify on its own."""
    document = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "hash": "sha256",
        "genesis": GENESIS_HASH,
        "entries": [e.to_dict() for e in entries],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def _entry_from_dict(raw: Mapping[str, Any]) -> LedgerEntry | dict:
    row = _read(raw)
    if row is None:
        return dict(raw)  # keep it as read; verify_chain will call it malformed
    return LedgerEntry(row["seq"], row["kind"], row["at"], dict(row["data"]),
                       row["prev_hash"], row["hash"])


def chain_from_json(text: str) -> list[LedgerEntry | dict]:
    """Entries from a `chain_to_json` document (unreadable rows stay dicts)."""
    document = json.loads(text, parse_float=_refuse_float)
    if not isinstance(document, Mapping) or document.get("format") != EXPORT_FORMAT:
        raise LedgerError("not a tessera ledger export")
    if document.get("version") != EXPORT_VERSION:
        raise LedgerError(f"unsupported ledger export version {document.get('version')!r}")
    return [_entry_from_dict(raw) if isinstance(raw, Mapping) else {"entry": raw}
            for raw in document.get("entries", [])]


def chain_to_csv(entries: Iterable[LedgerEntry]) -> str:
    """The chain as a CSV table (RFC 4180, header row, `data` as canonical JSON text)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        data_text = canonical_bytes(e.data).decode("utf-8")
        writer.writerow([e.seq, e.kind, e.at, e.prev_hash, e.hash, data_text])
    return out.getvalue()


def chain_from_csv(text: str) -> list[LedgerEntry | dict]:
    """Entries from a `chain_to_csv` table (unreadable rows stay dicts)."""
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None or tuple(header) != CSV_COLUMNS:
        raise LedgerError(f"expected CSV columns {','.join(CSV_COLUMNS)}")
    entries: list[LedgerEntry | dict] = []
    for row in rows:
        if not row:
            continue
        raw: dict[str, Any] = dict(zip(CSV_COLUMNS, row))
        try:
            raw["seq"] = int(raw["seq"]) if re.fullmatch(r"-?[0-9]+", raw.get("seq", "")) \
                else raw.get("seq")
            raw["data"] = json.loads(raw.get("data", ""), parse_float=_refuse_float)
        except ValueError:
            pass  # left as text: verify_chain reports the row as malformed
        entries.append(_entry_from_dict(raw))
    return entries


def _refuse_float(text: str) -> Any:
    # A float in an export was never written by the ledger; keep it visibly wrong.
    raise LedgerError(f"floats do not occur in ledger data: {text}")


def verify_export(text: str, *, expected_head: str | None = None) -> VerifyResult:
    """Verify a JSON or CSV export as handed to an organisation (format detected)."""
    try:
        if text.lstrip().startswith("{"):
            entries = chain_from_json(text)
        else:
            entries = chain_from_csv(text)
    except (LedgerError, ValueError):
        return VerifyResult(False, 0, None, None, "malformed")
    return verify_chain(entries, expected_head=expected_head)
