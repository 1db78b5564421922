"""Tiny but real Argos Translate models, built on the spot for tests and demos.

No model can be downloaded on our machines, so tests build a genuine `.argosmodel`: a
SentencePiece tokenizer and a one-layer CTranslate2 Transformer, zipped the way Argos
packages are. Attention and feed-forward weights are zero, so the decoder only sees the
previous token; the output projection turns `<s>` into `output_word` and `output_word` into
`</s>`. Every sentence therefore "translates" to exactly `output_word`, which lets a test
tell an en->es model ("hola") from an es->en one ("hello") and follow a pivot.

`build_tiny_model` is a plain function so other test modules and demos can reuse it;
`argos_home` points Argos at a throwaway folder (its settings are read at import time,
so the module attributes are patched too when Argos was imported earlier).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

VOCABULARY_SIZE = 64
MODEL_DIM = 16
FFN_DIM = 32

LANGUAGE_NAMES = {
    "ar": "Arabic", "de": "German", "en": "English", "es": "Spanish", "fr": "French",
    "it": "Italian", "pt": "Portuguese", "sw": "Swahili", "tr": "Turkish", "uk": "Ukrainian",
}

# Words an organiser might write; only their letters matter to the tokenizer.
_FIELD_WORDS = (
    "strike picket rent union meeting square water banners tenants landlord march wages "
    "solidarity circle report assembly kitchen shift night bread school eviction police "
    "courier warehouse delivery contract boss queue vote ballot treasury fund pledge "
    "calendar action kickoff steward dock port harbour bus driver nurse clinic quarter"
).split()


def build_tiny_model(dest_dir: Path, from_code: str, to_code: str, output_word: str) -> Path:
    """Build a valid `.argosmodel` in `dest_dir` that renders every sentence as `output_word`.

    Returns the path of the archive, ready for `core.translation.install_package` or
    `argostranslate.package.install_from_path`.
    """
    if not output_word or any(ch.isspace() for ch in output_word):
        raise ValueError("output_word must be one word without spaces")
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    folder = f"translate-{from_code}_{to_code}-1_0"
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / folder
        root.mkdir()
        pieces = _train_sentencepiece(root / "sentencepiece.model", output_word)
        _save_ctranslate2_model(root / "model", pieces, output_word)
        metadata = {
            "package_version": "1.0",
            "argos_version": "1.11",
            "type": "translate",
            "from_code": from_code,
            "from_name": LANGUAGE_NAMES.get(from_code, from_code),
            "to_code": to_code,
            "to_name": LANGUAGE_NAMES.get(to_code, to_code),
            "links": [],
        }
        (root / "metadata.json").write_text(json.dumps(metadata, indent=2), encoding="utf-8")
        (root / "README.md").write_text(
            f"Tiny test model: every sentence becomes {output_word!r}.\n", encoding="utf-8"
        )
        tag = hashlib.sha1(output_word.encode("utf-8")).hexdigest()[:8]
        archive = dest_dir / f"{folder}-{tag}.argosmodel"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(root.rglob("*")):
                zf.write(path, path.relative_to(Path(work)).as_posix())
    return archive


def _train_sentencepiece(model_path: Path, output_word: str) -> list[str]:
    """Train a 64-piece tokenizer (identity normalisation) and return its pieces by id."""
    import sentencepiece as spm

    rng = random.Random(f"tessera-{output_word}")
    lines = [
        " ".join(rng.choice(_FIELD_WORDS) for _ in range(rng.randint(4, 12)))
        for _ in range(400)
    ]
    model = io.BytesIO()
    with open(os.devnull, "w") as quiet:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=model,
            vocab_size=VOCABULARY_SIZE,
            model_type="unigram",
            character_coverage=1.0,
            normalization_rule_name="identity",
            # One piece for the whole output word, so the decoder emits a single token.
            user_defined_symbols=[output_word],
            logstream=quiet,
        )
    model_path.write_bytes(model.getvalue())
    processor = spm.SentencePieceProcessor(model_file=str(model_path))
    return [processor.id_to_piece(i) for i in range(processor.get_piece_size())]


def _save_ctranslate2_model(model_dir: Path, pieces: list[str], output_word: str) -> None:
    """Write a one-layer Transformer whose only behaviour is `<s> -> word -> </s>`."""
    transformer_spec = _import_transformer_spec()

    vocab, d = len(pieces), MODEL_DIM
    bos, eos, word = pieces.index("<s>"), pieces.index("</s>"), pieces.index(output_word)
    rng = np.random.default_rng(7)
    spec = transformer_spec.TransformerSpec.from_config(num_layers=1, num_heads=2)

    def zeros(*shape: int) -> np.ndarray:
        return np.zeros(shape, dtype=np.float32)

    def norm(layer_norm) -> None:
        layer_norm.gamma = np.ones(d, dtype=np.float32)
        layer_norm.beta = zeros(d)

    def silent_ffn(ffn) -> None:
        norm(ffn.layer_norm)
        ffn.linear_0.weight = zeros(FFN_DIM, d)
        ffn.linear_1.weight = zeros(d, FFN_DIM)

    encoder, decoder = spec.encoder, spec.decoder
    encoder.embeddings[0].weight = (rng.standard_normal((vocab, d)) * 0.1).astype(np.float32)
    norm(encoder.layer_norm)
    for layer in encoder.layer:
        norm(layer.self_attention.layer_norm)
        layer.self_attention.linear[0].weight = zeros(3 * d, d)
        layer.self_attention.linear[1].weight = zeros(d, d)
        silent_ffn(layer.ffn)

    # The decoder state is the previous token's embedding plus its position; with
    # attention and FFN silent, a one-hot embedding decides the next token alone.
    embeddings = zeros(vocab, d)
    embeddings[bos, 0] = 4.0
    embeddings[word, 1] = 4.0
    decoder.embeddings.weight = embeddings
    norm(decoder.layer_norm)
    for layer in decoder.layer:
        norm(layer.self_attention.layer_norm)
        layer.self_attention.linear[0].weight = zeros(3 * d, d)
        layer.self_attention.linear[1].weight = zeros(d, d)
        norm(layer.attention.layer_norm)
        layer.attention.linear[0].weight = zeros(d, d)
        layer.attention.linear[1].weight = zeros(2 * d, d)
        layer.attention.linear[2].weight = zeros(d, d)
        silent_ffn(layer.ffn)
    projection = zeros(vocab, d)
    projection[word, 0] = 10.0  # after <s>: the word
    projection[eos, 1] = 10.0  # after the word: stop
    bias = np.full(vocab, -5.0, dtype=np.float32)
    bias[eos] = 1.0  # after anything else: stop
    decoder.projection.weight = projection
    decoder.projection.bias = bias

    spec.register_source_vocabulary(pieces)
    spec.register_target_vocabulary(pieces)
    spec.validate()
    model_dir.mkdir()
    spec.save(str(model_dir))


def _import_transformer_spec():
    """Import CTranslate2's model specs without dragging in torch (~2 s) just for numpy weights."""
    if "torch" in sys.modules or "ctranslate2.specs" in sys.modules:
        from ctranslate2.specs import transformer_spec

        return transformer_spec
    sys.modules["torch"] = None  # makes `import torch` fail, so specs fall back to numpy
    try:
        from ctranslate2.specs import transformer_spec
    finally:
        del sys.modules["torch"]
    return transformer_spec


@contextmanager
def argos_home(root: Path) -> Iterator[Path]:
    """Point Argos (and the XDG folders it uses) at `root` for the duration of the block.

    Sets XDG_DATA_HOME, XDG_CONFIG_HOME, XDG_CACHE_HOME, ARGOS_PACKAGES_DIR and
    ARGOS_INTRA_THREADS=1; when `argostranslate.settings` was already imported (its values
    are read at import time), its module attributes are redirected as well. Yields the
    packages folder.
    """
    root = Path(root)
    packages = root / "argos-packages"
    env = {
        "XDG_DATA_HOME": root / "data",
        "XDG_CONFIG_HOME": root / "config",
        "XDG_CACHE_HOME": root / "cache",
        "ARGOS_PACKAGES_DIR": packages,
    }
    for path in env.values():
        path.mkdir(parents=True, exist_ok=True)
    saved_env = {key: os.environ.get(key) for key in [*env, "ARGOS_INTRA_THREADS"]}
    os.environ.update({key: str(value) for key, value in env.items()})
    os.environ["ARGOS_INTRA_THREADS"] = "1"

    settings = sys.modules.get("argostranslate.settings")
    redirected = {
        "data_dir": root / "data" / "argos-translate",
        "config_dir": root / "config" / "argos-translate",
        "cache_dir": root / "cache" / "argos-translate",
        "downloads_dir": root / "cache" / "argos-translate" / "downloads",
        "package_data_dir": packages,
        "package_dirs": [packages],
        "intra_threads": 1,
    }
    saved_settings = {}
    if settings is not None:
        saved_settings = {name: getattr(settings, name) for name in redirected}
        for name, value in redirected.items():
            setattr(settings, name, value)
    try:
        yield packages
    finally:
        for name, value in saved_settings.items():
            setattr(settings, name, value)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

