"""Three real `tessera run` processes share one bot on PostgreSQL: the receiving process is
worker 1/3, two `--deliver-only` processes are workers 2/3 and 3/3. They talk to the local
Bot API server (Telegram's real flood limits, enforced with 429s), each through its own
witness: a pass-through proxy that remembers which methods that process called and in which
chats it spoke.

A burst larger than the bot's global limit goes out exactly once, in order per group, every
group served by one worker only, without a single 429; the delivery workers never ask for
updates. Then worker 2 is killed with SIGKILL and a second burst still arrives whole: its
groups are taken over by the others.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import select

from core import outbox
from core.clock import SystemClock
from core.courier_routes import route_of
from core.messages import Outgoing
from core.storage import make_engine, unit_of_work, upgrade
from core.storage.models import OutboxMessage
from tests.conftest import postgres_database
from tests.support.fake_telegram import FakeTelegram
from tests.support.routes import settled

TOKEN = "7345123456:AAF-tessera-test-token-abcdefghijklmno"
ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
GROUPS_PER_ROUTE = 2
FIRST_BURST = 13  # per group: 78 messages, over two seconds of the bot's global budget
SECOND_BURST = 6  # 19 per group in all, under a group's 20 a minute
RECEIVING = {"getUpdates", "setWebhook", "deleteWebhook"}


class Witness:
    """A pass-through proxy in front of the Bot API server for one process."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.calls: list[tuple[str, str | None]] = []  # (method, chat_id)
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> "Witness":
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        chat = None
        if request.content_type == "application/x-www-form-urlencoded":
            chat = (parse_qs(body.decode()).get("chat_id") or [None])[0]
        self.calls.append((request.path.rsplit("/", 1)[-1], chat))
        headers = {"Content-Type": request.headers.get("Content-Type", "application/octet-stream")}
        async with self._session.request(request.method, self.target + request.path_qs,
                                         data=body, headers=headers) as answer:
            payload = await answer.read()
            return web.Response(body=payload, status=answer.status,
                                headers={"Content-Type": answer.headers["Content-Type"]})

    def methods(self) -> set[str]:
        return {method for method, _ in self.calls}

    def chats(self, method: str = "sendMessage") -> set[int]:
        return {int(chat) for m, chat in self.calls if m == method and chat is not None}

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()


def _config(tmp_path: Path, url: str, witness: Witness, k: int) -> Path:
    path = tmp_path / f"worker-{k}.toml"
    path.write_text(
        f'[tessera]\ndata_dir = "{tmp_path / "data"}"\ndatabase_url = "{url}"\n'
        f'log_level = "info"\n\n[console]\nenabled = "false"\n\n'
        f'[translation]\nenabled = false\n\n'
        f'[telegram]\nenabled = true\nbase_url = "{witness.url}/bot"\n'
        f'base_file_url = "{witness.url}/file/bot"\n', encoding="utf-8")
    return path


def _groups(server: FakeTelegram, alice) -> dict[int, list[int]]:
    """Six groups, two on each route (routes hash the chat id, so pick ids that spread)."""
    by_route: dict[int, list[int]] = {k: [] for k in range(1, WORKERS + 1)}
    chat = -1001700000000
    while any(len(v) < GROUPS_PER_ROUTE for v in by_route.values()):
        chat -= 1
        found = by_route[route_of(str(chat), WORKERS)]
        if len(found) < GROUPS_PER_ROUTE:
            found.append(chat)
            server.add_group(chat, f"Circle {len(server.chats)}", admins=[alice])
    return by_route


def _burst(engine, chats: list[int], first: int, count: int) -> None:
    """A relay's fan-out: numbered updates to every group, written in one unit of work."""
    with unit_of_work(engine) as s:
        for n in range(first, first + count):
            for chat in chats:
                outbox.enqueue(s, "telegram", str(chat), Outgoing(text=_text(chat, n)),
                               now=SystemClock().now())


def _text(chat: int, n: int) -> str:
    return f"Relay update {n:02d} for circle {chat}"


async def _until(check, what: str, timeout: float = 30.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.1)
    pytest.fail(f"never happened: {what}")


def _pending(engine) -> int:
    with unit_of_work(engine) as s:
        return len(s.exec(select(OutboxMessage.id).where(OutboxMessage.state != "sent")).all())


async def test_two_delivery_workers_share_a_bot_and_survive_a_kill(tmp_path):
    url, drop = postgres_database()
    engine = make_engine(url)
    upgrade(engine)  # once, before three processes start on the same database
    server = await FakeTelegram(token=TOKEN).start()
    witnesses = [await Witness(server.url).start() for _ in range(WORKERS)]
    logs = [tmp_path / f"worker-{k}.log" for k in range(1, WORKERS + 1)]
    procs: list[asyncio.subprocess.Process] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["TESSERA_TELEGRAM_TOKEN"] = TOKEN
    try:
        for k in range(1, WORKERS + 1):
            extra = [] if k == 1 else ["--deliver-only"]
            with open(logs[k - 1], "wb") as log:
                procs.append(await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bots.cli",
                    "--config", str(_config(tmp_path, url, witnesses[k - 1], k)),
                    "run", "--only", "telegram", "--worker", f"{k}/{WORKERS}", *extra,
                    cwd=ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT))
        alice = server.user(1001, "Alice", "alice_berlin")
        by_route = _groups(server, alice)
        groups = [chat for chats in by_route.values() for chat in chats]
        assembly = -1001800000001
        server.add_group(assembly, "Assembly", admins=[alice])
        await settled(engine, "telegram", WORKERS)  # every worker walking its own route
        await _until(lambda: "getUpdates" in witnesses[0].methods(), "the receiver polling")

        # Someone speaks in a group (the receiver answers through whoever walks that group);
        # a relay fans 78 updates out to six groups at once.
        server.push_message(assembly, alice, "/help")
        _burst(engine, groups, 0, FIRST_BURST)
        expected = {chat: [_text(chat, n) for n in range(FIRST_BURST)] for chat in groups}
        await server.wait_for(lambda: all(len(server.sent_to(c)) >= FIRST_BURST for c in groups)
                              and server.sent_to(assembly), timeout=30)
        await _until(lambda: _pending(engine) == 0, "every row marked sent")
        for chat in groups:
            assert [r.text for r in server.sent_to(chat)] == expected[chat]
        assert server.count_429 == 0  # three workers, one budget: nobody went over it
        for k, witness in enumerate(witnesses, 1):
            # Each worker spoke in its own route's groups and nowhere else.
            assert witness.chats() - {assembly} == set(by_route[k])
        for witness in witnesses[1:]:
            assert not witness.methods() & RECEIVING  # delivery workers never receive
        assert "getUpdates" in witnesses[0].methods()

        # Worker 2 dies without a word; the next burst still reaches every group, in order.
        procs[1].send_signal(signal.SIGKILL)
        await procs[1].wait()
        before = len(witnesses[1].calls)
        _burst(engine, groups, FIRST_BURST, SECOND_BURST)
        total = FIRST_BURST + SECOND_BURST
        await server.wait_for(lambda: all(len(server.sent_to(c)) >= total for c in groups),
                              timeout=30)
        await _until(lambda: _pending(engine) == 0, "every row marked sent")
        for chat in groups:
            assert [r.text for r in server.sent_to(chat)] == [_text(chat, n) for n in range(total)]
        assert len(witnesses[1].calls) == before  # the dead worker said nothing more
        takers = Counter(chat for w in (witnesses[0], witnesses[2]) for _, chat in w.calls
                         if chat is not None and int(chat) in by_route[2])
        assert sum(takers.values()) == SECOND_BURST * GROUPS_PER_ROUTE
        assert server.count_429 == 0
        assert not witnesses[2].methods() & RECEIVING
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        for witness in witnesses:
            await witness.stop()
        await server.stop()
        engine.dispose()
        drop()
    for k in (1, 3):  # the survivors shut down cleanly on SIGTERM, tokens kept out of logs
        text = logs[k - 1].read_text(errors="replace")
        assert procs[k - 1].returncode == 0, text[-3000:]
        assert TOKEN not in text and "Traceback" not in text, text[-3000:]
