"""An extra delivery worker on a real Synapse: it logs in with the bot's token and sends what
the receiving process queued (the notice for an encrypted room included) without ever
calling /sync, and it neither runs nor stands for the scheduler."""
from __future__ import annotations

import pytest
from nio import AsyncClient

from adapters.matrix_adapter import MatrixAdapter
from bots import circles, help as help_
from bots.app import build_app
from core.messages import Outgoing
from tests.matrix.test_adapter_synapse import (  # noqa: F401  (people: a fixture)
    Bot, bot_notice, enqueue, people, room_with_bot,
)

pytestmark = pytest.mark.synapse


@pytest.fixture
def requests_by_client(monkeypatch):
    """Every homeserver request, as (client, path): nio sends all of them through `_send`."""
    seen: list[tuple[AsyncClient, str]] = []
    original = AsyncClient._send

    async def recording(self, response_class, method, path, *args, **kwargs):
        seen.append((self, path))
        return await original(self, response_class, method, path, *args, **kwargs)

    monkeypatch.setattr(AsyncClient, "_send", recording)
    return seen


async def test_a_delivery_worker_sends_without_syncing(homeserver, tmp_path, people,
                                                       requests_by_client):
    ines = people("ines")
    bot = Bot(homeserver, tmp_path)
    # The receiving process, with its own courier stopped, so that only the worker delivers.
    async with bot.run() as (receiver, receiving):
        receiver.couriers["matrix"].stop()
        worker = build_app(bot.config, features=[help_.feature, circles.feature])
        sending = MatrixAdapter(homeserver.url, bot.user_id, worker.services.media,
                                worker.services.engine, token=bot.token)
        worker.add_adapter(sending)
        await worker.start(receive=False)
        try:
            assert not worker.scheduler.is_leader and worker.scheduler._elect_task is None

            # The receiver joins an encrypted room and queues its notice; the worker says it.
            room = await room_with_bot(ines, bot, name="Encrypted circle", initial_state=[{
                "type": "m.room.encryption", "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"}}])
            notice = await ines.wait_for(bot_notice(bot.user_id, room, "end-to-end encrypted"))
            assert notice["content"]["msgtype"] == "m.notice"

            plain = await room_with_bot(ines, bot, name="Lagos circle")
            enqueue(worker, plain, Outgoing(text="Leg 2 of **the night-shift relay**"))
            leg = await ines.wait_for(bot_notice(bot.user_id, plain, "Leg 2"))
            assert "<b>the night-shift relay</b>" in leg["content"]["formatted_body"]
        finally:
            await worker.stop()

    worker_paths = [path for client, path in requests_by_client if client is sending.client]
    receiver_paths = [path for client, path in requests_by_client if client is receiving.client]
    assert any("/send/" in path for path in worker_paths)  # the worker did the talking
    assert not any("/sync" in path for path in worker_paths)  # ... and never listened
    assert not any("/send/" in path for path in receiver_paths)
    assert any("/sync" in path for path in receiver_paths)  # (the recording sees syncs)
