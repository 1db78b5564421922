"""Publications: what a network has chosen to show on the web, and under which link.

Nothing is on the web until a coordinator publishes it. Each publication has a long random
token that is its address (an unlisted link); `public` also lists it on the network's public
page. Unpublishing sets `revoked_at`: the link stops working at once, and publishing the same
thing again makes a new token, so a link that leaked can be replaced.
"""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from core.storage.models import UtcField


class Publication(SQLModel, table=True):
    """One published thing of a network.

    `kind`: "relay" (`ref_id` = the relay), "calendar" (the network's and every circle's
    .ics), "treasury" (balances, ledger, verification, asymmetry report) or "index" (the list
    of everything the network publishes, with a feed of its relays).
    """

    __tablename__ = "publication"

    id: int | None = Field(default=None, primary_key=True)
    network_id: int = Field(foreign_key="network.id", index=True)
    kind: str = Field(max_length=16)
    ref_id: int | None = Field(default=None)
    token: str = Field(max_length=64, unique=True, index=True)
    public: bool = False
    lang: str = Field(default="en", max_length=16)  # the publishing circle's language
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = UtcField(default_now=True)
    revoked_at: datetime | None = UtcField(nullable=True)
