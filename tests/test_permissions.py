"""The permission matrix: every command of the suite, typed bare by every kind of person.

Someone in no circle (in a private chat), a member, a coordinator and a treasury steward
(each in their circle's chat) send every command with no arguments. Each is refused with
the role message exactly when the command's declaration (`who`, `where`) says so, is
otherwise answered (a usage line or a real answer), and never gets "something went wrong".
`/help <command>` states the same rule the dispatcher applies.
"""
from __future__ import annotations

import pytest

from bots.app import all_features
from core import i18n, markup
from core.commands import ANYONE, COORDINATOR, IN_CIRCLE, IN_DIRECT, MEMBER, STEWARD, Registry
from tests.conftest import make_config

COMMANDS = Registry(all_features()).commands
# Commands that change a circle for good run last, so the others still find it intact.
LAST = ("forgetme", "circle leave")
ROLES = ("outsider", "member", "coordinator", "steward")
# Where each role speaks: (chat, user, direct).
SPEAKER = {
    "outsider": ("dm", "stranger", True),
    "member": ("berlin", "berlin_ana", False),
    "coordinator": ("lagos", "lagos_coord", False),  # coordinates Lagos, holds no stewardship
    "steward": ("berlin", "berlin_coord", False),  # Berlin's coordinators hold the treasury first
}
INTERNAL = markup.to_plain(i18n.t("en", "errors.internal", error_id="")).split("{")[0][:40]


def _refusal_key(cmd, role: str) -> str | None:
    """The refusal the declaration promises for `role`, or None when it may run."""
    if role == "outsider":
        needs_circle = cmd.where == IN_CIRCLE or cmd.who in (MEMBER, COORDINATOR, STEWARD)
        return "errors.circle_only" if needs_circle else None
    if cmd.where == IN_DIRECT:
        return "errors.direct_only"
    if cmd.who == COORDINATOR and role == "member":
        return "errors.coordinators_only"
    if cmd.who == STEWARD and role in ("member", "coordinator"):
        return "errors.stewards_only"
    return None


def _role_messages(cmd) -> dict[str, str]:
    keys = ("errors.circle_only", "errors.direct_only", "errors.coordinators_only",
            "errors.stewards_only")
    return {k: markup.to_plain(i18n.t("en", k, command=cmd.name)) for k in keys}


@pytest.fixture
async def world(tmp_path, sqlite_url, clock):
    from tests.support.chat import Town
    # Hundreds of commands at one fake instant: lift the flood gate, it is tested elsewhere.
    cfg = make_config(tmp_path, sqlite_url, commands={"flood_burst": 100000},
                      translation={"enabled": False})
    town = await Town.start(cfg, clock)
    await town.network(("berlin", "Berlin", "DE", "Europe/Berlin", "en"),
                       ("lagos", "Lagos", "NG", "Africa/Lagos", "en"))
    await town.say("berlin", "berlin_ana", "/whoami")
    out = await town.say("berlin", "berlin_coord", "/treasury stewards")
    assert any("Berlin" in t for t in out), out
    yield town
    await town.stop()


def test_the_roles_are_what_the_matrix_assumes():
    # Sanity of the declarations the matrix reads: every command names a known role/place.
    for cmd in COMMANDS:
        assert cmd.who in (ANYONE, MEMBER, COORDINATOR, STEWARD), cmd.name
        assert cmd.where in ("anywhere", IN_CIRCLE, IN_DIRECT), cmd.name


async def test_every_command_against_every_role(world):
    town = world
    ordered = sorted(COMMANDS, key=lambda c: (c.name in LAST, LAST.index(c.name) if c.name in LAST else 0))
    wrong = []
    for cmd in ordered:
        messages = _role_messages(cmd)
        for role in ROLES:
            chat, user, direct = SPEAKER[role]
            out = await town.say(chat, user, f"/{cmd.name}", direct=direct)
            expected = _refusal_key(cmd, role)
            refusals = [k for k, text in messages.items() if any(t.strip() == text.strip() for t in out)]
            if any(INTERNAL in t for t in out):
                wrong.append(f"/{cmd.name} as {role}: something went wrong: {out}")
            elif expected is not None and refusals != [expected]:
                wrong.append(f"/{cmd.name} as {role}: expected {expected}, got {out}")
            elif expected is None and refusals:
                wrong.append(f"/{cmd.name} as {role}: refused ({refusals}) though allowed: {out}")
            elif expected is None and not out:
                wrong.append(f"/{cmd.name} as {role}: no answer at all")
    assert wrong == [], "\n".join(wrong)


async def test_help_names_who_may_use_each_command(world):
    town = world
    wrong = []
    for cmd in COMMANDS:
        out = "\n".join(await town.say("berlin", "berlin_ana", f"/help {cmd.name}"))
        line = markup.to_plain(i18n.t("en", "help.who", who=i18n.t("en", f"roles.{cmd.who}")))
        others = [markup.to_plain(i18n.t("en", "help.who", who=i18n.t("en", f"roles.{w}")))
                  for w in (ANYONE, MEMBER, COORDINATOR, STEWARD) if w != cmd.who]
        if line not in out or any(o in out for o in others):
            wrong.append(f"/help {cmd.name} (declared {cmd.who}): {out!r}")
    assert wrong == [], "\n".join(wrong)
