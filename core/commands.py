"""Commands, declared once for every platform.

A feature declares each command with its name, typed arguments and who may run it:

    feature = Feature("relay")

    @feature.command("relay status", args=[Arg("relay", Int, required=False)], who=MEMBER)
    async def status(ctx, relay=None): ...

Help texts live in the message catalogs under `cmd.<name_with_underscores>.help` (and
`.args.<arg>` for each argument), so they are translated like every other word. Parsing,
usage messages, permission checks and error replies happen in `core.dispatcher`, once.
"""
from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Awaitable, Callable, Iterable, Sequence

# Who may run a command. Stewards and coordinators are both members; a command for
# stewards is also open to nobody else.
ANYONE, MEMBER, COORDINATOR, STEWARD = "anyone", "member", "coordinator", "steward"
# Where a command makes sense.
ANYWHERE, IN_CIRCLE, IN_DIRECT = "anywhere", "circle", "direct"


class ArgError(ValueError):
    """An argument did not parse. `key` names a catalog message, `params` fill it."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class ArgType:
    """How one kind of argument is parsed; `name` is shown in usage lines."""

    name: str
    parse: Callable[[str], Any]
    slash_type: str = "string"  # how Discord's slash commands should offer it


def _word(s: str) -> str:
    if not s:
        raise ArgError("args.empty")
    return s


def _int(s: str) -> int:
    try:
        return int(s.replace("#", ""))
    except ValueError:
        raise ArgError("args.not_a_number", value=s) from None


def _positive_int(s: str) -> int:
    n = _int(s)
    if n <= 0:
        raise ArgError("args.not_positive", value=s)
    return n


def _zone(s: str) -> str:
    from core.timekeeping import zone_lookup

    # Exact, case-insensitive, or a bare city ("lagos", "new york"): the lookup tables are
    # built once, since listing the zones reads the whole tz database from disk.
    by_name, by_city = zone_lookup()
    found = by_name.get(s.lower()) or by_city.get(s.lower().replace("_", " "))
    if found is not None:
        return found
    close = difflib.get_close_matches(s, list(by_name.values()), n=1, cutoff=0.6)
    raise ArgError("args.bad_zone", value=s, suggestion=close[0] if close else "Europe/Berlin")


def _lang(s: str) -> str:
    from core.i18n import available_languages, normalise_language

    code = normalise_language(s)
    if code is None:
        # Circles may speak languages the bot has no catalog for; translation still works.
        if re.fullmatch(r"[a-zA-Z]{2,3}", s):
            return s.lower()
        raise ArgError("args.bad_lang", value=s, langs=", ".join(available_languages()))
    return code


def _date(s: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise ArgError("args.bad_date", value=s) from None


def _time(s: str) -> time:
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?", s.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2) or 0) > 59:
        raise ArgError("args.bad_time", value=s)
    return time(int(m.group(1)), int(m.group(2) or 0))


def _datetime(s: str) -> datetime:
    try:
        return datetime.fromisoformat(s.replace("T", " "))
    except ValueError:
        raise ArgError("args.bad_datetime", value=s) from None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|min)", re.I)


def parse_duration(s: str) -> timedelta:
    """Parse "72h", "3d", "1d12h", "90m", "2w"."""
    s = s.strip().lower()
    pos, total = 0, timedelta(0)
    units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "min": "minutes"}
    for m in _DURATION.finditer(s):
        if m.start() != pos:
            break
        total += timedelta(**{units[m.group(2)]: float(m.group(1))})
        pos = m.end()
    if pos != len(s) or total <= timedelta(0):
        raise ArgError("args.bad_duration", value=s)
    return total


def _money(s: str):
    from core.money import Money

    try:
        return Money.parse(s)
    except Exception as exc:  # the money module explains what was wrong
        raise ArgError("args.bad_money", value=s, reason=str(exc)) from None


def choice(*options: str, name: str | None = None) -> ArgType:
    """An argument that must be one of `options` (case-insensitive, unique prefixes accepted)."""

    def parse(s: str) -> str:
        low = s.lower()
        if low in options:
            return low
        starts = [o for o in options if o.startswith(low)]
        if len(starts) == 1:
            return starts[0]
        raise ArgError("args.bad_choice", value=s, options=" | ".join(options))

    return ArgType(name or "|".join(options), parse)


Text = ArgType("text", _word)
Word = ArgType("word", _word)
Int = ArgType("number", _int, "integer")
PositiveInt = ArgType("number", _positive_int, "integer")
Zone = ArgType("time zone", _zone)
Lang = ArgType("language", _lang)
Date = ArgType("YYYY-MM-DD", _date)
Time = ArgType("HH:MM", _time)
DateTime = ArgType("YYYY-MM-DD HH:MM", _datetime)
Duration = ArgType("duration", parse_duration)
MoneyArg = ArgType("amount CUR", _money)


@dataclass(frozen=True)
class Arg:
    """One argument of a command. `rest=True` swallows the remaining words."""

    name: str
    type: ArgType = Word
    required: bool = True
    default: Any = None
    rest: bool = False


Handler = Callable[..., Awaitable[Any]]


@dataclass
class Command:
    """A declared command: what it is called, what it takes, who may run it, where."""

    name: str
    handler: Handler
    args: list[Arg] = field(default_factory=list)
    who: str = ANYONE
    where: str = ANYWHERE
    feature: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The catalog key stem: "relay status" -> "cmd.relay_status"."""
        return "cmd." + self.name.replace(" ", "_")

    def usage(self, prefix: str = "/") -> str:
        """A usage line such as `/relay start <title> <circles...> [leg_hours]`."""
        parts = [prefix + self.name]
        for a in self.args:
            label = a.name + ("..." if a.rest else "")
            parts.append(f"<{label}>" if a.required else f"[{label}]")
        return " ".join(parts)


@dataclass
class Listener:
    """A handler for messages that are not commands (a voice note during a relay leg)."""

    name: str
    handler: Handler
    feature: str = ""


class Feature:
    """A group of commands, listeners and timer handlers declared by one part of the suite."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.commands: list[Command] = []
        self.listeners: list[Listener] = []
        self.timers: dict[str, Handler] = {}
        self.events: list[Handler] = []
        self.person_mergers: list[Callable[..., None]] = []
        self.person_exporters: list[Callable[..., dict]] = []
        self.person_erasers: list[Callable[..., None]] = []
        self.circle_exporters: list[Callable[..., dict]] = []

    def command(self, name: str, args: Sequence[Arg] = (), who: str = ANYONE,
                where: str = ANYWHERE, aliases: Iterable[str] = ()) -> Callable[[Handler], Handler]:
        """Declare a command handled by the decorated coroutine."""
        args = list(args)
        for i, a in enumerate(args):
            if a.rest and i != len(args) - 1:
                raise ValueError(f"{name}: only the last argument may take the rest")

        def deco(fn: Handler) -> Handler:
            self.commands.append(Command(name, fn, args, who, where, self.name, tuple(aliases)))
            return fn

        return deco

    def listener(self, name: str) -> Callable[[Handler], Handler]:
        """Declare a handler for non-command messages; it returns True when it took one."""

        def deco(fn: Handler) -> Handler:
            self.listeners.append(Listener(name, fn, self.name))
            return fn

        return deco

    def timer(self, kind: str) -> Callable[[Handler], Handler]:
        """Declare the handler run when a timer of `kind` is due."""

        def deco(fn: Handler) -> Handler:
            self.timers[kind] = fn
            return fn

        return deco

    def on_person_merge(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Declare `fn(session, source_person_id, target_person_id)`, run when two people's
        accounts are linked, so the feature's rows follow the person."""
        self.person_mergers.append(fn)
        return fn

    def on_person_export(self, fn: Callable[..., dict]) -> Callable[..., dict]:
        """Declare `fn(session, person_id) -> dict`: everything this feature stores about a
        person, for `/mydata` (JSON-serialisable; list media keys under "media")."""
        self.person_exporters.append(fn)
        return fn

    def on_person_erase(self, fn: Callable[..., None]) -> Callable[..., None]:
        """Declare `fn(work, person_id)`: remove the person's personal data from this feature's
        rows while keeping tallies, ledgers and other people's data consistent."""
        self.person_erasers.append(fn)
        return fn

    def on_circle_export(self, fn: Callable[..., dict]) -> Callable[..., dict]:
        """Declare `fn(session, circle_id) -> dict`: this feature's data about one circle,
        for `/circle export` (a circle can take all its data when it leaves)."""
        self.circle_exporters.append(fn)
        return fn

    def on_event(self, fn: Handler) -> Handler:
        """Declare a handler for chat events (joins, admin changes, chat moves)."""
        self.events.append(fn)
        return fn


class Registry:
    """Every command of the suite, looked up by (possibly multi-word) name."""

    def __init__(self, features: Iterable[Feature]) -> None:
        self.features = list(features)
        self.by_name: dict[str, Command] = {}
        self.listeners: list[Listener] = []
        self.timers: dict[str, Handler] = {}
        self.events: list[Handler] = []
        self.person_mergers: tuple[Callable[..., None], ...] = tuple(
            m for f in self.features for m in f.person_mergers)
        self.person_exporters = {f.name: f.person_exporters for f in self.features
                                 if f.person_exporters}
        self.person_erasers = tuple(e for f in self.features for e in f.person_erasers)
        self.circle_exporters = {f.name: f.circle_exporters for f in self.features
                                 if f.circle_exporters}
        for f in self.features:
            for c in f.commands:
                for n in (c.name, *c.aliases):
                    if n in self.by_name:
                        raise ValueError(f"command {n!r} declared twice")
                    self.by_name[n] = c
            self.listeners += f.listeners
            self.events += f.events
            for kind, fn in f.timers.items():
                if kind in self.timers:
                    raise ValueError(f"timer {kind!r} declared twice")
                self.timers[kind] = fn

    @property
    def commands(self) -> list[Command]:
        """Each command once, in declaration order."""
        seen: dict[int, Command] = {}
        for c in self.by_name.values():
            seen.setdefault(id(c), c)
        return list(seen.values())

    def groups(self) -> set[str]:
        """First words shared by multi-word commands ("relay", "treasury")."""
        return {c.name.split()[0] for c in self.commands if " " in c.name}

    def find(self, words: Sequence[str]) -> tuple[Command, list[str]] | None:
        """The longest command name matching the first words, and the remaining words."""
        low = [w.lower() for w in words]
        for n in range(min(3, len(low)), 0, -1):
            cmd = self.by_name.get(" ".join(low[:n]))
            if cmd:
                return cmd, list(words[n:])
        return None

    def suggest(self, words: Sequence[str]) -> str | None:
        """The closest command name to what was typed, if any is close."""
        typed = " ".join(w.lower() for w in words[:2])
        names = list(self.by_name)
        best = difflib.get_close_matches(typed, names, n=1, cutoff=0.6)
        if not best and words:
            best = difflib.get_close_matches(words[0].lower(), names + sorted(self.groups()),
                                             n=1, cutoff=0.6)
        return best[0] if best else None


@dataclass
class ParsedText:
    """A command line split into words."""

    words: list[str]
    prefix: str


_CMD_HEAD = re.compile(r"^\s*([/!])([A-Za-z][\w-]*)(?:@(\w+))?(.*)$", re.S)
# Most commands hold no quote or escape: they split where shlex would, without its tokenizer
# (a twentieth of a status command's time).
_QUOTING = frozenset("'\"\\")
_SHELL_SPACE = re.compile(r"[ \t\r\n]+")


def split_command(text: str, bot_names: Iterable[str] = ()) -> ParsedText | None:
    """Split "/cmd@bot a 'b c'" into words; None when the text is not a command for us.

    Accepts `/cmd`, `/cmd@botname` (only our own names) and `!cmd`. Quotes group words; an
    unbalanced quote falls back to plain splitting rather than failing.
    """
    m = _CMD_HEAD.match(text or "")
    if not m:
        return None
    prefix, name, addressee, rest = m.groups()
    if addressee and bot_names and addressee.lower() not in {b.lower() for b in bot_names}:
        return None
    rest = rest.strip()
    try:
        if not rest:
            words = []
        elif _QUOTING.isdisjoint(rest):
            words = [w for w in _SHELL_SPACE.split(rest) if w]
        else:
            words = shlex.split(rest)
    except ValueError:
        words = rest.split()
    return ParsedText([name.replace("-", "_").lower(), *words], prefix)


def bind_args(cmd: Command, words: Sequence[str]) -> dict[str, Any]:
    """Turn words into keyword arguments for `cmd`, raising ArgError with a reason.

    Positional words fill arguments in order; `name=value` fills one by name.
    """
    named: dict[str, str] = {}
    positional: list[str] = []
    known = {a.name for a in cmd.args}
    for w in words:
        k, sep, v = w.partition("=")
        if sep and k in known and not positional_rest_started(cmd, positional):
            named[k] = v
        else:
            positional.append(w)
    values: dict[str, Any] = {}
    pos = 0
    for a in cmd.args:
        if a.name in named:
            raw = named[a.name]
        elif a.rest:
            raw = " ".join(positional[pos:]) if pos < len(positional) else None
            pos = len(positional)
        elif pos < len(positional):
            raw = positional[pos]
            pos += 1
        else:
            raw = None
        if raw is None or raw == "":
            if a.required:
                raise ArgError("args.missing", name=a.name)
            values[a.name] = a.default
            continue
        values[a.name] = a.type.parse(raw)
    if pos < len(positional):
        raise ArgError("args.too_many", extra=" ".join(positional[pos:]))
    return values


def positional_rest_started(cmd: Command, positional: list[str]) -> bool:
    """True once positional words have reached a `rest` argument (its words stay text)."""
    fixed = [a for a in cmd.args if not a.rest]
    return any(a.rest for a in cmd.args) and len(positional) >= len(fixed)
