"""The one dispatcher: parse, check, run, reply — the same for every platform.

Every incoming message becomes at most one unit of work. Whatever happens inside a handler
(a bad argument, a refusal, a bug) the sender gets a short, clear reply and the bot keeps
serving; state changes of a failed handler are rolled back.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlmodel import Session

from core import i18n, outbox
from core.circles import whereabouts
from core.commands import (
    ANYONE, COORDINATOR, IN_CIRCLE, IN_DIRECT, MEMBER, STEWARD, ArgError, Command, Registry,
    bind_args, split_command,
)
from core.messages import Incoming, Outgoing
from core.storage import unit_of_work
from core.work import Context, Refusal, Services, Work

log = logging.getLogger("tessera.dispatcher")


@dataclass
class _Bucket:
    tokens: float
    at: datetime
    warned: bool = False


@dataclass
class FloodGate:
    """Per-person token buckets: `burst` commands at once, refilled at `per_minute`."""

    burst: int
    per_minute: float
    buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)

    def allow(self, who: tuple[str, str], now: datetime) -> tuple[bool, bool]:
        """(allowed, should_warn): warn once per flood, then stay quiet until refilled."""
        b = self.buckets.get(who)
        if b is None:
            b = self.buckets[who] = _Bucket(self.burst, now)
        elapsed = max(0.0, (now - b.at).total_seconds())
        b.tokens = min(self.burst, b.tokens + elapsed * self.per_minute / 60)
        b.at = now
        if b.tokens >= 1:
            b.tokens -= 1
            b.warned = False
            return True, False
        warn = not b.warned
        b.warned = True
        return False, warn


class Dispatcher:
    """Turns incoming messages into units of work and their replies into outbox rows."""

    def __init__(self, services: Services, registry: Registry,
                 after_commit: Callable[[Work], None] | None = None) -> None:
        self.services = services
        self.registry = registry
        self.after_commit = after_commit or (lambda work: None)
        cmd_cfg = services.config["commands"]
        self.flood = FloodGate(cmd_cfg["flood_burst"], cmd_cfg["flood_per_minute"])
        self.bot_names: dict[str, tuple[str, ...]] = {}

    # -- entry point -----------------------------------------------------------------------
    async def handle(self, incoming: Incoming) -> None:
        """Handle one incoming message or chat event. Never raises."""
        try:
            await self._handle(incoming)
        except Exception:  # last line of defence: the bot must keep serving
            error_id = secrets.token_hex(4)
            log.exception("unhandled error %s on %s message", error_id, incoming.platform)

    async def _handle(self, incoming: Incoming) -> None:
        if incoming.sender.is_bot:
            return
        now = self.services.clock.now()
        if incoming.event:
            await self._run(incoming, now, self._events)
            return
        parsed = split_command(incoming.text, self.bot_names.get(incoming.platform, ()))
        if parsed is None:
            if self.registry.listeners and (incoming.attachments or incoming.reply_to or incoming.text):
                await self._run(incoming, now, self._listeners)
            return
        allowed, warn = self.flood.allow((incoming.platform, incoming.sender.user_id), now)
        if not allowed:
            if warn:
                await self._run(incoming, now, self._flooded)
            return
        await self._run(incoming, now, lambda ctx: self._command(ctx, parsed.words, parsed.prefix))

    # -- one unit of work -------------------------------------------------------------------
    async def _run(self, incoming: Incoming, now: datetime, body) -> None:
        try:
            with unit_of_work(self.services.engine) as session:
                ctx = self._context(session, incoming, now)
                await body(ctx)
                self._flush(ctx)
            self.after_commit(ctx)
        except Refusal as r:
            self._say_after_failure(incoming, now, r.key, r.params)
        except ArgError as e:  # raised by handlers that parse further themselves
            self._say_after_failure(incoming, now, e.key, e.params)
        except Exception:
            error_id = secrets.token_hex(4)
            log.exception("error %s handling %r on %s", error_id, incoming.text[:80], incoming.platform)
            self._say_after_failure(incoming, now, "errors.internal", {"error_id": error_id})

    def _say_after_failure(self, incoming: Incoming, now: datetime, key: str,
                           params: dict[str, Any]) -> None:
        # The handler's changes were rolled back; say why in a fresh unit of work.
        with unit_of_work(self.services.engine) as session:
            ctx = self._context(session, incoming, now)
            ctx.reply(ctx.tr(key, **params))
            self._flush(ctx)
        self.after_commit(ctx)

    def _context(self, session: Session, incoming: Incoming, now: datetime) -> Context:
        # One statement per command for a known sender: who, which circle, which membership.
        acc, person, circle, network, membership = whereabouts(
            session, incoming.platform, incoming.sender.user_id, incoming.sender.display_name,
            None if incoming.is_direct else incoming.chat_id, now, incoming.sender.is_chat_admin)
        return Context(self.services, session, now, incoming, person, acc, circle, network,
                       membership)

    def _flush(self, ctx: Context) -> None:
        inc = ctx.incoming
        for msg in ctx.replies:
            outbox.enqueue(ctx.session, inc.platform, inc.chat_id, msg, now=ctx.now,
                           circle_id=ctx.circle.id if ctx.circle else None,
                           person_id=ctx.person.id if inc.is_direct else None)

    # -- bodies ----------------------------------------------------------------------------
    async def _flooded(self, ctx: Context) -> None:
        ctx.reply(ctx.tr("errors.flood"))

    async def _events(self, ctx: Context) -> None:
        for handler in self.registry.events:
            await handler(ctx)

    async def _listeners(self, ctx: Context) -> None:
        for listener in self.registry.listeners:
            if await listener.handler(ctx):
                return

    async def _command(self, ctx: Context, words: list[str], prefix: str) -> None:
        found = self.registry.find(words)
        if found is None:
            suggestion = self.registry.suggest(words)
            if words and words[0] in self.registry.groups() and not (
                    len(words) > 1 and suggestion and suggestion.startswith(words[0] + " ")):
                group = words[0]
                names = sorted(usage_line(ctx.lang, c, prefix) for c in self.registry.commands
                               if c.name.split()[0] == group)
                ctx.reply(ctx.tr("errors.group_usage", group=group) + "\n" + "\n".join(names))
                return
            key = "errors.unknown_with_suggestion" if suggestion else "errors.unknown"
            ctx.reply(ctx.tr(key, command=prefix + (words[0] if words else ""),
                             suggestion=f"{prefix}{suggestion}" if suggestion else ""))
            return
        cmd, rest = found
        refusal = self._check(ctx, cmd)
        if refusal:
            ctx.reply(refusal)
            return
        try:
            kwargs = bind_args(cmd, rest)
        except ArgError as e:
            params = dict(e.params)
            if e.key == "args.missing":  # "<draw> is missing" names the argument as usage does
                params["name"] = arg_label(ctx.lang, params["name"])
            ctx.reply(usage_reply(ctx.lang, cmd, prefix, ctx.tr(e.key, **params)))
            return
        result = await cmd.handler(ctx, **kwargs)
        if isinstance(result, (str, Outgoing)):
            ctx.reply(result)

    def _check(self, ctx: Context, cmd: Command) -> str | None:
        """Why this person may not run `cmd` here, or None when they may."""
        if cmd.where == IN_DIRECT and not ctx.incoming.is_direct:
            return ctx.tr("errors.direct_only", command=cmd.name)
        needs_circle = cmd.where == IN_CIRCLE or cmd.who in (MEMBER, COORDINATOR, STEWARD)
        if needs_circle and ctx.circle is None:
            return ctx.tr("errors.circle_only", command=cmd.name)
        m = ctx.membership
        if cmd.who == COORDINATOR and not (m and m.is_coordinator):
            return ctx.tr("errors.coordinators_only", command=cmd.name)
        if cmd.who == STEWARD and not (m and m.is_steward):
            return ctx.tr("errors.stewards_only", command=cmd.name)
        return None


def usage_reply(lang: str, cmd: Command, prefix: str, problem: str) -> str:
    """"What was wrong" + the usage line + the command's help, in `lang`."""
    help_text = i18n.t(lang, cmd.key + ".help")
    return "\n".join([
        i18n.t(lang, "errors.bad_args", problem=problem),
        i18n.t(lang, "errors.usage", usage=f"`{usage_line(lang, cmd, prefix)}`"),
        help_text,
    ])


def arg_label(lang: str, name: str) -> str:
    """What an argument is called in `lang` ("draw" -> "الطلب"); its own name if untranslated."""
    key = f"arg_label.{name}"
    label = i18n.t(lang, key)
    return name if label == key else label


def usage_line(lang: str, cmd: Command, prefix: str = "/") -> str:
    """`cmd.usage()` with the arguments named in `lang`: `/treasury vote <الطلب> <الخيار>`.
    The command words stay as they must be typed."""
    parts = [prefix + cmd.name]
    for a in cmd.args:
        label = arg_label(lang, a.name) + ("..." if a.rest else "")
        parts.append(f"<{label}>" if a.required else f"[{label}]")
    return " ".join(parts)


def who_label(lang: str, who: str) -> str:
    """"members", "coordinators"... in `lang`, for help texts."""
    return i18n.t(lang, f"roles.{who}")


__all__ = ["Dispatcher", "FloodGate", "arg_label", "usage_line", "usage_reply", "who_label",
           "ANYONE"]
