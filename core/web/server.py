"""Running the web application with uvicorn on the process's own event loop.

`tessera serve` awaits `serve()`; `tessera run` can start a `WebServer` next to the bots on
the same loop (`await server.start()` ... `await server.stop()`): the server never installs
signal handlers of its own, so the program hosting it decides what Ctrl-C does.
"""
from __future__ import annotations

import asyncio
import contextlib
import signal

import uvicorn

from core.web.app import ChartRenderer, create_app, web_settings


class _HostedServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to the program hosting it."""

    def capture_signals(self):  # type: ignore[override]
        return contextlib.nullcontext()


class WebServer:
    """The web application on a host and port, started and stopped inside a running loop."""

    def __init__(self, services, host: str | None = None, port: int | None = None, *,
                 chart: ChartRenderer | None = None) -> None:
        settings = web_settings(services.config)
        self.host = host or settings["host"]
        self.port = int(port if port is not None else settings["port"])
        config = uvicorn.Config(create_app(services, chart=chart), host=self.host, port=self.port,
                                lifespan="off", log_level="warning", access_log=False,
                                server_header=False, proxy_headers=False)
        self.server = _HostedServer(config)
        self._task: asyncio.Task | None = None

    async def serve(self) -> None:
        """Serve until `request_stop()` (or `stop()`)."""
        await self.server.serve()

    def request_stop(self) -> None:
        """Ask the server to finish (safe from a signal handler)."""
        self.server.should_exit = True

    async def start(self) -> None:
        """Serve in the background; returns once the socket listens."""
        self._task = asyncio.create_task(self.serve(), name="web")
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start (port taken...)
                raise RuntimeError("the web server stopped while starting")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Finish answering and close the socket."""
        self.request_stop()
        if self._task is not None:
            await self._task
            self._task = None


async def serve(services, host: str | None = None, port: int | None = None, *,
                chart: ChartRenderer | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM, then finish gracefully (what `tessera serve` runs)."""
    server = WebServer(services, host, port, chart=chart)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_stop)
    try:
        await server.serve()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
