"""Subcommands that features add to `tessera` (each a function taking the subparsers)."""
from __future__ import annotations

EXTENSIONS: list = []
