"""Logging set-up that keeps secrets out of every log line."""
from __future__ import annotations

import logging
import re


class RedactSecrets(logging.Filter):
    """Replace every known secret (and anything shaped like a bot token) with ***."""

    TOKEN_SHAPES = re.compile(r"(?<!\d)\d{6,}:[A-Za-z0-9_-]{20,}|\b(syt|mat)_[A-Za-z0-9_]{10,}")

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 4]

    def _clean(self, text: str) -> str:
        for s in self.secrets:
            text = text.replace(s, "***")
        return self.TOKEN_SHAPES.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = self._clean(msg)
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, cleaned, so no secret survives inside it.
            formatted = logging.Formatter().formatException(record.exc_info)
            clean = clean + "\n" + self._clean(formatted)
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = clean, ()
        return True


def scrub(text: str) -> str:
    """`text` with anything shaped like a bot token or access token replaced by ***
    (for error texts that are stored, such as a failed delivery's reason)."""
    return RedactSecrets.TOKEN_SHAPES.sub("***", text)


def setup_logging(level: str, secrets: list[str]) -> None:
    """Log to stderr at `level`, with secrets redacted from every handler's output."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root.handlers = [handler]
    # Libraries log request URLs that contain bot tokens (Telegram puts them in the path).
    for noisy in ("httpx", "httpcore", "telegram", "discord", "nio", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("tessera.scheduler").setLevel(max(logging.WARNING, root.level))
