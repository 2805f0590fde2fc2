"""Credential values kept out of log lines, whoever writes them (storyline, uvicorn, a library)."""

from __future__ import annotations

import logging
from collections.abc import Callable


class RedactingFilter(logging.Filter):
    """Log lines pass through the vault's redaction, tracebacks of unexpected errors included,
    because an exception message can quote a rendered header or URL that carries a credential."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


def redact_logs(redact: Callable[[str], str]) -> Callable[[], None]:
    """Install ``redact`` on every handler that can print storyline's (or uvicorn's) records;
    returns what uninstalls it."""
    installed = RedactingFilter(redact)
    handlers = [handler for name in LOGGERS for handler in logging.getLogger(name).handlers]
    for handler in handlers:
        handler.addFilter(installed)

    def uninstall() -> None:
        for handler in handlers:
            handler.removeFilter(installed)

    return uninstall
