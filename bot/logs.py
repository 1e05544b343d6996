"""Where the logs go and how they look: free text (the default) or, with
`KAKEHASHI_LOG_FORMAT=json`, one JSON object per line for a log collector.

A JSON line carries the time, level, logger and message, and what the code was working for
when it logged (`jobs.telemetry.log_context`): the request id, the person's platform id and the
command, or the delivery's outbox key. Never the text people typed or a secret: nothing logs
them, and the fields are only ids.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from jobs.telemetry import LOG_FIELDS, current_log_fields

TEXT = "%(asctime)s %(levelname)s %(name)s %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message")
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}


class WithContext(logging.Filter):
    """Adds the fields of `log_context` to every record (absent ones as null in JSON)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = current_log_fields()
        for name in LOG_FIELDS:
            setattr(record, name, fields.get(name))
        return True


def configure(*, level: int, log_format: str = "text") -> None:
    """The process's logging: to stderr, at `level`, as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                [*JSON_FIELDS, *LOG_FIELDS],
                rename_fields=RENAMED,
                datefmt="%Y-%m-%dT%H:%M:%S%z",
                json_ensure_ascii=False,
            )
        )
        handler.addFilter(WithContext())
    else:
        handler.setFormatter(logging.Formatter(TEXT))
    logging.basicConfig(level=level, handlers=[handler])
