"""What the benchmarks share: configuration, a silent platform door, seeding circles and
members, fresh PostgreSQL databases, and reading the process's memory."""
from __future__ import annotations

import importlib
import os
import secrets
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

PG_URL_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PLATFORM = "bench"

# Features still being built elsewhere; each joins the benchmark when its module imports,
# so the command mix grows with the suite without editing the harness.
OPTIONAL_FEATURES = ("bots.relay", "bots.treasury", "bots.calendar_feature", "bots.syncday",
                     "bots.archive")

# Zones for seeded circles: spread over the world so local times differ.
CIRCLE_ZONES = ("Europe/Berlin", "Africa/Lagos", "America/Chicago", "Europe/Istanbul",
                "Asia/Kolkata", "America/Sao_Paulo", "Asia/Manila", "Africa/Nairobi",
                "America/Mexico_City", "Asia/Jakarta")


def bench_config(data_dir: Path, database_url: str | None = None, **sections):
    """A validated configuration for a benchmark run rooted in `data_dir`.

    Flood protection is opened wide: simulated members type far faster than people, and a
    flooded command is dropped without a reply, which would hide the work being measured.
    Translation is off: its models are excluded from every measurement.
    """
    from core.config import load_config

    overrides: dict = {"tessera": {"data_dir": str(data_dir), "log_level": "warning"},
                       "commands": {"flood_burst": 1_000_000, "flood_per_minute": 1_000_000},
                       "translation": {"enabled": False}}
    if database_url:
        overrides["tessera"]["database_url"] = database_url
    for section, values in sections.items():
        overrides.setdefault(section, {}).update(values)
    return load_config(env={}, overrides=overrides, path=None)


def suite_features() -> list:
    """The features `tessera run` serves, plus any optional feature whose module imports."""
    from bots.app import all_features

    features = list(all_features())
    names = {f.name for f in features}
    for module in OPTIONAL_FEATURES:
        try:
            feature = importlib.import_module(module).feature
        except ImportError:
            continue
        if feature.name not in names:
            features.append(feature)
            names.add(feature.name)
    return features


@dataclass
class BenchDoor:
    """A platform door that accepts everything and sends nowhere (deliveries are counted)."""

    platform: str = PLATFORM
    capabilities: frozenset = frozenset()
    bot_names: tuple = ("tessera_bot",)
    text_limit: int = 4096
    sent: int = 0
    on_incoming: object = None

    async def start(self, on_incoming) -> None:
        self.on_incoming = on_incoming

    async def stop(self) -> None:
        pass

    async def send(self, chat_id: str, message, direct: bool = False) -> str:
        self.sent += 1
        return f"{self.platform}-{self.sent}"

    def to_incoming(self, raw):
        return None

    def render(self, message) -> str:
        return message.text


@dataclass
class Member:
    """A simulated member: their platform id and name, and the chat of their circle."""

    user_id: str
    name: str
    chat_id: str
    coordinator: bool = False


@dataclass
class Population:
    """Seeded circles (by chat id) and their members."""

    chats: list[str] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)

    def coordinator_of(self, chat_id: str) -> Member:
        return next(m for m in self.members if m.chat_id == chat_id and m.coordinator)


def seed_population(engine, circles: int, members_per_circle: int,
                    now: datetime | None = None) -> Population:
    """One network of `circles` circles with `members_per_circle` members each, the first of
    each circle a coordinator, written through the circles service layer."""
    from core import circles as svc
    from core.messages import Incoming, Sender
    from core.storage import unit_of_work

    now = now or datetime.now(timezone.utc)
    pop = Population()
    with unit_of_work(engine) as s:
        founder = svc.account_for(s, PLATFORM, "founder", "Founder", now)
        from core.storage.models import Person
        net, _ = svc.create_network(s, "Bench Network", s.get(Person, founder.person_id), now)
        for c in range(circles):
            chat = f"circle-{c}"
            zone = CIRCLE_ZONES[c % len(CIRCLE_ZONES)]
            inc = Incoming(platform=PLATFORM, chat_id=chat, chat_title=f"Circle {c}",
                           sender=Sender("founder"))
            circle = svc.register_circle(s, net, inc, city=f"City{c}", country="DE",
                                         timezone=zone, language="en", now=now)
            pop.chats.append(chat)
            for i in range(members_per_circle):
                user = f"u{c}-{i}"
                acc = svc.account_for(s, PLATFORM, user, f"Member {c}-{i}", now)
                m = svc.membership_for(s, acc.person_id, circle.id, now, is_admin=(i == 0))
                pop.members.append(Member(user, f"Member {c}-{i}", chat, m.is_coordinator))
    return pop


def bulk_seed(engine, circles: int, members: int, now: datetime | None = None) -> None:
    """Load `circles` circles and `members` members fast (bulk inserts, one transaction):
    for footprint measurements where only the amount of data matters."""
    from sqlalchemy import insert

    from core.storage import unit_of_work
    from core.storage.models import Account, Circle, Membership, Network, Person

    now = now or datetime.now(timezone.utc)
    per_circle = max(1, members // circles)
    with unit_of_work(engine) as s:
        net = Network(name="Footprint Network", created_at=now)
        s.add(net)
        s.flush()
        s.execute(insert(Circle.__table__), [
            dict(network_id=net.id, name=f"Circle {c}", city=f"City{c}", country="DE",
                 timezone=CIRCLE_ZONES[c % len(CIRCLE_ZONES)], language="en",
                 platform=PLATFORM, chat_id=f"circle-{c}", active_from=now,
                 expiry_notice_sent=False)
            for c in range(circles)])
        circle_ids = [cid for (cid,) in s.execute(
            Circle.__table__.select().with_only_columns(Circle.__table__.c.id)
            .order_by(Circle.__table__.c.id))]
        first = (s.execute(Person.__table__.select().with_only_columns(
            Person.__table__.c.id).order_by(Person.__table__.c.id.desc()).limit(1)).scalar() or 0) + 1
        s.execute(insert(Person.__table__), [
            dict(id=first + i, display_name=f"Member {i}", created_at=now) for i in range(members)])
        s.execute(insert(Account.__table__), [
            dict(person_id=first + i, platform=PLATFORM, platform_user_id=f"m{i}",
                 display_name=f"Member {i}") for i in range(members)])
        s.execute(insert(Membership.__table__), [
            dict(person_id=first + i, circle_id=circle_ids[min(i // per_circle, circles - 1)],
                 joined_at=now, is_coordinator=(i % per_circle == 0), is_steward=False)
            for i in range(members)])
    if engine.dialect.name == "postgresql":  # explicit ids: move the sequence past them
        from sqlalchemy import text
        with engine.begin() as c:
            c.execute(text("SELECT setval(pg_get_serial_sequence('person', 'id'), "
                           "(SELECT max(id) FROM person))"))


@contextmanager
def fresh_postgres(base_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database next to `base_url`'s, dropped afterwards."""
    import sqlalchemy as sa

    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    name = "tessera_bench_" + secrets.token_hex(4)
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_url(options) -> str | None:
    """The PostgreSQL server to benchmark on, or None when it is switched off or unreachable."""
    url = getattr(options, "postgres", None)
    if url is None:
        url = os.environ.get("TESSERA_BENCH_POSTGRES_URL") or \
            os.environ.get("TESSERA_TEST_POSTGRES_URL") or PG_URL_DEFAULT
    if not url or url == "off":
        return None
    import sqlalchemy as sa
    try:
        engine = sa.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except Exception:
        return None
    return url


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM (peak resident) of a process in KiB, from /proc."""
    found = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


def cpu_seconds(pid: int | str = "self") -> float:
    """User plus system CPU time a process has used, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_note() -> str:
    """The machine's load, printed with the table: other work on the CPUs slows every number."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs"
