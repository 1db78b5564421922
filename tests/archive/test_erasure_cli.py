"""Erasing a person from the archive, linked accounts, and the `tessera archive` CLI."""
from __future__ import annotations

import argparse
import json

from sqlalchemy import text
from sqlmodel import select

from bots.archive import add_cli
from core import i18n
from core.archive import erase_person_archive
from core.storage import unit_of_work
from core.storage.archive import (
    ArchiveActor, ArchiveEntry, ArchiveMention, ArchiveTag, ArchiveWage,
)
from core.storage.models import Account
from tests.archive.conftest import BERLIN, LAGOS


async def _seed(town):
    await town.network(BERLIN, LAGOS)
    await town.say("berlin", "anna", "/archive add testimony My boss at +[Amazon] shouted "
                   "at me, Anna Schmidt visibility=network tags=harassment")
    await town.say("berlin", "anna", "/archive wage 14.50 EUR hour picker at +[Amazon] "
                   "visibility=network")
    await town.say("lagos", "amaka", "/archive add testimony +[Amazon] cut breaks "
                   "visibility=public")
    with unit_of_work(town.app.services.engine) as s:
        acc = s.exec(select(Account).where(Account.platform_user_id == "anna")).one()
        return acc.person_id


async def test_erasing_a_person_removes_their_entries_and_updates_cross_references(town):
    anna = await _seed(town)
    assert "Amazon (company) — Germany, Nigeria" in (await town.say("lagos", "amaka", "/archive crossref"))[-1]
    with unit_of_work(town.app.services.engine) as s:
        report = erase_person_archive(s, anna)
    assert report.entries == 2
    with unit_of_work(town.app.services.engine) as s:
        rows = s.exec(select(ArchiveEntry).order_by(ArchiveEntry.id)).all()
        assert [(e.status, e.text, e.search_text, e.author_id) for e in rows[:2]] == [
            ("erased", "", "", None), ("erased", "", "", None)]
        assert rows[2].status == "active"  # Lagos's entry stays whole
        for model in (ArchiveTag, ArchiveMention, ArchiveWage):
            assert not s.exec(select(model).where(model.entry_id.in_([1, 2]))).all()
        assert s.exec(select(ArchiveActor)).one().created_by is None
    assert "No actor appears" in (await town.say("lagos", "amaka", "/archive crossref"))[-1]
    assert "Nothing" in (await town.say("lagos", "amaka", "/archive search schmidt"))[-1]
    assert "No wage data" in (await town.say("lagos", "amaka", "/archive wages picker"))[-1]
    with town.app.services.engine.connect() as c:
        c.execute(text("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, archive_fts, 'row')"))
        terms = {t for (t,) in c.execute(text("SELECT term FROM temp.vocab"))}
    assert not {"schmidt", "shouted", "picker"} & terms and "breaks" in terms


async def test_linked_accounts_keep_authorship(town):
    # (Through /link this also needs the foundation to move audit rows; here the archive's
    # own part of a person merge is exercised.)
    from core.archive.service import follow_person_merge
    anna = await _seed(town)
    await town.say("berlin", "anna_beta", "/archive kinds")
    with unit_of_work(town.app.services.engine) as s:
        beta = s.exec(select(Account).where(Account.platform_user_id == "anna_beta")).one()
        follow_person_merge(s, anna, beta.person_id)
    out = await town.say("berlin", "anna", "/archive share 1 circle")
    assert i18n.t("de", "archive.not_author", id=1) in out[-1]  # Berlin speaks German
    out = await town.say("berlin", "anna_beta", "/archive share 1 circle")
    assert i18n.t("de", "archive.shared", id=1,
                  visibility=i18n.t("de", "archive.vis_circle")) in out[-1]


def _cli(tmp_path, url, *argv):
    cfg = tmp_path / "cli.toml"
    cfg.write_text(f'[tessera]\ndatabase_url = "{url}"\ndata_dir = "{tmp_path / "cli"}"\n')
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    add_cli(parser.add_subparsers())
    args = parser.parse_args(["--config", str(cfg), *argv])
    return args.func(args)


async def test_cli_search_crossref_and_export(town, tmp_path, sqlite_url, capsys):
    await _seed(town)
    await town.say("lagos", "amaka", "/archive add note +[Amazon] private to Lagos")
    assert _cli(tmp_path, sqlite_url, "archive", "search", "amazon", "--network", "1") == 0
    out = capsys.readouterr().out
    assert "#3\t" in out and "#1\t" in out and "private" not in out and "3 entries" in out
    assert _cli(tmp_path, sqlite_url, "archive", "search", "amazon", "--circle", "2") == 0
    assert "private to Lagos" in capsys.readouterr().out
    assert _cli(tmp_path, sqlite_url, "archive", "search", "--network", "1", "--public") == 0
    assert "1 entry" in capsys.readouterr().out

    csv_file, chart = tmp_path / "x.csv", tmp_path / "x.png"
    assert _cli(tmp_path, sqlite_url, "archive", "crossref", "--network", "1",
                "--csv", str(csv_file), "--chart", str(chart)) == 0
    assert "Amazon" in capsys.readouterr().out
    assert csv_file.read_text().splitlines()[1].startswith("1,Amazon,company,DE NG,Berlin; Lagos,3")
    assert chart.read_bytes()[:4] == b"\x89PNG"

    assert _cli(tmp_path, sqlite_url, "archive", "export", "--circle", "2",
                "--out", str(tmp_path / "exp")) == 0
    data = json.loads((tmp_path / "exp" / "archive-lagos.json").read_text())
    assert [e["text"] for e in data["entries"]] == ["Amazon cut breaks", "Amazon private to Lagos"]
    assert (tmp_path / "exp" / "archive-lagos.csv").read_text().count("\n") == 3
