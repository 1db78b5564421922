"""What goes into the outbox comes back out the same, whatever the message holds."""
from __future__ import annotations

from dataclasses import asdict, fields

import pytest

from core.messages import Attachment, Choice, Outgoing, Poll

FULL = Outgoing(
    text="**Kickoff** at the depot", lang="ar", close_ref="ballot:3", reply_to="m-9",
    attachments=[Attachment(kind="image", mime_type="image/png", size=3, filename="chart.png",
                            path="ab/cd", caption="Who gives, who receives")],
    choices=[Choice("Going", "/event rsvp 1 going")],
    poll=Poll(question="Approve draw #3?", options=[Choice("Yes", "/treasury vote 3 yes")],
              ref="ballot:3"))


@pytest.mark.parametrize("message", [FULL, Outgoing(text="plain")], ids=["full", "plain"])
def test_outbox_data_round_trips(message):
    data = message.to_json()
    assert data == asdict(message)  # every field, nothing more
    assert list(data) == [f.name for f in fields(Outgoing)]
    assert Outgoing.from_json(data) == message
