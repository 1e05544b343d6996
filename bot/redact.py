"""What may be shown or logged of a text that can carry a secret or come from a request
(PRODUCT §11): credentials masked, and one line.

A password in a database URL, a Slack token or a signing secret is replaced by `***`, and line
breaks are written as `\\n`, so that a value typed by someone cannot start a forged log line.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"
# `scheme://user:password@host`: the password goes, the user and host stay (they say which
# database was meant).
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^\s:/@]*):(?P<secret>[^\s/@]*)@", re.I)
_SLACK_TOKEN = re.compile(r"\b(?P<kind>xox[a-z]|xapp)-[A-Za-z0-9-]+")
_LINE_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029"})
_installed = False


def mask_credentials(text: str) -> str:
    """`text` with the passwords of URLs and Slack tokens replaced by `***`."""
    text = _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", text)
    return _SLACK_TOKEN.sub(rf"\g<kind>-{MASK}", text)


def one_line(text: str) -> str:
    """`text` with its line breaks escaped: it cannot start a line of its own in a log."""
    return text.translate(_LINE_BREAKS)


def safe_for_log(text: str) -> str:
    return one_line(mask_credentials(text))


def install_log_redaction() -> None:
    """Every log record made from now on carries its message masked and on one line (its
    traceback, if any, stays as Python wrote it). Idempotent."""
    global _installed
    if _installed:
        return
    make_record = logging.getLogRecordFactory()

    def redacted_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.msg = safe_for_log(record.getMessage())
        record.args = None
        return record

    logging.setLogRecordFactory(redacted_record)
    _installed = True
