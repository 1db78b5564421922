"""The media store: content-addressed files under the data directory.

Files are named by the SHA-256 of their bytes, never by what a user called them, and are
never executed; the same voice note stored twice takes the space once.
"""
from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from pathlib import Path

_EXT = {
    "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/wav": ".wav",
    "audio/x-wav": ".wav", "audio/webm": ".webm", "image/png": ".png", "image/jpeg": ".jpg",
    "application/pdf": ".pdf", "text/plain": ".txt",
}


class MediaTooLarge(ValueError):
    """An attachment exceeds the configured size."""


class MediaStore:
    """Stores and finds media by content address."""

    def __init__(self, root: Path, max_bytes: int = 20 * 1024 * 1024) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def put(self, data: bytes, mime_type: str = "application/octet-stream") -> str:
        """Store bytes and return their key ("ab/abcdef....ogg")."""
        if len(data) > self.max_bytes:
            raise MediaTooLarge(f"{len(data)} bytes > {self.max_bytes}")
        digest = hashlib.sha256(data).hexdigest()
        ext = _EXT.get(mime_type) or mimetypes.guess_extension(mime_type) or ".bin"
        key = f"{digest[:2]}/{digest}{ext}"
        path = self.root / key
        if path.exists():
            # Stored again: a fresh arrival for the retention sweep, which removes files
            # nothing points at only once they are old enough.
            try:
                os.utime(path)
            except OSError:
                pass
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename so a crash never leaves half a file under the final name.
            fd, tmp = tempfile.mkstemp(dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        return key

    def path(self, key: str) -> Path:
        """The file for `key`; refuses keys that would escape the store."""
        p = (self.root / key).resolve()
        if self.root.resolve() not in p.parents:
            raise ValueError(f"bad media key {key!r}")
        return p

    def get(self, key: str) -> bytes:
        """The bytes stored under `key`."""
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        """True when `key` is stored."""
        try:
            return self.path(key).exists()
        except ValueError:
            return False

    def delete(self, key: str) -> None:
        """Remove a file (erasure, retention)."""
        try:
            self.path(key).unlink(missing_ok=True)
        except ValueError:
            pass
