"""Slash commands and button clicks as pure conversions of Discord's payloads.

The payloads in tests/discord/payloads are shaped like the gateway's INTERACTION_CREATE
events in Discord's API documentation.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from adapters.discord_slash import (
    check_definitions, choice_key, command_line, custom_id, interaction_to_incoming,
    key_from_custom_id, slash_definitions, slash_paths,
)
from bots.app import all_features
from core.commands import Arg, Feature, Int, Registry, Text, Word, split_command, bind_args

PAYLOADS = Path(__file__).parent / "payloads"
NAME = re.compile(r"^[-_\w]{1,32}$")


def payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(all_features())


def _menu(defs: list[dict]) -> list[tuple[str, ...]]:
    """Every runnable path in Discord's menu."""
    out = []

    def walk(item: dict, path: tuple[str, ...]) -> None:
        subs = [o for o in item.get("options", []) if o["type"] in (1, 2)]
        if not subs:
            out.append(path)
        for o in subs:
            walk(o, path + (o["name"],))

    for d in defs:
        walk(d, (d["name"],))
    return out


def test_every_declared_command_is_offered_once_within_discords_limits(registry):
    defs = slash_definitions(registry.commands)
    assert check_definitions(defs) == []
    assert len(defs) <= 100
    for d in defs:
        assert NAME.match(d["name"]) and d["name"] == d["name"].lower()
        assert 1 <= len(d["description"]) <= 100
    menu = _menu(defs)
    assert len(menu) == len(set(menu))  # nothing twice
    paths = slash_paths(registry.commands)
    assert sorted(menu) == sorted(paths)
    # Every command is in the menu except a lone word that is also a group's name.
    groups = registry.groups()
    missing = {c.name for c in registry.commands} - {c.name for c in paths.values()}
    assert all(" " not in name and name in groups for name in missing)


def test_circle_join_becomes_a_subcommand_with_typed_required_first_options(registry):
    defs = {d["name"]: d for d in slash_definitions(registry.commands)}
    join = next(o for o in defs["circle"]["options"] if o["name"] == "join")
    assert join["description"].startswith("Make this chat a circle")
    assert [(o["name"], o["required"]) for o in join["options"]] == [
        ("code", True), ("city", True), ("country", True), ("timezone", True),
        ("language", False), ("until", False)]
    assert next(o for o in join["options"] if o["name"] == "country")["description"] == \
        "two-letter country code, e.g. NG"
    invite = next(o for o in defs["circle"]["options"] if o["name"] == "invite")
    assert {o["name"]: o["type"] for o in invite["options"]} == {"uses": 4, "days": 4}


def test_long_help_texts_are_clipped_to_100_characters(registry):
    link = {d["name"]: d for d in slash_definitions(registry.commands)}["link"]
    assert len(link["description"]) <= 100


def _feature_with(n_commands: int, n_args: int = 0, group: str = "") -> Feature:
    f = Feature("bulk")
    for i in range(n_commands):
        name = f"{group} c{i}".strip()
        f.command(name, args=[Arg(f"a{j}", Word) for j in range(n_args)])(lambda ctx: None)
    return f


def test_the_checker_refuses_what_discord_would():
    assert any("101 commands" in p for p in
               check_definitions(slash_definitions(_feature_with(101).commands)))
    assert any("26 options" in p for p in
               check_definitions(slash_definitions(_feature_with(1, n_args=26).commands)))
    assert any("26 options" in p for p in
               check_definitions(slash_definitions(_feature_with(26, group="g").commands)))
    bad = [{"type": 1, "name": "Vote", "description": "x" * 101,
            "options": [{"type": 3, "name": "a", "description": "a", "required": False},
                        {"type": 3, "name": "b", "description": "b", "required": True}]}]
    problems = check_definitions(bad)
    assert any("bad name 'Vote'" in p for p in problems)
    assert any("description of 101" in p for p in problems)
    assert any("optional option before a required one" in p for p in problems)


def test_three_word_commands_become_subcommand_groups():
    f = Feature("treasury")
    f.command("treasury ballot open", args=[Arg("amount", Text)])(lambda ctx: None)
    f.command("treasury show")(lambda ctx: None)
    (d,) = slash_definitions(f.commands)
    group = next(o for o in d["options"] if o["type"] == 2)
    assert group["name"] == "ballot" and group["options"][0]["name"] == "open"
    assert command_line({"name": "treasury", "options": [{"name": "ballot", "type": 2, "options": [
        {"name": "open", "type": 1, "options": [{"name": "amount", "type": 3, "value": "250 EUR"}]}]}]},
        f.commands) == "/treasury ballot open '250 EUR'"


def test_slash_circle_join_is_the_line_the_core_would_have_read(registry):
    inc = interaction_to_incoming(payload("slash_circle_join.json"), commands=registry.commands)
    # "language" was skipped, so "until" is named; the city with a space is quoted.
    assert inc.text == "/circle join ABCD-EFGH 'Port Harcourt' NG Africa/Lagos until=2026-12-31"
    assert inc.chat_id == "1309200000000000001" and not inc.is_direct
    assert inc.sender.user_id == "1309300000000000001" and inc.sender.display_name == "Amaka"
    assert not inc.sender.is_chat_admin
    words = split_command(inc.text).words
    cmd, rest = registry.find(words)
    args = bind_args(cmd, rest)
    assert (args["city"], args["country"], str(args["until"]), args["language"]) == \
        ("Port Harcourt", "NG", "2026-12-31", None)


def test_quotes_and_ampersands_survive_the_round_trip(registry):
    inc = interaction_to_incoming(payload("slash_network_create.json"), commands=registry.commands)
    cmd, rest = registry.find(split_command(inc.text).words)
    assert cmd.name == "network create"
    assert bind_args(cmd, rest)["name"] == "Tenants' Union of Lagos & Ikeja"


def test_integer_options_and_the_coordinator_role(registry):
    p = payload("slash_circle_invite.json")
    inc = interaction_to_incoming(p, commands=registry.commands)
    assert inc.text == "/circle invite days=7"
    assert not inc.sender.is_chat_admin
    p["member"]["roles"] = ["1309400000000000001"]
    inc = interaction_to_incoming(p, commands=registry.commands,
                                  coordinator_role_ids=["1309400000000000001"])
    assert inc.sender.is_chat_admin
    p["member"]["roles"] = []
    p["member"]["permissions"] = str(int(p["member"]["permissions"]) | (1 << 5))  # manage server
    assert interaction_to_incoming(p, commands=registry.commands).sender.is_chat_admin


def test_a_slash_command_in_a_private_chat_is_direct(registry):
    inc = interaction_to_incoming(payload("slash_lang_dm.json"), commands=registry.commands)
    assert inc.is_direct and inc.text == "/lang es"
    assert inc.chat_id == "1309700000000000001"  # the DM channel: replies go there
    assert inc.sender.user_id == "1309300000000000001"


def test_a_button_click_becomes_the_choice_command():
    p = payload("button_click.json")
    stored = {choice_key("/testvote 1 yes"): "/testvote 1 yes"}
    inc = interaction_to_incoming(p, resolve_choice=stored.get,
                                  coordinator_role_ids=["1309400000000000001"])
    assert inc.text == "/testvote 1 yes"
    assert inc.sender.display_name == "Bisi (Ikeja)" and inc.sender.is_chat_admin
    assert inc.data == {"interaction": "button"}
    # A button whose key is unknown (or someone else's) is no message at all.
    p["data"]["custom_id"] = custom_id("/testvote 1 maybe")
    assert interaction_to_incoming(p, resolve_choice=stored.get) is None
    p["data"]["custom_id"] = "other-bot:accept"
    assert interaction_to_incoming(p, resolve_choice=stored.get) is None


def test_custom_ids_are_short_and_reversible():
    cid = custom_id("/relay vote 12 " + "x" * 500)
    assert len(cid) <= 100 and key_from_custom_id(cid) == choice_key("/relay vote 12 " + "x" * 500)
    assert key_from_custom_id("tessera:c:nothex") is None


def test_pings_and_autocomplete_are_ignored():
    assert interaction_to_incoming({"type": 1}) is None
    assert interaction_to_incoming({"type": 4, "data": {"name": "tz"}}) is None


def test_a_command_the_registry_no_longer_has_still_reaches_the_core():
    # A stale slash command (synced before an upgrade) is passed on; the core says it is unknown.
    f = Feature("x")
    f.command("relay status", args=[Arg("relay", Int, required=False)])(lambda ctx: None)
    assert command_line({"name": "relay", "options": [{"name": "status", "type": 1, "options": [
        {"name": "relay", "type": 4, "value": 3}]}]}, f.commands) == "/relay status 3"
    assert command_line({"name": "gone", "options": [{"name": "x", "type": 3, "value": "a b"}]}) \
        == "/gone 'a b'"


def test_names_that_collide_in_discords_menu_are_still_all_reachable():
    f = Feature("archive")
    for name in ("archive", "archive add", "archive actor", "archive actor add", "archive kinds",
                 "archive kind add"):
        f.command(name, args=[Arg("text", Text, required=False, rest=True)])(lambda ctx, text=None: None)
    (d,) = slash_definitions(f.commands)
    assert check_definitions([d]) == []
    subs = {o["name"]: o["type"] for o in d["options"]}
    assert subs == {"add": 1, "actor": 1, "actor_add": 1, "kinds": 1, "kind": 2}
    line = command_line({"name": "archive", "options": [{"name": "actor_add", "type": 1, "options": [
        {"name": "text", "type": 3, "value": "Lagos State Property Development Corporation"}]}]},
        f.commands)
    assert line == "/archive actor add 'Lagos State Property Development Corporation'"
    # The lone "archive" stays a prefix command (Discord cannot run a group itself).
    assert Registry([f]).find(split_command("!archive a note").words)[0].name == "archive"
