"""`tessera translate`: see and install offline translation models (Argos packages)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path


def _prepare(args) -> None:
    # Argos reads its package folder from the environment at import time.
    from core.config import load_config
    cfg = load_config(getattr(args, "config", None))
    tr = cfg["translation"]
    os.environ.setdefault("ARGOS_PACKAGES_DIR", tr["packages_dir"] or str(cfg.data_dir / "argos-packages"))
    Path(os.environ["ARGOS_PACKAGES_DIR"]).mkdir(parents=True, exist_ok=True)


def cmd_list(args) -> int:
    _prepare(args)
    from core.translation import list_installed
    rows = list_installed()
    if not rows:
        print("No translation models installed. Install one with:\n"
              "  tessera translate install --from-file PATH.argosmodel")
        return 0
    print(f"{'from':<6} {'to':<6} {'version':<10} languages")
    for r in rows:
        print(f"{r['source']:<6} {r['target']:<6} {str(r['version']):<10} "
              f"{r['source_name']} -> {r['target_name']}")
    return 0


def cmd_install(args) -> int:
    _prepare(args)
    from core.translation import install_package
    if not args.from_file:
        print("Only --from-file works offline. Download a .argosmodel on a machine with internet "
              "(from the Argos package index) and install it here with --from-file.")
        return 2
    try:
        pairs = install_package(Path(args.from_file))
    except (ValueError, OSError) as e:
        print(f"not installed: {e}")
        return 2
    print("installed: " + ", ".join(f"{a}->{b}" for a, b in pairs))
    return 0


def add_cli(sub: argparse._SubParsersAction) -> None:
    """Add `tessera translate list|install`."""
    t = sub.add_parser("translate", help="offline translation models (nothing is sent online)")
    tsub = t.add_subparsers(dest="translate_command", metavar="ACTION", required=True)
    tsub.add_parser("list", help="installed language pairs").set_defaults(func=cmd_list)
    i = tsub.add_parser("install", help="install an .argosmodel package")
    i.add_argument("--from-file", metavar="PATH", help="the .argosmodel file")
    i.set_defaults(func=cmd_install)
