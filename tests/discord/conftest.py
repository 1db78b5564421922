"""A Discord server in the test process: dpytest plays the gateway and REST API for
discord.py, with fixed ids matching the recorded payloads in tests/discord/payloads.

dpytest has no interactions; clicks and slash commands are fed to discord.py's own
gateway parser (`parse_interaction_create`) and its interaction responses are recorded
by a stand-in for discord.py's webhook transport.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import discord.ext.test.backend as back
import pytest
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from adapters.discord_adapter import DiscordAdapter
from bots import circles, help as help_
from bots.app import App, build_app
from core.commands import MEMBER, Arg, Feature, PositiveInt, choice
from core.messages import Outgoing
from core.outbox import enqueue
from core.storage import unit_of_work
from tests.conftest import make_config

PAYLOADS = Path(__file__).parent / "payloads"
GUILD_ID = 1309100000000000001
CHANNELS = {"lagos": 1309200000000000001, "berlin": 1309200000000000002}
MEMBERS = {"amaka": 1309300000000000001, "tunde": 1309300000000000002,
           "bisi": 1309300000000000003, "kofi": 1309300000000000004}
COORDINATOR_ROLE_ID = 1309400000000000001

# -- a test-only feature: records votes and non-command messages ----------------------------
testvote = Feature("testvote")


@testvote.command("testvote", args=[Arg("ballot", PositiveInt), Arg("choice", choice("yes", "no"))],
                  who=MEMBER)
async def _vote(ctx, ballot: int, choice: str) -> str:
    ctx.services.extras.setdefault("votes", {})[(ballot, ctx.person.display_name)] = choice
    return f"{ctx.person.display_name} voted {choice} on ballot {ballot}"


@testvote.listener("heard")
async def _heard(ctx) -> bool:
    ctx.services.extras.setdefault("heard", []).append(ctx.incoming)
    return True


# -- interaction responses --------------------------------------------------------------------
class RecordedResponses(AsyncWebhookAdapter):
    """discord.py's webhook transport, answering locally and keeping what was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, dict]] = []
        self._ids = 1309900000000000000

    async def request(self, route, session, *, payload=None, multipart=None, files=None,
                      **kwargs) -> Any:
        if payload is None and multipart:
            payload = json.loads(multipart[0]["value"])
        payload = payload or {}
        self.calls.append((route.method, route.path, payload))
        if route.path.endswith("/callback"):
            kind = payload.get("type")
            flags = (payload.get("data") or {}).get("flags", 0)
            return {"interaction": {"id": str(route.webhook_id), "type": kind,
                                    "response_message_loading": kind == 5,
                                    "response_message_ephemeral": bool(flags & 64)}}
        if route.method == "DELETE":
            return None
        self._ids += 1
        last = next((p for m, path, p in reversed(self.calls) if path.endswith("/callback")), {})
        content = payload.get("content") or (last.get("data") or {}).get("content") or ""
        return {"id": str(self._ids), "channel_id": str(CHANNELS["lagos"]), "type": 0,
                "content": content, "author": {"id": "1309000000000000001", "username": "tessera",
                                               "discriminator": "0", "avatar": None, "bot": True},
                "attachments": [], "embeds": [], "mentions": [], "mention_roles": [],
                "mention_everyone": False, "pinned": False, "tts": False,
                "timestamp": "2026-11-22T09:00:00+00:00", "edited_timestamp": None,
                "flags": payload.get("flags", 0)}

    def messages(self) -> list[dict]:
        """Every message-bearing response: (content, ephemeral)."""
        out = []
        for method, path, p in self.calls:
            data = p.get("data") if path.endswith("/callback") else p
            if data and data.get("content"):
                out.append({"content": data["content"], "ephemeral": bool(data.get("flags", 0) & 64)})
        return out


# -- the world --------------------------------------------------------------------------------
@dataclass
class DiscordWorld:
    """The suite with a Discord door, and a dpytest guild with the payloads' ids."""

    app: App
    adapter: DiscordAdapter
    guild: discord.Guild
    channels: dict[str, discord.TextChannel]
    members: dict[str, discord.Member]
    role: discord.Role
    responses: RecordedResponses = field(default_factory=RecordedResponses)

    async def say(self, channel: str, member: str, text: str, **kw) -> list[discord.Message]:
        """`member` writes `text` in `channel`; returns the bot's messages that followed."""
        await dpytest.message(text, self.channels[channel], self.members[member], **kw)
        return await self.delivered()

    async def delivered(self) -> list[discord.Message]:
        """Deliver what is due and return the bot's messages sent since the last call."""
        await self.app.settle(timeout=5)
        await dpytest.run_all_events()
        out = []
        while not dpytest.sent_queue.empty():
            out.append(dpytest.get_message())
        return out

    def enqueue(self, channel: str, message: Outgoing) -> None:
        with unit_of_work(self.app.services.engine) as s:
            enqueue(s, "discord", str(self.channels[channel].id), message,
                    now=self.app.services.clock.now())

    async def click(self, member: str, ref: str, label: str) -> None:
        """`member` clicks the button `label` under the ballot message opened with `ref`
        (as Discord sends it: the message with its buttons, and the clicked custom_id)."""
        state = self.adapter._get_state(f"discord:poll:{ref}")
        buttons = [{"type": 2, "id": i + 2, "style": 2, "label": lbl, "custom_id": cid}
                   for i, (lbl, cid) in enumerate(state["buttons"])]
        clicked = next(b["custom_id"] for b in buttons if b["label"] == label)
        await self.interact("button_click.json", member, custom_id=clicked, message={
            "id": state["message_id"], "components": [{"type": 1, "id": 1, "components": buttons}]})

    async def interact(self, name: str, member: str | None = None, message: dict | None = None,
                       **data: Any) -> None:
        """Feed a recorded interaction (optionally as another member) through discord.py."""
        p = copy.deepcopy(json.loads((PAYLOADS / name).read_text()))
        if message:
            p["message"].update(message)
        if member is not None:
            m = self.members[member]
            p["member"]["user"].update(id=str(m.id), username=m.name, global_name=m.name.capitalize())
            p["member"]["roles"] = [str(r.id) for r in m.roles[1:]]
            p["member"]["nick"] = None
        p["data"].update(data)
        p["id"] = str(int(p["id"]) + len(self.responses.calls) + 1)
        async_context.set(self.responses)
        self.adapter.client._connection.parse_interaction_create(p)
        await dpytest.run_all_events()
        import asyncio
        for _ in range(5):  # let the tasks discord.py created (view callbacks) finish
            await asyncio.sleep(0)
        await dpytest.run_all_events()


def build_world(client: discord.Client) -> tuple:
    """A guild with fixed ids (so a restarted bot sees the same channels)."""
    dpytest.configure(client, guilds=0, text_channels=0, voice_channels=0, members=0)
    state = back.get_state()
    state.stop_dispatch()
    guild = back.make_guild("Lagos Tenants", id_num=GUILD_ID)
    channels = {n: back.make_text_channel(n, guild, id_num=i) for n, i in CHANNELS.items()}
    role = back.make_role("coordinators", guild, id_num=COORDINATOR_ROLE_ID)
    members = {}
    for n, (name, uid) in enumerate(MEMBERS.items(), 1):
        user = back.make_user(name, n, id_num=uid)
        members[name] = back.make_member(user, guild)
    back.make_member(state.user, guild)
    state.start_dispatch()
    return guild, channels, members, role


async def start_world(tmp_path: Path, clock, db_url: str) -> DiscordWorld:
    app = build_app(make_config(tmp_path, db_url), clock=clock,
                    features=[help_.feature, circles.feature, testvote])
    adapter = DiscordAdapter(app.services.media, engine=app.services.engine, registry=app.registry,
                             clock=clock)
    await adapter.client._async_setup_hook()
    guild, channels, members, role = build_world(adapter.client)
    app.add_adapter(adapter)
    await app.start(scheduler=False)
    return DiscordWorld(app, adapter, guild, channels, members, role)


@pytest.fixture
async def world(tmp_path, sqlite_url, clock, monkeypatch):
    monkeypatch.chdir(tmp_path)  # dpytest writes uploaded files to the working directory
    w = await start_world(tmp_path, clock, sqlite_url)
    yield w
    await w.app.stop()
    await dpytest.empty_queue()
