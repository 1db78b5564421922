"""Secrets never reach the logs."""
from __future__ import annotations

import logging

from core.logs import RedactSecrets


def test_known_secrets_and_token_shapes_are_redacted(caplog):
    log = logging.getLogger("tessera.test.secrets")
    filt = RedactSecrets(["hunter2-db-password"])
    log.addFilter(filt)
    try:
        with caplog.at_level(logging.INFO, logger="tessera.test.secrets"):
            log.info("connecting with hunter2-db-password to %s", "db")
            log.info("POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe")
            try:
                raise RuntimeError("token syt_dGVzc2VyYQ_abcdefghijklmnop rejected")
            except RuntimeError:
                log.exception("login failed")
    finally:
        log.removeFilter(filt)
    text = caplog.text
    assert "hunter2-db-password" not in text
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in text
    assert "syt_dGVzc2VyYQ_abcdefghijklmnop" not in text
    assert text.count("***") >= 3 and "login failed" in text
