"""The composition root: the one place that wires storage, features, adapters and time.

Production (`tessera run`), the console demo and the tests all build the suite through
`build_app`, so what is tested is what runs.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Iterable

from core.adapter import Adapter
from core.clock import Clock, SystemClock
from core.commands import Feature, Registry
from core.config import Config
from core.courier_routes import Route
from core.delivery import Courier, Pace
from core.dispatcher import Dispatcher
from core.media import MediaStore
from core.scheduler import Scheduler
from core.storage import make_engine, upgrade
from core.work import Services, Work

log = logging.getLogger("tessera.app")


def all_features() -> list[Feature]:
    """Every feature of the suite, in the order help lists them."""
    from bots import (
        archive, calendar_feature, circles, help as help_, privacy, publish, relay, syncday,
        treasury,
    )

    return [help_.feature, circles.feature, relay.feature, treasury.feature,
            calendar_feature.feature, syncday.feature, archive.feature, publish.feature,
            privacy.feature]


@dataclass
class App:
    """A running Tessera: services, dispatcher, scheduler, and one courier per adapter."""

    services: Services
    registry: Registry
    dispatcher: Dispatcher
    scheduler: Scheduler
    adapters: dict[str, Adapter] = field(default_factory=dict)
    couriers: dict[str, Courier] = field(default_factory=dict)
    tasks: list[asyncio.Task] = field(default_factory=list)

    def add_adapter(self, adapter: Adapter, pace: Pace | None = None) -> Courier:
        """Attach a platform door and its courier."""
        self.adapters[adapter.platform] = adapter
        self.dispatcher.bot_names[adapter.platform] = tuple(adapter.bot_names)
        courier = Courier(self.services, adapter, pace or pace_for(self.services.config, adapter.platform))
        self.couriers[adapter.platform] = courier
        return courier

    def after_commit(self, work: Work) -> None:
        """A unit of work committed: wake the couriers and plan new timers."""
        for courier in self.couriers.values():
            courier.wake()
        if work.new_timers:
            self.scheduler.plan([t for t in work.new_timers if t.state == "pending"])

    async def start(self, scheduler: bool = True, receive: bool = True,
                    route: Route | None = None) -> None:
        """Start adapters, couriers and (if elected) the scheduler; returns at once.

        `receive=False` makes an extra delivery worker: its doors only send, and it neither
        runs nor stands for the scheduler (timers belong to the processes that receive).
        `route` ("worker K of N") shares each platform's chats and global rate with the
        platform's other workers (core.courier_routes); None serves every chat.
        """
        scheduler = scheduler and receive
        for platform, adapter in self.adapters.items():
            if receive:
                await adapter.start(self.dispatcher.handle)
            else:
                await adapter.start(self.dispatcher.handle, receive=False)
            if route is not None:
                self.couriers[platform].take_route(route)
            elif self.couriers[platform].void_stale_leases():
                log.info("%s: retrying messages a stopped process had claimed", platform)
            self.tasks.append(asyncio.create_task(self.couriers[platform].run(),
                                                  name=f"courier-{platform}"))
        if scheduler:
            await self.scheduler.start()
            from core import retention
            if retention.SWEEP_TIMER in self.registry.timers:
                retention.ensure_planned(self.services)  # the daily retention sweep

    async def settle(self, timeout: float = 30.0) -> None:
        """Run due timers and deliver everything ready (script mode, demos, tests)."""
        await self.scheduler.run_due()
        for courier in self.couriers.values():
            await courier.drain(timeout)

    async def advance(self, clock, delta) -> None:
        """Let `delta` pass on a movable clock (demo, tests), running each timer at its own
        due time, so a kickoff three days ahead fires on time rather than late."""
        from sqlmodel import select

        from core.storage import unit_of_work
        from core.storage.models import Timer

        target = clock.now() + delta
        while True:
            with unit_of_work(self.services.engine) as s:
                due = s.exec(select(Timer.due_at).where(Timer.state == "pending")
                             .order_by(Timer.due_at)).first()
            if due is None or due > target:
                break
            if due > clock.now():
                clock.advance(due - clock.now())
            await self.settle()
        if target > clock.now():
            clock.advance(target - clock.now())
        await self.settle()

    async def stop(self) -> None:
        """Stop everything and release the database."""
        await self.scheduler.stop()
        for courier in self.couriers.values():
            courier.stop()
        # Sends already handed to a platform get a moment to finish before the doors close.
        await asyncio.gather(*(c.finish(5.0) for c in self.couriers.values()))
        for adapter in self.adapters.values():
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping %s failed", adapter.platform)
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
        self.services.engine.dispose()


def pace_for(config: Config, platform: str) -> Pace:
    """The delivery pace configured for a platform."""
    if platform in config.values and "per_chat_per_minute" in config[platform]:
        sec = config[platform]
        return Pace(per_chat=sec["per_chat_per_minute"], chat_window=60.0,
                    global_per_second=sec["global_per_second"])
    return Pace(per_chat=1000, chat_window=1.0, global_per_second=1000)


def build_app(config: Config, clock: Clock | None = None,
              features: Iterable[Feature] | None = None, migrate: bool = True) -> App:
    """Build the whole suite (without starting it)."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.database_url())
    if migrate:
        upgrade(engine)
    media = MediaStore(config.data_dir / "media",
                       max_bytes=int(config["media"]["max_megabytes"] * 1024 * 1024))
    clock = clock or SystemClock()
    services = Services(engine=engine, clock=clock, config=config, media=media,
                        translator=make_translator(config, engine, clock))
    registry = Registry(features if features is not None else all_features())
    services.registry = registry
    app: App
    dispatcher = Dispatcher(services, registry, after_commit=lambda w: app.after_commit(w))
    scheduler = Scheduler(services, registry.timers, after_commit=lambda w: app.after_commit(w))
    app = App(services=services, registry=registry, dispatcher=dispatcher, scheduler=scheduler)
    services.extras["couriers"] = app.couriers
    return app


def make_translator(config: Config, engine, clock=None) -> Any:
    """The offline translator (Argos is imported only when a model is first needed); its
    cache stamps translations with the deployment's `clock` (retention reads the stamps)."""
    import os

    from core.translation import ArgosTranslator
    from core.translation_cache import TranslationCache

    tr = config["translation"]
    if not tr["enabled"]:
        return None
    # Argos reads where its packages live from the environment when it is first imported.
    packages = tr["packages_dir"] or str(config.data_dir / "argos-packages")
    os.environ.setdefault("ARGOS_PACKAGES_DIR", packages)
    os.environ.setdefault("ARGOS_INTRA_THREADS", str(tr["threads"]))
    return ArgosTranslator(cache=TranslationCache(engine, clock=clock))


def adapters_from_config(config: Config, services: Services) -> list[Any]:
    """The platform adapters the configuration enables (imported only when enabled)."""
    found: list[Any] = []
    media, engine = services.media, services.engine
    for platform in config.enabled_platforms():
        if platform == "telegram":
            from adapters.telegram_adapter import TelegramAdapter
            found.append(TelegramAdapter.from_config(config, media, engine))
        elif platform == "matrix":
            from adapters.matrix_adapter import MatrixAdapter
            found.append(MatrixAdapter.from_config(config, media, engine, services.clock))
        elif platform == "discord":
            from adapters.discord_adapter import DiscordAdapter
            found.append(DiscordAdapter.from_config(config, media, engine, registry=services.registry,
                                                    clock=services.clock))
    return found
