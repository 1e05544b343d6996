"""Where code lives: modules stay short enough to read, and packages import in one direction."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "commands", "jobs", "storage")
MAX_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    modules = (p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))
    counts = {
        m.relative_to(ROOT).as_posix(): len(m.read_text("utf-8").splitlines()) for m in modules
    }
    assert {m: n for m, n in counts.items() if n > MAX_LINES} == {}


def test_packages_import_one_way_bot_jobs_commands_storage() -> None:
    # The contract is in pyproject.toml ([tool.importlinter]). In a process of its own: the
    # linter configures logging with `dictConfig`, which disables every logger already made.
    lint = (
        "from importlinter.cli import lint_imports; "
        "raise SystemExit(lint_imports(config_filename='pyproject.toml'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", lint], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
