"""A ballot as a native Telegram poll: votes from several people reach the core as commands."""
from __future__ import annotations

from core.messages import Choice, Outgoing, Poll

BERLIN = -1001000000001


async def test_a_ballot_is_a_native_poll_whose_votes_reach_the_core_and_which_closes(suite):
    server = suite.server
    alice, bob, carol = (server.user(i, n) for i, n in ((1001, "Alice"), (1002, "Bob"), (1003, "Carol")))
    server.add_group(BERLIN, "Berlin depot", admins=[alice], members=[bob, carol])
    ballot = Poll("Send 300 EUR to the Lagos strike fund?",
                  [Choice("Yes", "/testvote 1 yes"), Choice("No", "/testvote 1 no")], ref="ballot:1")

    suite.enqueue(BERLIN, Outgoing(poll=ballot))
    [sent] = await server.wait_for_sent(chat_id=BERLIN, kind="poll")
    poll_id = sent.message["poll"]["id"]
    assert sent.message["poll"]["is_anonymous"] is False
    assert [o["text"] for o in sent.message["poll"]["options"]] == ["Yes", "No"]

    server.push_poll_answer(poll_id, alice, [0])
    server.push_poll_answer(poll_id, bob, [1])
    server.push_poll_answer(poll_id, carol, [0])
    server.push_poll_answer(poll_id, bob, [])  # Bob retracts ...
    server.push_poll_answer(poll_id, bob, [0])  # ... and votes yes after all
    await suite.handled(5)

    assert suite.extras["votes"] == {(1, "1001"): "yes", (1, "1002"): "yes", (1, "1003"): "yes"}

    suite.enqueue(BERLIN, Outgoing(text="The ballot is closed.", close_ref="ballot:1"))
    await server.wait_for(lambda: server.polls[poll_id].is_closed)
    assert [r.method for r in server.sent_to(BERLIN)] == ["sendPoll", "sendMessage", "stopPoll"]


async def test_a_ballot_with_too_many_options_becomes_buttons(suite):
    server = suite.server
    server.add_group(BERLIN, "Berlin depot", admins=[server.user(1001, "Alice")])
    options = [Choice(f"Date {i}", f"/testvote 2 d{i}") for i in range(1, 13)]

    suite.enqueue(BERLIN, Outgoing(poll=Poll("Which day of action?", options, ref="ballot:2")))
    [sent] = await server.wait_for_sent(chat_id=BERLIN)
    suite.enqueue(BERLIN, Outgoing(close_ref="ballot:2"))  # nothing native to stop
    await server.wait_for(lambda: _all_sent(suite))

    assert sent.kind == "text" and "/testvote 2 d12" in sent.text
    assert [b["callback_data"] for b in sent.buttons][-1] == "/testvote 2 d12"
    assert not server.polls


def _all_sent(suite) -> bool:
    from sqlmodel import select

    from core.storage import unit_of_work
    from core.storage.models import OutboxMessage
    with unit_of_work(suite.engine) as s:
        return all(r.state == "sent" for r in s.exec(select(OutboxMessage)).all())
