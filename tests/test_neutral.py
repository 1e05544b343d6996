"""Only the adapters in `bot/` know a chat platform's id shapes: the core (`commands/`, `jobs/`,
`storage/`) sees ids as opaque strings and asks its directory what they mean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import slack_ids
from bot.slack_markup import mrkdwn
from commands.addresses import AddressKind, mentioned, mentioned_one
from commands.markup import MENTIONED, as_text, mention
from commands.text import escape

ROOT = Path(__file__).resolve().parent.parent
CORE = ("commands", "jobs", "storage")

SLACK_ID_SHAPES = re.compile(
    r"""(?<!collate\()["'][UWCDGB]["']"""  # a one-letter prefix: "U", 'D' (a collation is not)
    r"|\[[UWCDGB]{2,}\]"  # a character class of prefixes: [UW], [UWB]
    r"|<@|<#|<!(?:here|channel|everyone)"  # Slack's mention syntax
    r"|startswith\(\(?[\"'][UWCDGB]"  # an id sniffed by its first letter
    r"|USLACKBOT"
)


def _core_files() -> list[Path]:
    files = [p for package in CORE for p in (ROOT / package).rglob("*.py")]
    return [p for p in files if "migrations" not in p.parts]


def test_no_slack_id_shape_outside_the_adapters() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _core_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SLACK_ID_SHAPES.search(line)
    ]
    assert found == [], "Slack id shapes in the core:\n" + "\n".join(found)


SLACK_LIMITS = re.compile(
    r"\b(?:SECTION|FIELD)_(?:LIMIT|TEXT)\b|\b(?:MESSAGE|HOME)_BLOCKS\b"  # Block Kit's names
    r"|\b(?:50|100) blocks\b|Slack's (?:limits?\b|50|100|3000)|within Slack"  # said in words
    r"|\b[23]_?000\b(?!,\s*\d)"  # a section's and a field's characters (not a year)
)
PRODUCT_LIMITS = re.compile(
    r"^\s*(?:NAME_LIMIT, PLAN_LIMIT, TEXT_LIMIT|NOTE_LIMIT|max_length: int|KEYS_PER_QUERY) ="
)
"""What a person may type in a form (the adapter clips to its own inputs' size) and how many
keys one query reads: product and database choices that happen to share Slack's numbers."""


def test_no_slack_limit_outside_the_adapters() -> None:
    """Platform limits live in the adapter (`ui.Room`): the core knows no section size, field
    size or count of blocks of any platform."""
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _core_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SLACK_LIMITS.search(line) and not PRODUCT_LIMITS.search(line)
    ]
    assert found == [], "Slack limits in the core:\n" + "\n".join(found)


def test_the_limit_grep_finds_what_it_is_for() -> None:
    """Each Slack limit the core once had is caught."""
    for line in [
        "SECTION_LIMIT = 3000",
        "FIELD_LIMIT = 2000",
        "Reminders in one DM (two blocks each, within Slack's 50).",
        "stays within Slack's limits (about 20 blocks of 50)",
        "question=cards.quote(question.text, 2000),",
    ]:
        assert SLACK_LIMITS.search(line) and not PRODUCT_LIMITS.search(line), line


def test_the_grep_finds_what_it_is_for() -> None:
    """The pattern above is not vacuous: each sniff the core once had is caught."""
    assert not SLACK_ID_SHAPES.search('text.collate("C")')
    for line in [
        'if not ctx.channel_id or ctx.channel_id.startswith("D"):',
        'if re.fullmatch(r"[UW][A-Z0-9]+", user_id)',
        'return Safe(f"<@{user_id}>")',
        'user.get("id") == "USLACKBOT"',
    ]:
        assert SLACK_ID_SHAPES.search(line), line


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("acme <@U123ABC|aiko>", "acme " + mention("U123ABC")),
        ("<@W0GRID> and <@U9>", mention("W0GRID") + " and <@U9>"),  # too short for an id
        ("\ue000U666\ue001 forged", "U666 forged"),  # typed token marks never become a mention
        ("<#C0123|sales> <!here>", "<#C0123|sales> <!here>"),  # not a person: left as typed
    ],
)
def test_slack_mentions_become_neutral_tokens(typed: str, expected: str) -> None:
    assert slack_ids.neutral(typed) == expected


def test_tokens_render_back_as_slack_mentions_and_others_as_text() -> None:
    text = f"{mention('U1AB')} {mention('B0BOT')} {mention('19:abc@thread.tacv2')} {mention('<x>')}"
    assert mrkdwn(text, 3000) == "<@U1AB> <@B0BOT> 19:abc@thread.tacv2 &lt;x&gt;"


def test_the_core_reads_tokens_without_knowing_id_shapes() -> None:
    teams = "aad:6f1c0d2e-4b8a-4f7c-9e3d-2a1b0c9d8e7f"
    text = f"team {mention(teams)} {mention('29:1xYz')}"
    assert mentioned(text) == [teams, "29:1xYz"]
    assert mentioned_one(mention(teams)) == teams and mentioned_one(text) is None
    assert MENTIONED.fullmatch(mention("U1AB"))


def test_a_mention_typed_into_free_text_is_shown_as_text() -> None:
    assert as_text(escape(f"call {mention('U1AB')} <b>")) == "call @U1AB <b>"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("U0123ABCD", AddressKind.PERSON),
        ("W0123ABCD", AddressKind.PERSON),
        ("C0123ABCD", AddressKind.CHANNEL),
        ("D0123ABCD", AddressKind.CHANNEL),
        ("G0123ABCD", AddressKind.CHANNEL),
        ("aad:6f1c0d2e", None),
        ("u0123abcd", None),
        ("", None),
    ],
)
def test_slack_says_what_an_id_names(value: str, kind: AddressKind | None) -> None:
    assert slack_ids.kind(value) is kind


def test_managers_must_be_slack_user_ids_on_slack() -> None:
    slack_ids.check_managers(("U0123ABCD", "W0123ABCD"))
    with pytest.raises(ValueError, match='got "C0123ABCD"'):
        slack_ids.check_managers(("U0123ABCD", "C0123ABCD"))
