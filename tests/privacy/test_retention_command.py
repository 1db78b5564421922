"""Members see how long their network keeps things; coordinators change it, with notice."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core import i18n, retention
from core.config import ConfigError
from core.storage import unit_of_work
from core.storage.models import Network
from tests.conftest import make_config
from tests.privacy.conftest import BERLIN, CHICAGO, LAGOS, start_town


@pytest.fixture
async def town(tmp_path, sqlite_url, clock):
    t = await start_town(tmp_path, sqlite_url, clock)
    await t.network(LAGOS, CHICAGO)
    await t.network(BERLIN)
    yield t
    await t.stop()


def _periods(town, chat_network: int, days_later: int = 0) -> dict[str, int]:
    with unit_of_work(town.app.services.engine) as s:
        net = s.get(Network, chat_network)
        r = retention.retention_for(net, town.app.services.config)
    at = town.clock.now() + timedelta(days=days_later)
    return {kind: r.period(kind).effective(at) for kind in retention.KINDS}


async def test_members_see_the_periods_in_their_language(town):
    out = await town.say("lagos", "amaka", "/retention")
    text = out[-1]
    assert "Test Network" in text
    assert "Recordings, photos and files members send" in text and "10 days" in text
    assert "Copies of messages the bots delivered: 5 days" in text
    assert "/retention set" in text
    await town.say("lagos", "amaka", "/lang es")
    out = await town.say("lagos", "amaka", "/retention")
    assert i18n.t("es", "privacy.retention_label_messages") in out[-1] and "5 días" in out[-1]


async def test_only_coordinators_change_a_period_and_only_in_a_circle(town):
    out = await town.say("lagos", "amaka", "/retention set media 30")
    assert out[-1] == i18n.t("en", "errors.coordinators_only", command="retention set")
    out = await town.say("lagos", "amaka", "/retention", direct=True)
    assert "works in a circle's chat" in out[-1]
    assert _periods(town, 1)["media"] == 10


async def test_bad_input_gets_a_usage_reply_and_changes_nothing(town):
    out = await town.say("lagos", "lagos_coord", "/retention set photos 30")
    assert "“photos” is not one of: media | messages | audit" in out[-1]
    assert "Usage: /retention set <what> <days>" in out[-1]
    out = await town.say("lagos", "lagos_coord", "/retention set media")
    assert "<days> is missing" in out[-1]
    for bad in ("soon", "99999", "-3", "3x"):
        out = await town.say("lagos", "lagos_coord", f"/retention set media {bad}")
        assert out[-1] == i18n.t("en", "privacy.retention_bad_value", value=bad, max=3650), bad
    out = await town.say("lagos", "lagos_coord", "/retention set media 10")
    assert out[-1].startswith("Nothing to change.")
    assert _periods(town, 1) == {"media": 10, "messages": 5, "audit": 10}


async def test_a_longer_period_applies_now_and_every_circle_hears_of_it(town):
    out = await town.say("lagos", "lagos_coord", "/retention set media 8w")
    assert out[-1] == "Done. " + i18n.t("en", "privacy.retention_label_media") + \
        ": 56 days, from now on."
    assert "Lagos changed how long the network keeps data" in town.last("chicago")
    assert _periods(town, 1)["media"] == 56
    out = await town.say("lagos", "lagos_coord", "/retention set audit keep")
    assert "until someone erases them, from now on" in out[-1]
    assert _periods(town, 1)["audit"] == retention.KEEP
    # The other network keeps the deployment's defaults, and heard nothing.
    assert _periods(town, 2) == {"media": 10, "messages": 5, "audit": 10}
    assert "changed how long" not in town.last("berlin")


async def test_a_shorter_period_waits_seven_days(town):
    out = await town.say("lagos", "lagos_coord", "/retention set messages 2")
    assert "Until then 5 days still applies" in out[-1] and "/circle export" in out[-1]
    assert "Copies of messages the bots delivered: 2 days, from" in town.last("chicago")
    assert _periods(town, 1)["messages"] == 5
    assert _periods(town, 1, days_later=8)["messages"] == 2
    shown = (await town.say("chicago", "maria", "/retention"))[-1]
    assert "2 days from" in shown and "(5 days until then)" in shown
    town.clock.advance(timedelta(days=3))
    out = await town.say("lagos", "lagos_coord", "/retention set messages 2")
    assert out[-1].startswith("Nothing to change.")  # the notice keeps running
    assert _periods(town, 1, days_later=5)["messages"] == 2
    # Going back up before the notice ran out: at once, and the shorter one never starts.
    await town.say("lagos", "lagos_coord", "/retention set messages 20")
    assert _periods(town, 1, days_later=8)["messages"] == 20


def test_a_bad_retention_section_is_refused_naming_the_key(tmp_path):
    with pytest.raises(ConfigError, match="retention.media_days"):
        retention.settings(make_config(tmp_path, retention={"media_days": -1}))
    with pytest.raises(ConfigError, match="retention.sweep_hour_utc"):
        retention.settings(make_config(tmp_path, retention={"sweep_hour_utc": 24}))
    with pytest.raises(ConfigError, match="unknown key"):
        make_config(tmp_path, retention={"photos_days": 3})
    assert retention.settings(make_config(tmp_path)).media_days == 90


def test_the_sweep_runs_from_the_command_line(tmp_path, capsys):
    from bots.cli import main
    config = tmp_path / "tessera.toml"
    config.write_text(f'[tessera]\ndata_dir = "{tmp_path / "data"}"\n'
                      '[translation]\nenabled = false\n')
    assert main(["--config", str(config), "retention", "sweep"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("run 1: 0 media rows (0 files), 0 messages, 0 audit entries")
