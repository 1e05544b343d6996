"""The shell as a person types into it: line editing and history at a terminal, Ctrl-C cancels
a form and not the shell, the clock moves only forward, `--demo` on a database that has it says
so and `--demo --fresh` starts over, and `--as` someone unknown is an error."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from commands.context import FixedClock
from tests.conftest import NOW, ShellSession

KAKEHASHI = str(Path(sys.executable).with_name("kakehashi"))
UP = b"\x1b[A"
CTRL_C = b"\x03"


def _controlling_terminal() -> None:
    """In the child, after it started a session: the pseudo-terminal becomes its terminal, so
    Ctrl-C there interrupts it as in a real one."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """`kakehashi shell --demo` on a pseudo-terminal, as someone types into it."""

    def __init__(self, folder: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "KAKEHASHI_"))}
        env["DATABASE_URL"] = f"sqlite:///{folder / 'shell.db'}"
        env["TERM"] = "xterm"
        self.master, worker = pty.openpty()
        self.process = subprocess.Popen(
            [KAKEHASHI, "shell", "--demo", "--at", NOW.isoformat()], stdin=worker, stdout=worker,
            stderr=worker, cwd=folder, env=env, start_new_session=True,
            preexec_fn=_controlling_terminal,
        )  # fmt: skip
        os.close(worker)
        self.seen = b""

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_for(self, text: str, *, count: int = 1, seconds: float = 60) -> str:
        """What the terminal showed once `text` appeared `count` times."""
        deadline = time.monotonic() + seconds
        while self.seen.decode(errors="replace").count(text) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} not shown; the terminal shows:\n{self.seen.decode()}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                self.seen += os.read(self.master, 65536)
        return self.seen.decode(errors="replace")

    def interrupt(self, until: str) -> str:
        """Ctrl-C, pressed again each second until `until` shows, as a person would. CPython's
        line editor only notices a signal that comes while it waits for a key: one that comes
        between its prompt and that wait is seen at the next key (a race a loaded machine hits)."""
        for _ in range(60):
            self.type(CTRL_C)
            try:
                return self.wait_for(until, seconds=1)
            except AssertionError:
                continue
        return self.wait_for(until, seconds=0)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self.master)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    shown = Terminal(tmp_path)
    shown.wait_for("» ")
    yield shown
    shown.close()


def test_up_arrow_recalls_the_previous_line_at_a_terminal(terminal: Terminal) -> None:
    terminal.type(b"/kakehashi help\r")
    terminal.wait_for("» ", count=2)
    terminal.type(UP + b"\r")
    shown = terminal.wait_for("== Kakehashi commands ==", count=2)
    assert "^[[A" not in shown


def test_ctrl_c_in_a_form_cancels_the_form_not_the_shell(terminal: Terminal) -> None:
    terminal.type(b"/touch\r")
    terminal.wait_for("  > ")
    terminal.interrupt(until="Cancelled; nothing was saved.")
    terminal.type(b"/kakehashi help\r")
    terminal.wait_for("== Kakehashi commands ==")
    assert terminal.process.poll() is None


def test_ctrl_c_at_the_prompt_drops_the_line_and_says_how_to_leave(terminal: Terminal) -> None:
    terminal.type(b"/kakehashi hel")
    terminal.wait_for("» /kakehashi hel")  # echoed: the line editor has it
    terminal.interrupt(until="(Ctrl-C: type :quit or press Ctrl-D to leave)")
    terminal.type(b":quit\r")
    assert terminal.process.wait(timeout=30) == 0


def test_the_clock_is_not_moved_to_the_past(shell: ShellSession) -> None:
    printed = shell.run(":time 2026-11-22T10:00+09:00")
    assert "only moves forward" in printed and "Nov 22, 2026 10:00 AM" in printed
    assert "only moves forward" in shell.run(":time +1d", ":time 2026-11-23T10:00+09:00")
    assert "is not a time" in shell.run(":time -1d")


def run_shell(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
              *args: str, typed: str = ":quit\n") -> tuple[int, str, str]:  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    status = main(["shell", *args], clock=FixedClock(NOW))
    printed = capsys.readouterr()
    return status, printed.out, printed.err


@pytest.fixture
def sqlite_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SLACK_", "KAKEHASHI_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    return tmp_path / "kakehashi.db"


def test_demo_on_a_database_that_has_it_says_so_and_fresh_starts_over(
    sqlite_cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = run_shell(capsys, monkeypatch, "--demo", typed="/promise waive P-9 中止\n")
    assert status == 0 and "already in this database" not in out
    status, out, _ = run_shell(capsys, monkeypatch, "--demo", typed="/promise list\n")
    assert "already in this database" in out and "--demo --fresh" in out
    assert "P-9" not in out  # as it was left: waived
    status, out, _ = run_shell(capsys, monkeypatch, "--demo", "--fresh", typed="/promise list\n")
    assert status == 0 and "already in this database" not in out and "P-9" in out


def test_at_starts_the_shells_clock_there_and_a_bad_instant_is_refused(
    sqlite_cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = run_shell(capsys, monkeypatch, "--at", "2026-11-21T21:00+09:00",
                               typed=":time +1d\n")  # fmt: skip
    assert status == 0 and "Nov 22, 2026" in out, out
    for bad in ("tomorrow", "２０２６－１１－２１", "'; DROP TABLE people; --"):
        status, _, err = run_shell(capsys, monkeypatch, "--at", bad)
        assert status == 2 and "--at must be an ISO-8601 date and time" in err, err
        assert err.count("\n") == 1


def test_fresh_without_demo_or_on_a_server_database_is_refused(
    sqlite_cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, _, err = run_shell(capsys, monkeypatch, "--fresh")
    assert status == 2 and "--fresh goes with --demo" in err
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/kakehashi")
    status, _, err = run_shell(capsys, monkeypatch, "--demo", "--fresh")
    assert status == 2 and "not one" in err and err.count("\n") == 1


@pytest.mark.parametrize("who", ["nobody", "<!channel>", "ＡＩＫＯ様", "'; DROP TABLE people; --"])
def test_as_someone_unknown_is_an_error_not_a_fallback(
    sqlite_cli: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    who: str,
) -> None:  # fmt: skip
    status, out, err = run_shell(capsys, monkeypatch, "--demo", "--as", who)
    assert status == 2 and out == ""
    assert err.startswith(f"kakehashi: --as {who}: no one") and "mika, kenji, aiko" in err
    status, out, _ = run_shell(capsys, monkeypatch, "--demo", "--as", "aiko")
    assert status == 0 and "あなたは @aiko です" in out
