"""The archive as circles use it: two circles name one company under two spellings, a
coordinator confirms the merge, and the company shows up in the cross-reference."""
from __future__ import annotations

import json

from core import i18n, markup
from core.messages import ReplyTo
from tests.archive.conftest import BERLIN, CHICAGO, LAGOS


def de(key, **params):
    """A message as Berlin (a German-speaking circle) reads it, markup stripped."""
    return markup.to_plain(i18n.t("de", key, **params))


def de_added(entry_id, kind, visibility="network"):
    return de("archive.added", id=entry_id, kind=de(f"archive.kind_name.{kind}"),
              visibility=de(f"archive.vis_{visibility}"))


def _attachments(town, chat):
    return [a for r in town.all_sent() if r[1] == chat for a in r[4].attachments]


async def test_newcomers_cross_reference_one_company_spelled_two_ways(town):
    await town.network(BERLIN, LAGOS)
    out = await town.say("berlin", "anna", "/archive add testimony Das Lager von +[Amazon] "
                         "zahlt den Lohn nicht visibility=network tags=wages")
    assert de_added(1, "testimony") in out[-1] and de("archive.names", actors="Amazon") in out[-1]
    out = await town.say("lagos", "amaka", "/archive add testimony Pickers at +[Amazon.com Inc] "
                         "lost two days' pay visibility=network")
    assert "“Amazon.com Inc” (#2) looks like “Amazon” (#1)" in out[-1]
    # Nothing is merged by itself: no cross-reference yet.
    assert "No actor appears" in (await town.say("lagos", "amaka", "/archive crossref"))[-1]
    out = await town.say("lagos", "amaka", "/archive merges")
    assert "“Amazon.com Inc” (#2: Amazon.com Inc) and “Amazon” (#1: Amazon)" in out[-1]
    assert "/archive merge 1 2" in [c.command for c in town.all_sent()[-1][4].choices]
    out = await town.say("lagos", "amaka", "/archive merge 1 2")
    assert "Only this circle's coordinators" in out[-1]
    out = await town.say("lagos", "lagos_coord", "/archive merge 1 2")
    assert "Merged “Amazon.com Inc” into “Amazon” (#1)" in out[-1]
    assert "No merges are waiting" in (await town.say("lagos", "amaka", "/archive merges"))[-1]

    out = await town.say("berlin", "anna", "/archive crossref")
    assert de("archive.crossref_line", rank=1, actor="Amazon", kind="Firma",
              countries="Deutschland, Nigeria", circles="Berlin, Lagos", entries="#1 #2") in out[-1]
    image, table = town.all_sent()[-1][4].attachments
    media = town.app.services.media
    assert image.kind == "image" and media.get(image.path)[:4] == b"\x89PNG"
    assert table.filename == "crossref.csv"
    assert "1,Amazon,company,DE NG,Berlin; Lagos,2,1 2" in media.get(table.path).decode()


async def test_search_shows_the_readers_language_and_keeps_the_original(town):
    await town.network(BERLIN, LAGOS)
    await town.say("berlin", "anna", "/archive add testimony Lager zahlt Lohn nicht "
                   "visibility=network")
    out = await town.say("lagos", "amaka", "/archive search lohn")
    assert "warehouse pays wage not" in out[-1]
    assert "original (German): Lager zahlt Lohn nicht" in out[-1]
    out = await town.say("berlin", "anna", "/archive search lohn")
    assert "original" not in out[-1]  # already in the reader's language


async def test_known_actors_and_aliases_link_entries_without_markers(town):
    await town.network(BERLIN, LAGOS)
    out = await town.say("berlin", "berlin_coord", "/archive actor add HSBC kind=bank")
    assert "HSBC" in out[-1] and "(#1, Bank)" in out[-1]  # Berlin reads German
    await town.say("lagos", "amaka", "/archive add legal Our loans from hsbc were called in "
                   "visibility=network")
    await town.say("berlin", "anna", "/archive add legal The Hongkong and Shanghai Banking "
                   "Corporation froze the strike fund visibility=network")
    out = await town.say("berlin", "anna", "/archive alias HSBC The Hongkong and Shanghai Banking Corporation")
    assert de("errors.coordinators_only", command="archive alias") in out[-1]
    out = await town.say("berlin", "berlin_coord",
                         "/archive alias HSBC The Hongkong and Shanghai Banking Corporation")
    assert de("archive.alias_added", alias="The Hongkong and Shanghai Banking Corporation",
              actor="HSBC", count=1) in out[-1]
    out = await town.say("lagos", "amaka", "/archive search actor=hsbc")
    assert "2 entries" in out[-1]
    out = await town.say("lagos", "amaka", "/archive crossref")
    assert "HSBC (bank) — Germany, Nigeria" in out[-1]


async def test_a_circle_only_entry_never_reaches_another_circle(town):
    await town.network(BERLIN, LAGOS, CHICAGO)
    await town.say("berlin", "anna", "/archive add testimony Secret +[Zalando] scab list")
    await town.say("lagos", "amaka", "/archive add testimony +[Zalando] in Lagos too "
                   "visibility=network")
    await town.say("chicago", "maria", "/archive add testimony +[Zalando] scab list in Chicago "
                   "visibility=circle")
    # Berlin sees its own entry...
    out = await town.say("berlin", "anna", "/archive search scab")
    assert de("archive.found", count=1, query="scab") in out[-1] and "#1 ·" in out[-1]
    # ...Lagos does not, by search, show, actor or cross-reference.
    out = await town.say("lagos", "amaka", "/archive search scab")
    assert "Nothing in the archive matches" in out[-1]
    out = await town.say("lagos", "amaka", "/archive show 1")
    assert "no entry #1" in out[-1]
    out = await town.say("lagos", "amaka", "/archive actor Zalando")
    assert "Entries you can see: 1 (#2)" in out[-1] and "Berlin" not in out[-1]
    assert "No actor appears" in (await town.say("lagos", "amaka", "/archive crossref"))[-1]
    # Chicago's and Berlin's circle-only entries each count only for themselves.
    out = await town.say("chicago", "maria", "/archive crossref")
    assert "Zalando (company) — Nigeria, United States — Chicago, Lagos — entries #2 #3" in out[-1]
    out = await town.say("berlin", "anna", "/archive crossref")
    assert de("archive.crossref_line", rank=1, actor="Zalando", kind="Firma",
              countries="Deutschland, Nigeria", circles="Berlin, Lagos", entries="#1 #2") in out[-1]
    # Lagos's export holds Lagos's entries only.
    await town.say("lagos", "lagos_coord", "/archive export")
    files = {a.filename: a for a in town.all_sent()[-1][4].attachments}
    data = json.loads(town.app.services.media.get(files["archive-lagos.json"].path))
    assert [e["id"] for e in data["entries"]] == [2]
    csv_text = town.app.services.media.get(files["archive-lagos.csv"].path).decode()
    assert "scab" not in csv_text and "Lagos too" in csv_text


async def test_a_circle_only_name_is_not_revealed_by_actor_lists_or_merges(town):
    await town.network(BERLIN, LAGOS)
    await town.say("berlin", "anna", "/archive add testimony +[Amazon Logistics GmbH] secret")
    await town.say("lagos", "amaka", "/archive add testimony +[Amazon Logistics] visibility=network")
    assert "Amazon Logistics GmbH" not in (await town.say("lagos", "amaka", "/archive actors"))[-1]
    assert "No merges are waiting" in (await town.say("lagos", "amaka", "/archive merges"))[-1]
    assert "Amazon Logistics GmbH" in (await town.say("berlin", "anna", "/archive merges"))[-1]


async def test_replying_to_a_message_archives_it(town):
    await town.network(BERLIN, LAGOS)
    report = ReplyTo(message_id="tg-77", text="Relay report from Lagos: +[DHL] drivers unpaid")
    out = await town.say("berlin", "anna", "/archive report tags=relay visibility=network",
                         reply_to=report)
    assert de_added(1, "report") in out[-1] and de("archive.names", actors="DHL") in out[-1]
    # A reply to the bot's own message: the text is found in what the bot sent.
    await town.say("lagos", "amaka", "/archive kinds")
    ref = town.app.couriers["console"].adapter.last_bot_message["lagos"]
    out = await town.say("lagos", "amaka", "/archive note the list of kinds",
                         reply_to=ReplyTo(message_id=ref))
    assert "entry #2 (note)" in out[-1]
    out = await town.say("lagos", "amaka", "/archive show 2")
    assert "Kinds of entry: testimony" in out[-1] and "the list of kinds" in out[-1]
    out = await town.say("lagos", "amaka", "/archive show 1")
    assert "Relay report from Lagos: DHL drivers unpaid" in out[-1]
    assert "Sources: message tg-77" in out[-1] and "#relay" in out[-1]


async def test_wages_are_compared_per_period_and_currency(town):
    await town.network(BERLIN, LAGOS)
    out = await town.say("berlin", "anna", "/archive wage 14.50 EUR hour warehouse picker at "
                         "+[Amazon] place=Berlin date=2026-10-01 visibility=network")
    assert de_added(1, "wages") in out[-1] and de("archive.names", actors="Amazon") in out[-1]
    await town.say("lagos", "amaka", "/archive wage NGN 9000 day warehouse picker place=Lagos "
                   "visibility=network")
    await town.say("lagos", "amaka", "/archive wage 1200 USD month driver visibility=network")
    out = await town.say("lagos", "amaka", "/archive wages picker cur=EUR")
    text = out[-1]
    assert "per day, NGN" in text and "per hour, EUR" in text and "driver" not in text
    assert "NGN9,000.00 — Lagos (Nigeria) — warehouse picker — Lagos" in text
    assert "EUR14.50 — Berlin (Germany) — warehouse picker at Amazon — Berlin — Oct 1, 2026" in text
    assert "no exchange rates" in text
    out = await town.say("lagos", "amaka", "/archive wage 12 EUR fortnight picker")
    assert "not one of" in out[-1]


async def test_withdrawal_leaves_no_text_behind(town):
    await town.network(BERLIN, LAGOS)
    await town.say("berlin", "anna", "/archive add testimony +[Amazon] told me personally "
                   "visibility=network")
    await town.say("lagos", "amaka", "/archive add testimony +[Amazon] again visibility=network")
    out = await town.say("berlin", "bernd", "/archive withdraw 1")
    assert de("archive.not_author", id=1) in out[-1]
    out = await town.say("berlin", "anna", "/archive withdraw 1")
    assert de("archive.withdrawn", id=1) in out[-1]
    assert "Nothing" in (await town.say("lagos", "amaka", "/archive search personally"))[-1]
    assert "No actor appears" in (await town.say("lagos", "amaka", "/archive crossref"))[-1]
    from sqlalchemy import text
    with town.app.services.engine.connect() as c:
        row = c.execute(text("SELECT text, search_text, status FROM archive_entry WHERE id=1")).one()
        assert tuple(row) == ("", "", "withdrawn")
        c.execute(text("CREATE VIRTUAL TABLE temp.vocab USING fts5vocab(main, archive_fts, 'row')"))
        terms = {t for (t,) in c.execute(text("SELECT term FROM temp.vocab"))}
        assert "personally" not in terms and "again" in terms


async def test_withdrawal_removes_attached_files_nobody_else_uses(town):
    from core.messages import Attachment
    await town.network(BERLIN, LAGOS)
    media = town.app.services.media

    def attached(data: bytes) -> ReplyTo:
        key = media.put(data, "image/jpeg")
        photo = Attachment(kind="image", mime_type="image/jpeg", size=len(data),
                           filename="gate.jpg", path=key)
        return ReplyTo(message_id=f"m-{key[:6]}", text="At the depot gate", attachments=[photo])

    own, shared = attached(b"only anna's photo"), attached(b"the same leaflet photo")
    await town.say("berlin", "anna", "/archive report one", reply_to=own)
    await town.say("berlin", "anna", "/archive report two", reply_to=shared)
    await town.say("lagos", "amaka", "/archive report three",
                   reply_to=attached(b"the same leaflet photo"))
    own_key, shared_key = own.attachments[0].path, shared.attachments[0].path
    await town.say("berlin", "anna", "/archive withdraw 1")
    await town.say("berlin", "anna", "/archive withdraw 2")
    assert not media.exists(own_key)
    assert media.exists(shared_key)  # Lagos' entry still shows the same photo
