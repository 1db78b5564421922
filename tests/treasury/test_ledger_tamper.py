"""Whoever edits a stored ledger row behind the bot's back is caught, and the entry named:
by /treasury verify in chat, by `tessera ledger verify`, and by an export's own check."""
from __future__ import annotations

import argparse
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bots.treasury import add_cli
from core.ledger import entry_hash
from core.storage import unit_of_work
from core.storage.treasury import load_chain
from tests.treasury.conftest import say, three_circles


async def _ledger(town) -> list:
    await three_circles(town, members=("ana",), settle_days=0)
    await say(town, "chicago", "chicago_coord", "/treasury pledge 3% EUR")
    await say(town, "chicago", "chicago_coord", "/treasury income 1200 EUR 2026-02")
    await say(town, "gaziantep", "gaziantep_ana", "/treasury contribute 36 EUR")
    await say(town, "chicago", "chicago_coord", "/treasury confirm 1")
    await say(town, "chicago", "chicago_coord", "/treasury rate EUR NGN 1650.5 2026-03-01")
    with unit_of_work(town.app.services.engine) as s:
        chain = load_chain(s, 1)
    assert [e.kind for e in chain] == ["steward_handover", "pledge", "income_report",
                                       "contribution", "contribution_confirmed", "rate"]
    return chain


def _cli(tmp_path, url: str, *argv: str) -> int:
    config = tmp_path / "tessera.toml"
    config.write_text(f'[tessera]\ndata_dir = "{tmp_path / "data"}"\ndatabase_url = "{url}"\n')
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["--config", str(config), *argv])
    return args.func(args)


def _execute(engine, sql: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _json_param(engine) -> str:
    return "CAST(:v AS JSON)" if engine.dialect.name == "postgresql" else ":v"


def _tampered_values(entry) -> dict[str, object]:
    data = dict(entry.data)
    data["tampered"] = 1
    flipped = ("1" if entry.hash[0] != "1" else "2") + entry.hash[1:]
    return {"data": json.dumps(data), "kind": "rate" if entry.kind != "rate" else "pledge",
            "at": "2020-01-01T00:00:00Z", "hash": flipped,
            "prev_hash": ("f" if entry.prev_hash[0] != "f" else "e") + entry.prev_hash[1:]}


async def test_any_altered_row_is_named_by_verify(any_ttown, tmp_path, database_url, capsys):
    town = any_ttown
    engine = town.app.services.engine
    chain = await _ledger(town)
    assert _cli(tmp_path, database_url, "ledger", "verify") == 0
    assert "ledger OK: 6 entries" in capsys.readouterr().out
    for entry in chain:
        for column, value in _tampered_values(entry).items():
            if engine.dialect.name == "postgresql" and column not in ("data", "hash"):
                continue  # the full matrix runs on SQLite; the same SQL, fewer round trips
            original = entry.data if column == "data" else getattr(entry, column)
            param = _json_param(engine) if column == "data" else ":v"
            _execute(engine, f"UPDATE treasury_ledger SET {column} = {param} WHERE seq = :s",
                     v=value, s=entry.seq)
            town.clock.advance(timedelta(seconds=3))  # stay under the flood gate
            out = await say(town, "lagos", "lagos_ana", "/treasury verify")
            assert f"broken at entry #{entry.seq}" in out, (column, entry.seq, out)
            if column == "data":  # the command line, once per entry (it is slower)
                assert _cli(tmp_path, database_url, "ledger", "verify") == 1
                assert f"BROKEN at entry {entry.seq} " in capsys.readouterr().out
            restore = json.dumps(original) if column == "data" else original
            _execute(engine, f"UPDATE treasury_ledger SET {column} = {param} WHERE seq = :s",
                     v=restore, s=entry.seq)
    out = await say(town, "lagos", "lagos_ana", "/treasury verify")
    assert "Ledger verified: 6 entries" in out


async def test_a_removed_entry_is_named(ttown, tmp_path, sqlite_url):
    town = ttown
    await _ledger(town)
    _execute(town.app.services.engine, "DELETE FROM treasury_ledger WHERE seq = 3")
    out = await say(town, "lagos", "lagos_ana", "/treasury verify")
    assert "broken at entry #4: an entry before it is missing" in out


async def test_a_rewritten_history_misses_the_published_head(ttown, tmp_path, sqlite_url, capsys):
    town = ttown
    chain = await _ledger(town)
    published = chain[-1].hash  # announced in the chats with every ballot, payout, handover
    # A forger changes the contribution's amount and recomputes every later hash.
    engine = town.app.services.engine
    prev = chain[2].hash
    for entry in chain[3:]:
        data = dict(entry.data)
        if "amount" in data:
            data["amount"] = {"currency": "EUR", "minor": 1}
        fields = {"seq": entry.seq, "kind": entry.kind, "at": entry.at, "data": data}
        new_hash = entry_hash(prev, fields)
        _execute(engine, "UPDATE treasury_ledger SET data = :d, prev_hash = :p, hash = :h "
                 "WHERE seq = :s", d=json.dumps(data), p=prev, h=new_hash, s=entry.seq)
        prev = new_hash
    out = await say(town, "lagos", "lagos_ana", f"/treasury verify {published}")
    assert "Ledger verified" in out  # internally consistent...
    assert "is NOT in this ledger" in out  # ...but not the history that was announced
    assert _cli(tmp_path, sqlite_url, "ledger", "verify", "--head", published) == 1
    assert "history was rewritten" in capsys.readouterr().out


async def test_exports_verify_on_their_own(ttown, tmp_path, sqlite_url, capsys):
    town = ttown
    await _ledger(town)
    for fmt in ("csv", "json"):
        path = tmp_path / f"ledger.{fmt}"
        assert _cli(tmp_path, sqlite_url, "ledger", "export", "--format", fmt,
                    "--out", str(path)) == 0
        assert _cli(tmp_path, sqlite_url, "ledger", "verify", "--file", str(path)) == 0
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("1650.5", "1750.5"), encoding="utf-8")
        assert _cli(tmp_path, sqlite_url, "ledger", "verify", "--file", str(path)) == 1
        assert "BROKEN at entry 6 (hash_mismatch)" in capsys.readouterr().out
    report = tmp_path / "report.csv"
    assert _cli(tmp_path, sqlite_url, "treasury", "report", "--out", str(report)) == 0
    lines = report.read_text().splitlines()
    assert lines[0].startswith("circle_id,circle,active,currency")
    gaziantep = [line for line in lines if ",Gaziantep," in line]
    assert gaziantep and ",36.00," in gaziantep[0]


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_export_from_chat_is_a_file(ttown, fmt):
    town = ttown
    await _ledger(town)
    await say(town, "lagos", "lagos_ana", f"/treasury export {fmt}")
    message = [r[4] for r in town.all_sent() if r[1] == "lagos"][-1]
    [file] = message.attachments
    assert file.kind == "file" and file.filename.endswith(f".{fmt}")
    assert file.size == len(town.app.services.media.get(file.path))
