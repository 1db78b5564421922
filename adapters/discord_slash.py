"""Pure Discord conversions: slash-command definitions from the registry, interaction
payloads to neutral messages, and button custom ids.

Nothing here talks to Discord or imports discord.py, so every function can be tested
with recorded JSON payloads. The adapter (`adapters.discord_adapter`) does the I/O.

Commands are declared once (core.commands); this module only *describes* them to Discord:
"relay status" becomes the slash command `relay` with the sub-command `status`, and a
slash interaction becomes the equivalent text line "/relay status 3", which the core parses
exactly as if it had been typed.
"""
from __future__ import annotations

import hashlib
import re
import shlex
from typing import Any, Callable, Iterable, Mapping

from core import i18n
from core.commands import Command
from core.messages import Incoming, Sender

PLATFORM = "discord"

# Discord's documented limits for application commands.
NAME_RE = re.compile(r"^[-_\w]{1,32}$")  # \w covers \p{L}\p{N} and "_" in Python's re
MAX_DESCRIPTION = 100
MAX_OPTIONS = 25
MAX_COMMANDS = 100

# Application command and option types (Discord API).
CHAT_INPUT = 1
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN, NUMBER = 1, 2, 3, 4, 5, 10
_OPTION_TYPES = {"string": STRING, "integer": INTEGER, "boolean": BOOLEAN, "number": NUMBER}

# Interaction types.
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT = 1, 2, 3

# Permission bits that make a member a coordinator of a channel's circle.
ADMINISTRATOR, MANAGE_GUILD = 1 << 3, 1 << 5

CUSTOM_ID_PREFIX = "tessera:c:"
CUSTOM_ID_RE = r"tessera:c:(?P<key>[0-9a-f]{16})"


# -- slash-command definitions ----------------------------------------------------------------
def _clip(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """One line of at most `limit` characters, cut at a sentence or word where possible."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text or "-"
    first = text.split(". ")[0].rstrip(".") + "."
    if len(first) <= limit:
        return first
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _words(key: str, fallback: str) -> str:
    text = i18n.t("en", key)
    return _clip(fallback if text == key else text)


def _option_name(name: str) -> str:
    return name.lower().replace(" ", "_")[:32]


def _options(cmd: Command) -> list[dict[str, Any]]:
    opts = []
    for a in cmd.args:
        opts.append({
            "type": _OPTION_TYPES.get(a.type.slash_type, STRING),
            "name": _option_name(a.name),
            "description": _words(f"{cmd.key}.args.{a.name}", a.type.name),
            "required": bool(a.required),
        })
    # Discord insists that required options come first; the conversion back to text uses
    # names where the order differs, so nothing depends on this order.
    return sorted(opts, key=lambda o: not o["required"])


def _leaf(cmd: Command, word: str) -> dict[str, Any]:
    return {"type": SUB_COMMAND, "name": word, "description": _words(cmd.key + ".help", cmd.name),
            "options": _options(cmd)}


def slash_paths(commands: Iterable[Command]) -> dict[tuple[str, ...], Command]:
    """Where each command sits in Discord's menu: ("relay", "status") for "relay status".

    Discord cannot invoke a group itself, so where names collide:
    - a one-word command that is also a group ("archive" and "archive add") is left out of
      the menu (it stays a prefix command, `!archive ...`);
    - a three-word command under a two-word command ("archive actor" and "archive actor
      add") becomes the sub-command "actor_add" beside "actor".
    Aliases are never offered, so no command is defined twice.
    """
    commands = list(commands)
    names = {c.name for c in commands}
    groups = {c.name.split()[0] for c in commands if " " in c.name}
    paths: dict[tuple[str, ...], Command] = {}
    for cmd in commands:
        words = [_option_name(w) for w in cmd.name.split()]
        if len(words) == 1 and words[0] in groups:
            continue
        if len(words) == 3 and " ".join(cmd.name.split()[:2]) in names:
            words = [words[0], f"{words[1]}_{words[2]}"[:32]]
        paths[tuple(words)] = cmd
    return paths


def slash_definitions(commands: Iterable[Command]) -> list[dict[str, Any]]:
    """The application-command payloads (for a bulk overwrite) describing `commands`.

    One-word commands become top-level commands; "a b" becomes `a` with sub-command `b`;
    "a b c" becomes `a` with sub-command group `b` and sub-command `c` (see `slash_paths`
    for colliding names).
    """
    top: dict[str, dict[str, Any]] = {}
    for words, cmd in slash_paths(commands).items():
        if len(words) == 1:
            top[words[0]] = {"type": CHAT_INPUT, "name": words[0],
                             "description": _words(cmd.key + ".help", cmd.name),
                             "options": _options(cmd)}
            continue
        head = top.setdefault(words[0], {
            "type": CHAT_INPUT, "name": words[0],
            "description": _words(f"feature.{cmd.feature}", f"{words[0]} commands"),
            "options": []})
        if len(words) == 2:
            head["options"].append(_leaf(cmd, words[1]))
        else:
            group = next((o for o in head["options"]
                          if o["name"] == words[1] and o["type"] == SUB_COMMAND_GROUP), None)
            if group is None:
                group = {"type": SUB_COMMAND_GROUP, "name": words[1],
                         "description": _clip(f"{words[0]} {words[1]}"), "options": []}
                head["options"].append(group)
            group["options"].append(_leaf(cmd, words[2]))
    return list(top.values())


def check_definitions(defs: list[dict[str, Any]]) -> list[str]:
    """Every way `defs` break Discord's limits (empty when Discord will accept them)."""
    problems: list[str] = []
    if len(defs) > MAX_COMMANDS:
        problems.append(f"{len(defs)} commands > {MAX_COMMANDS}")
    seen: set[str] = set()

    def check(item: dict[str, Any], where: str) -> None:
        name = item.get("name", "")
        if not NAME_RE.match(name) or name != name.lower():
            problems.append(f"{where}: bad name {name!r}")
        desc = item.get("description", "")
        if not 1 <= len(desc) <= MAX_DESCRIPTION:
            problems.append(f"{where}: description of {len(desc)} characters")
        options = item.get("options", [])
        if len(options) > MAX_OPTIONS:
            problems.append(f"{where}: {len(options)} options > {MAX_OPTIONS}")
        names = [o["name"] for o in options]
        if len(set(names)) != len(names):
            problems.append(f"{where}: duplicate option names")
        required = [o.get("required", False) for o in options
                    if o["type"] not in (SUB_COMMAND, SUB_COMMAND_GROUP)]
        if required != sorted(required, reverse=True):
            problems.append(f"{where}: optional option before a required one")
        for o in options:
            check(o, f"{where} {o.get('name')}")

    for d in defs:
        if d["name"] in seen:
            problems.append(f"/{d['name']}: defined twice")
        seen.add(d["name"])
        check(d, "/" + d["name"])
    return problems


# -- slash interactions -> the equivalent text line -----------------------------------------
def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return shlex.quote(str(value))


def command_line(data: Mapping[str, Any], commands: Iterable[Command] = ()) -> str:
    """The text line a slash interaction's `data` stands for: "/relay status 3".

    Values follow the command's declared argument order; after a skipped optional argument
    the remaining ones are written `name=value` so the core binds them by name. Values with
    spaces or quotes are quoted.
    """
    words = [str(data["name"])]
    options = list(data.get("options") or [])
    while options and options[0].get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
        words.append(str(options[0]["name"]))
        options = list(options[0].get("options") or [])
    given = {str(o["name"]): o.get("value") for o in options}
    cmd = slash_paths(commands).get(tuple(words))
    order = [_option_name(a.name) for a in cmd.args] if cmd else list(given)
    declared = {_option_name(a.name): a.name for a in cmd.args} if cmd else {}
    # A command the registry no longer has still reaches the core, which says it is unknown.
    parts = ["/" + (cmd.name if cmd else " ".join(words))]
    gap = False
    for name in order + [n for n in given if n not in order]:
        if name not in given or given[name] is None or given[name] == "":
            gap = True
            continue
        text = _value_text(given[name])
        parts.append(f"{declared.get(name, name)}={text}" if gap else text)
    return " ".join(parts)


# -- buttons --------------------------------------------------------------------------------
def choice_key(command: str) -> str:
    """A short, stable key for a button's command (the command itself lives in AdapterState)."""
    return hashlib.blake2b(command.encode(), digest_size=8).hexdigest()


def custom_id(command: str) -> str:
    """The button custom_id for `command` (well under Discord's 100 characters)."""
    return CUSTOM_ID_PREFIX + choice_key(command)


def key_from_custom_id(cid: str) -> str | None:
    """The key inside one of our custom ids, or None for someone else's."""
    m = re.fullmatch(CUSTOM_ID_RE, cid or "")
    return m.group("key") if m else None


# -- interaction payload -> Incoming --------------------------------------------------------
def _sender(payload: Mapping[str, Any], coordinator_role_ids: Iterable[str]) -> Sender:
    member = payload.get("member")
    user = (member or {}).get("user") or payload.get("user") or {}
    name = (member or {}).get("nick") or user.get("global_name") or user.get("username", "")
    admin = False
    if member:
        perms = int(member.get("permissions") or 0)
        roles = {str(r) for r in member.get("roles", [])}
        admin = bool(perms & (ADMINISTRATOR | MANAGE_GUILD)) or bool(
            roles & {str(r) for r in coordinator_role_ids})
    return Sender(user_id=str(user.get("id", "")), display_name=name, is_chat_admin=admin,
                  is_bot=bool(user.get("bot", False)))


def interaction_to_incoming(payload: Mapping[str, Any], *, commands: Iterable[Command] = (),
                            resolve_choice: Callable[[str], str | None] = lambda key: None,
                            coordinator_role_ids: Iterable[str] = ()) -> Incoming | None:
    """A neutral message for a slash command or a button click (None for anything else).

    `resolve_choice(key)` returns the command a button stands for (from AdapterState);
    `coordinator_role_ids` are the guild's role ids that make a member a coordinator.
    """
    kind = payload.get("type")
    data = payload.get("data") or {}
    if kind == APPLICATION_COMMAND and data.get("type", CHAT_INPUT) == CHAT_INPUT:
        text = command_line(data, commands)
    elif kind == MESSAGE_COMPONENT:
        key = key_from_custom_id(data.get("custom_id", ""))
        text = resolve_choice(key) if key else None
        if not text:
            return None
    else:
        return None
    channel = payload.get("channel") or {}
    channel_id = str(payload.get("channel_id") or channel.get("id", ""))
    direct = not payload.get("guild_id")
    sender = _sender(payload, coordinator_role_ids)
    title = channel.get("name", "")
    # In a private chat the channel is the DM channel: replies go there like anywhere else.
    return Incoming(platform=PLATFORM, chat_id=channel_id,
                    sender=sender, text=text, message_id=str(payload.get("id", "")) or None,
                    chat_title=title, is_direct=direct,
                    data={"interaction": "command" if kind == APPLICATION_COMMAND else "button"})


__all__ = [
    "slash_paths", "slash_definitions", "check_definitions", "command_line", "interaction_to_incoming",
    "choice_key", "custom_id", "key_from_custom_id", "CUSTOM_ID_RE",
]
