"""Subcommands that features add to `tessera` (each a function taking the subparsers)."""
from __future__ import annotations


def extensions() -> list:
    """Every feature's `add_cli`, imported when the CLI is built."""
    from bots import (
        archive, calendar_feature, privacy, publish, relay, translate_cli, treasury,
    )
    return [translate_cli.add_cli, relay.add_cli, treasury.add_cli, calendar_feature.add_cli,
            archive.add_cli, publish.add_cli, privacy.add_cli]
