"""What an adapter is, seen from the core.

An adapter is a thin door to one platform: it turns the platform's events into
`core.messages.Incoming`, hands them to a dispatcher callback, and delivers `Outgoing`
messages the courier gives it. It never decides anything. Five members, no more:
`start()` (non-blocking), `stop()`, `send()`, `to_incoming(raw)` (pure) and
`render(outgoing)` (pure), plus the set of `capabilities`.

A door started with `receive=False` only delivers: it authenticates and can send, but never
listens (no long poll, webhook, sync loop or gateway). Extra delivery workers of a platform
run that way (`tessera run --deliver-only`), and share the bot's global rate limit among
themselves (core.courier_routes). A door that paces its own API calls below the platform's
global limit may offer `pace_share(fraction)`: the courier calls it, when present, with the
part of the global rate this worker may use now, so both layers keep to the same share.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Protocol, runtime_checkable

from core.messages import Incoming, Outgoing

# Capabilities a feature may ask for (never a platform's name).
POLLS, BUTTONS, VOICE, THREADS, EDIT, HTML = "polls", "buttons", "voice", "threads", "edit", "html"

OnIncoming = Callable[[Incoming], Awaitable[None]]


class DeliveryError(Exception):
    """Sending failed. `permanent` failures (chat gone, bot removed) are not retried."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class RetryAfter(DeliveryError):
    """The platform asked us to wait `seconds` before sending again (a 429).

    `scope` is "chat" when only this chat is throttled, "global" when the whole bot is.
    """

    def __init__(self, seconds: float, scope: str = "chat") -> None:
        super().__init__(f"rate limited for {seconds:.1f}s ({scope})")
        self.seconds = seconds
        self.scope = scope


@runtime_checkable
class Adapter(Protocol):
    """The interface every platform door implements."""

    platform: str
    capabilities: frozenset[str]
    # Bot names accepted in "/cmd@name" (the parser ignores commands for other bots).
    bot_names: tuple[str, ...]
    # Longest text the platform accepts in one message.
    text_limit: int

    async def start(self, on_incoming: OnIncoming, *, receive: bool = True) -> None:
        """Connect and start receiving; returns once receiving runs in the background.

        With `receive=False` only connect (log in) so that `send` works; never receive.
        `on_incoming` is still kept: sending can learn things the core must hear (a group
        that moved to a new id).
        """

    async def stop(self) -> None:
        """Stop receiving and close connections."""

    async def send(self, chat_id: str, message: Outgoing, direct: bool = False) -> str:
        """Deliver one message; return the platform's message reference.

        Raise `RetryAfter` on rate limits and `DeliveryError` on other failures.
        """

    def to_incoming(self, raw: Any) -> Incoming | None:
        """Translate a raw platform event (pure; None for events Tessera ignores)."""

    def render(self, message: Outgoing) -> Any:
        """Translate an outgoing message to the platform's payload(s) (pure)."""
