"""The dispatcher as people meet it: clear replies to everything, and it keeps serving."""
from __future__ import annotations

import asyncio
import logging
import re

from hypothesis import HealthCheck, given, settings, strategies as st

from bots import circles, help as help_
from core.commands import Arg, Feature, Int
from tests.conftest import make_config
from tests.support.chat import Town

broken = Feature("broken")


@broken.command("explode", args=[Arg("n", Int, required=False)])
async def explode(ctx, n):
    ctx.audit("about.to.explode")
    raise RuntimeError("secret-internal-detail")


async def test_a_crashing_handler_gets_an_apology_and_nothing_changes(tmp_path, sqlite_url, clock, caplog):
    town = await Town.start(make_config(tmp_path, sqlite_url), clock,
                            features=[help_.feature, circles.feature, broken])
    with caplog.at_level(logging.ERROR):
        out = await town.say("lobby", "ana", "/explode")
    assert len(out) == 1 and "something went wrong" in out[0]
    error_id = re.search(r"error id (\w+)", out[0]).group(1)
    assert error_id in caplog.text and "secret-internal-detail" not in out[0]
    from sqlmodel import select

    from core.storage import unit_of_work
    from core.storage.models import AuditEntry
    with unit_of_work(town.app.services.engine) as s:
        assert s.exec(select(AuditEntry).where(AuditEntry.action == "about.to.explode")).all() == []
    out = await town.say("lobby", "ana", "/help explode")
    assert "/explode [n]" in out[0]
    await town.stop()


async def test_unknown_commands_groups_and_usage(town):
    out = await town.say("lobby", "ana", "/circel list")
    assert "Did you mean /circle list?" in out[0]
    out = await town.say("lobby", "ana", "!circle")
    assert "needs one more word" in out[0] and "!circle join <code>" in out[0]
    out = await town.say("lobby", "ana", "/help circle join")
    assert "/circle join <code> <city> <country> <timezone> [language] [until]" in out[0]
    assert "Who can use it: anyone." in out[0]
    out = await town.say("lobby", "ana", "/circle info")
    assert "works in a circle's chat" in out[0]
    out = await town.say("lobby", "ana", "just chatting, no command")
    assert out == []


async def test_flooding_gets_one_warning_then_quiet(town):
    outs = []
    for _ in range(12):
        outs += await town.say("lobby", "spammer", "/whoami")
    warnings = [o for o in outs if "faster than I can take" in o]
    assert len(warnings) == 1
    assert sum(1 for o in outs if o.startswith("You are")) == 8  # the burst allowance
    # Others are not slowed down by one person's flood.
    out = await town.say("lobby", "calm", "/whoami")
    assert out[0].startswith("You are")


def test_no_input_crashes_the_dispatcher_and_every_command_gets_a_reply(tmp_path_factory):
    runner = asyncio.Runner()
    tmp = tmp_path_factory.mktemp("fuzz")
    from core.clock import FakeClock
    clock = FakeClock()
    cfg = make_config(tmp, f"sqlite:///{tmp / 'f.db'}", commands={"flood_burst": 100000})
    town = runner.run(Town.start(cfg, clock))
    runner.run(town.network(("lagos", "Lagos", "NG", "Africa/Lagos", "en")))
    names = sorted(town.app.registry.by_name)

    command_words = st.sampled_from(names + ["relay", "zzz", "help", "Circle", "x"])
    junk = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
    line = st.builds(lambda p, c, a: f"{p}{c} {a}", st.sampled_from(["/", "!"]), command_words, junk)

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(line=line, chat=st.sampled_from(["lagos", "elsewhere"]))
    def check(line, chat):
        out = runner.run(town.say(chat, "fuzzer", line))
        # /link without a code may reply twice (here and privately); everything else once.
        assert 1 <= len(out) <= 2, (line, out)
        assert all(o.strip() for o in out)
        assert not any("something went wrong" in o for o in out), (line, out)

    try:
        check()
    finally:
        runner.run(town.stop())
        runner.close()
