"""Argos Translate packages on disk and the CTranslate2 models loaded from them.

We use only `argostranslate.package`, `argostranslate.settings` and CTranslate2, and do our
own sentence splitting (see `text.py`): `argostranslate.translate` imports Stanza and torch
(about 3 s) and its splitters download models on first use, which fails offline. Package
locations and thread counts still come from Argos's settings (`ARGOS_PACKAGES_DIR`,
`ARGOS_INTRA_THREADS`, ...), so an operator configures Argos the usual way. Every
argostranslate/ctranslate2 import happens inside a function: importing core stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstalledModel:
    """One installed translation package (one language pair)."""

    source: str
    target: str
    source_name: str
    target_name: str
    version: str
    path: Path


def installed_models() -> list[InstalledModel]:
    """Every translation package found in Argos's package folders; broken ones are skipped."""
    from argostranslate import package, settings

    models = []
    for directory in map(Path, settings.package_dirs):
        if not directory.is_dir():
            continue
        for child in sorted(directory.iterdir()):
            # Dot folders are our half-finished installs; folders without metadata are not packages.
            if child.name.startswith(".") or not (child / "metadata.json").is_file():
                continue
            try:
                pkg = package.Package(child)
            except (OSError, ValueError) as exc:
                log.warning("skipping unreadable Argos package %s: %s", child, exc)
                continue
            if pkg.type != "translate" or not pkg.from_code or not pkg.to_code:
                continue
            models.append(
                InstalledModel(
                    pkg.from_code, pkg.to_code, pkg.from_name, pkg.to_name,
                    pkg.package_version, child,
                )
            )
    return models


def list_installed() -> list[dict[str, Any]]:
    """Installed language pairs as plain dicts, for `tessera translate list`."""
    return [
        {
            "source": m.source, "source_name": m.source_name,
            "target": m.target, "target_name": m.target_name,
            "version": m.version, "path": str(m.path),
        }
        for m in installed_models()
    ]


def install_package(path: Path) -> list[tuple[str, str]]:
    """Install a `.argosmodel` file into Argos's package folder.

    Returns the language pairs the package provides. Raises ValueError, with a reason a
    person can act on, when the file is not a usable Argos translation package. A package
    already installed under the same folder name is replaced.
    """
    from argostranslate import package, settings

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path.name} is not an Argos model (a .argosmodel is a zip archive)")
    with zipfile.ZipFile(path) as archive:
        folder, metadata = _check_archive(path.name, archive)
        destination = Path(settings.package_data_dir)
        destination.mkdir(parents=True, exist_ok=True)
        with package.package_lock:
            # Unpack beside the final place, then swap it in, so a running bot never
            # sees a half-written model.
            staging = Path(tempfile.mkdtemp(prefix=".installing-", dir=destination))
            try:
                archive.extractall(staging)
                final = destination / folder
                if final.exists():
                    shutil.rmtree(final)
                os.replace(staging / folder, final)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    argos_translate = sys.modules.get("argostranslate.translate")
    if argos_translate is not None:  # keep Argos's own language list honest if it is in use
        argos_translate.get_installed_languages.cache_clear()
    return [(metadata["from_code"], metadata["to_code"])]


def _check_archive(name: str, archive: zipfile.ZipFile) -> tuple[str, dict]:
    names = [n for n in archive.namelist() if n]
    tops = {PurePosixPath(n).parts[0] for n in names}
    if len(tops) != 1 or any(
        n.startswith("/") or ".." in PurePosixPath(n).parts for n in names
    ):
        raise ValueError(f"{name}: an Argos model holds exactly one top-level folder")
    folder = tops.pop()
    try:
        metadata = json.loads(archive.read(f"{folder}/metadata.json"))
    except KeyError:
        raise ValueError(f"{name}: no metadata.json in {folder}/") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{name}: metadata.json is not valid JSON ({exc})") from None
    if not isinstance(metadata, dict) or metadata.get("type", "translate") != "translate":
        raise ValueError(f"{name}: not a translation package")
    if not all(isinstance(metadata.get(k), str) and metadata[k] for k in ("from_code", "to_code")):
        raise ValueError(f"{name}: metadata.json lacks from_code/to_code")
    if f"{folder}/model/model.bin" not in names:
        raise ValueError(f"{name}: no CTranslate2 model (model/model.bin)")
    if not {f"{folder}/sentencepiece.model", f"{folder}/bpe.model"} & set(names):
        raise ValueError(f"{name}: no tokenizer (sentencepiece.model or bpe.model)")
    return folder, metadata


class _LoadedModel:
    """A package's tokenizer and CTranslate2 translator, loaded once."""

    def __init__(self, path: Path):
        import ctranslate2
        from argostranslate import package, settings

        self.stamp = _stamp(path)
        self.package = package.Package(path)
        self.translator = ctranslate2.Translator(
            str(path / "model"),
            device=settings.device,
            inter_threads=settings.inter_threads,
            intra_threads=settings.intra_threads,
            compute_type=settings.compute_type,
        )

    def translate(self, sentences: list[str]) -> list[str]:
        from argostranslate import settings

        pkg = self.package
        tokens = [pkg.tokenizer.encode(sentence) for sentence in sentences]
        prefix = [[pkg.target_prefix]] * len(tokens) if pkg.target_prefix else None
        results = self.translator.translate_batch(
            tokens,
            target_prefix=prefix,
            replace_unknowns=True,
            max_batch_size=settings.batch_size,
            batch_type="tokens",
            beam_size=settings.beam_size,
            num_hypotheses=1,
            length_penalty=0.2,  # Argos's own decoding parameters
        )
        out = []
        for result in results:
            text = pkg.tokenizer.decode(result.hypotheses[0])
            if pkg.target_prefix and text.startswith(pkg.target_prefix):
                text = text[len(pkg.target_prefix) :]
            out.append(text.strip())
        return out


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return -1


class ModelShelf:
    """The installed language pairs and the models loaded so far, safe across threads.

    The package folders are re-read when their listing changes, so a model installed by
    `tessera translate install` in another process is picked up without a restart.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listing: tuple | None = None
        self._pairs: dict[tuple[str, str], Path] = {}
        self._loaded: dict[Path, _LoadedModel] = {}

    def pairs(self) -> dict[tuple[str, str], Path]:
        """Installed (source, target) pairs and the package folder serving each."""
        listing = _listing()
        with self._lock:
            if listing != self._listing:
                pairs: dict[tuple[str, str], Path] = {}
                for model in installed_models():
                    pairs.setdefault((model.source, model.target), model.path)
                self._pairs = pairs
                self._loaded = {
                    p: m for p, m in self._loaded.items() if m.stamp == _stamp(p)
                }
                self._listing = listing
            return dict(self._pairs)

    def translate(self, source: str, target: str, sentences: list[str]) -> list[str]:
        """Translate sentences with the installed source->target model (one batch)."""
        path = self.pairs()[(source, target)]
        with self._lock:
            model = self._loaded.get(path)
            if model is None:
                model = self._loaded[path] = _LoadedModel(path)
        return model.translate(sentences)


def _listing() -> tuple:
    from argostranslate import settings

    entries = []
    for directory in map(Path, settings.package_dirs):
        try:
            entries.extend((str(c), c.stat().st_mtime_ns) for c in directory.iterdir())
        except FileNotFoundError:
            continue
    return tuple(sorted(entries))
