"""`kakehashi shell`: the same commands as Slack, scripted on standard input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ShellSession

# The shell's clock for the scripts below: a Saturday night in Tokyo, when none of the demo's
# reminders is due (at work hours they come due and "3" would press a real button).
QUIET = "2026-11-21T21:00+09:00"

SCRIPT = """\
/kakehashi help
/kakehashi role @taro cs
:as ben
/kakehashi role @taro manager
:as nobody
/unknown
3
hello
"""


def test_scripted_shell_runs_help_and_a_role_change(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "KAKEHASHI_"))}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "shell", "--demo", "--at", QUIET],
        input=SCRIPT,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "== Kakehashi commands ==" in out
    assert "@taro is now *customer success*." in out
    assert "Only managers can set roles. Ask a manager (@mika)." in out
    assert "No one called nobody." in out
    assert "/unknown is not a Kakehashi command" in out
    assert "There is no button 3." in out
    assert "Type a slash command" in out
    assert result.stderr == ""
    # The change is in the database: a second session sees taro as customer success.
    again = subprocess.run(
        [sys.executable, "-m", "bot.cli", "shell", "--as", "mika", "--at", QUIET],
        input="/kakehashi role @taro cs\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert "@taro is already *customer success*; nothing changed." in again.stdout


def test_shell_speaks_the_persons_language(shell: ShellSession) -> None:
    printed = shell.run(":as kenji", "/kakehashi role @aiko manager")
    assert "役割を設定できるのはマネージャーのみです" in printed  # kenji's Slack locale is ja-JP


def test_shell_mentions_show_names_and_typed_markup_stays_text(shell: ShellSession) -> None:
    printed = shell.run("/kakehashi role <!channel> cs")
    assert "Pick the person with @" in printed
    printed = shell.run("/kakehashi role @ghost cs")
    assert "Pick the person with @" in printed


def test_demo_loads_even_when_the_demo_manager_is_configured(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "KAKEHASHI_"))}
    env.pop("DATABASE_URL", None)
    env["KAKEHASHI_MANAGERS"] = "U0DEMOMGR"
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "shell", "--demo", "--at", QUIET],
        input=":people\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert "@aiko (U0DEMOCS1) cs" in result.stdout, result.stdout + result.stderr
