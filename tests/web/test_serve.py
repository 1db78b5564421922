"""`tessera serve` and the uvicorn server sharing the event loop with the rest of Tessera."""
from __future__ import annotations

import argparse
import socket

import httpx

from bots import publish
from core.web import WebServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tessera_serve_takes_host_and_port():
    parser = argparse.ArgumentParser(prog="tessera")
    publish.add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "8181"])
    assert (args.host, args.port, args.func) == ("0.0.0.0", 8181, publish.cmd_serve)
    args = parser.parse_args(["serve"])
    assert (args.host, args.port) == (None, None)


async def test_the_server_runs_on_the_same_loop_and_stops(town):
    port = free_port()
    server = WebServer(town.app.services, "127.0.0.1", port)
    await server.start()
    try:
        async with httpx.AsyncClient() as client:
            home = await client.get(f"http://127.0.0.1:{port}/")
            # The bots keep working on the same loop while the server runs.
            out = await town.say("chicago", "chicago_coord", "/publish list")
            missing = await client.get(f"http://127.0.0.1:{port}/p/unknown/")
    finally:
        await server.stop()
    assert home.status_code == 200 and "server" not in home.headers
    assert "Nothing is published" in "\n".join(out)
    assert missing.status_code == 404
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", port))
