"""`help`, `?` and `ヘルプ` as a command's whole text print its usage, in every command alike
(PRODUCT §4), and a usage is printed once."""

from __future__ import annotations

import pytest

from tests.conftest import ShellSession

COMMANDS = ["kakehashi", "handoff", "promise", "touch", "account", "sync", "portfolio"]
HELP_WORDS = ["?", "ヘルプ", "？", "HELP", "ＨＥＬＰ", " help "]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_word_prints_the_commands_usage(shell: ShellSession, command: str) -> None:
    usage = shell.run(f"/{command} help").split("\n", 1)[1]
    assert "Usage" in usage or "Kakehashi commands" in usage
    for word in HELP_WORDS:
        printed = shell.run(f"/{command} {word}").split("\n", 1)[1]
        assert printed == usage, (command, word)


def test_a_role_change_without_a_role_prints_its_usage_once(shell: ShellSession) -> None:
    printed = shell.run("/kakehashi role @taro")
    assert printed.count("Usage: `/kakehashi role") == 1
    printed = shell.run("/kakehashi role @taro pilot")
    assert "That is not a role I know." in printed and printed.count("Usage") == 1
