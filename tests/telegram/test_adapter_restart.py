"""Restarts lose no update and handle none twice; the webhook door behaves the same."""
from __future__ import annotations

import asyncio

import httpx

from adapters.telegram_state import AdapterMemory
from tests.telegram.conftest import start_suite

BERLIN = -1001000000001


def berlin(server):
    alice = server.user(1001, "Alice")
    server.add_group(BERLIN, "Berlin circle", admins=[alice])
    return alice


async def test_a_restart_neither_loses_nor_repeats_updates(tmp_path, fake_telegram):
    server = fake_telegram
    alice = berlin(server)
    first = await start_suite(tmp_path, server)
    for n in (1, 2, 3):
        server.push_message(BERLIN, alice, f"/note {n}")
    await first.handled(3)
    await first.app.stop()
    # While Tessera is down, the circle keeps talking.
    for n in (4, 5):
        server.push_message(BERLIN, alice, f"/note {n}")

    second = await start_suite(tmp_path, server)
    try:
        await second.handled(2)
        await server.wait_for(lambda: not server.pending_updates)  # all confirmed
        last = AdapterMemory(second.engine).last_update_id()
    finally:
        await second.app.stop()

    assert first.extras["notes"] == [1, 2, 3]
    assert second.extras["notes"] == [4, 5]
    assert last == second.adapter.last_update_id > first.adapter.last_update_id


async def test_a_crash_in_the_middle_of_an_update_handles_it_again_once(tmp_path, fake_telegram):
    server = fake_telegram
    alice = berlin(server)
    first = await start_suite(tmp_path, server)
    inside = asyncio.Event()
    first.extras["hold"] = (2, inside)
    for n in (1, 2, 3):
        server.push_message(BERLIN, alice, f"/note {n}")
    await asyncio.wait_for(inside.wait(), 5)
    await first.app.stop()  # dies while handling note 2

    second = await start_suite(tmp_path, server)
    try:
        await second.handled(2)
    finally:
        await second.app.stop()

    assert first.extras["notes"] == [1]
    assert second.extras["notes"] == [2, 3]


async def test_the_webhook_door_checks_its_secret_and_handles_each_update_once(tmp_path, fake_telegram):
    server = fake_telegram
    alice = berlin(server)
    suite = await start_suite(tmp_path, server, mode="webhook", webhook_listen="127.0.0.1",
                              webhook_url="https://tessera.example.net/telegram/hook",
                              webhook_port=0)
    try:
        assert server.webhook["url"] == "https://tessera.example.net/telegram/hook"
        assert server.webhook["max_connections"] == 1
        secret = server.webhook["secret_token"]
        server.push_message(BERLIN, alice, "/note 7")
        [update] = server.pending_updates  # what Telegram would POST
        url = f"http://127.0.0.1:{suite.adapter.webhook_port}/telegram/hook"
        async with httpx.AsyncClient() as client:
            forged = await client.post(url, json=update,
                                       headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
            delivered = await client.post(url, json=update,
                                          headers={"X-Telegram-Bot-Api-Secret-Token": secret})
            again = await client.post(url, json=update,  # Telegram retrying after a timeout
                                      headers={"X-Telegram-Bot-Api-Secret-Token": secret})
    finally:
        await suite.app.stop()

    assert (forged.status_code, delivered.status_code, again.status_code) == (403, 200, 200)
    assert suite.extras["notes"] == [7]
