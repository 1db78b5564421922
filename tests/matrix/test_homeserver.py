"""The Synapse harness works: real users talk in a real room over a real homeserver."""

from __future__ import annotations

import time
import uuid
from typing import Callable

import pytest
from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendError,
    RoomSendResponse,
    SyncResponse,
)

from tests.support.synapse import Homeserver

pytestmark = pytest.mark.synapse


def _localpart(name: str) -> str:
    """A fresh localpart: the session's homeserver is shared by every test."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _client(server: Homeserver, name: str, config: AsyncClientConfig | None = None) -> AsyncClient:
    user_id, token, device_id = server.register_user(_localpart(name))
    client = AsyncClient(server.url, user_id, device_id=device_id, config=config)
    client.restore_login(user_id, device_id, token)
    return client


async def _sync_until(client: AsyncClient, found: Callable[[SyncResponse], object],
                      attempts: int = 20):
    """Long-poll sync until `found(response)` is truthy; a bounded number of tries."""
    for _ in range(attempts):
        response = await client.sync(timeout=3000)
        assert isinstance(response, SyncResponse), response
        result = found(response)
        if result:
            return result
    pytest.fail(f"{client.user_id} never saw what it waited for in {attempts} syncs")


def test_registered_user_belongs_to_the_server(homeserver):
    user_id, token, device_id = homeserver.register_user(_localpart("steward"), admin=True)
    assert user_id.endswith(":" + homeserver.server_name)
    assert token and device_id


async def test_alice_invites_bob_and_bob_reads_her_report(homeserver, matrix_numbers):
    alice, bob = _client(homeserver, "alice"), _client(homeserver, "bob")
    try:
        await bob.sync(timeout=0)  # bob's starting point: later syncs only bring news
        began = time.monotonic()

        created = await alice.room_create(name="Berlin circle", invite=[bob.user_id])
        assert isinstance(created, RoomCreateResponse), created
        room_id = created.room_id

        await _sync_until(bob, lambda sync: room_id in sync.rooms.invite)
        joined = await bob.join(room_id)
        assert isinstance(joined, JoinResponse), joined

        report = "Field report: the night shift walked out at 22:00."
        sent = await alice.room_send(room_id, "m.room.message",
                                     {"msgtype": "m.text", "body": report})
        assert isinstance(sent, RoomSendResponse), sent

        def alices_message(sync: SyncResponse):
            room = sync.rooms.join.get(room_id)
            events = room.timeline.events if room else []
            return next((e for e in events if e.event_id == sent.event_id), None)

        received = await _sync_until(bob, alices_message)
        matrix_numbers["create/invite/join/send/receive round trip"] = time.monotonic() - began

        assert isinstance(received, RoomMessageText)
        assert received.sender == alice.user_id
        assert received.body == report
    finally:
        await alice.close()
        await bob.close()


async def test_a_burst_meets_synapse_default_message_limit(default_limits_homeserver):
    server = default_limits_homeserver()
    # nio would sleep and retry a 429 on its own; with no retries the error reaches us.
    alice = _client(server, "alice", AsyncClientConfig(max_limit_exceeded=0))
    try:
        created = await alice.room_create(name="Lagos circle")
        assert isinstance(created, RoomCreateResponse), created

        delivered, refusal = 0, None
        for n in range(40):  # the default rc_message burst is 10
            answer = await alice.room_send(created.room_id, "m.room.message",
                                           {"msgtype": "m.text", "body": f"call-out {n}"})
            if isinstance(answer, RoomSendError):
                refusal = answer
                break
            assert isinstance(answer, RoomSendResponse), answer
            delivered += 1

        assert refusal is not None, f"{delivered} messages went through without a 429"
        assert refusal.status_code == "M_LIMIT_EXCEEDED"
        assert refusal.retry_after_ms and refusal.retry_after_ms > 0
        assert delivered >= 1
    finally:
        await alice.close()
