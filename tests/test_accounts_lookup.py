"""Account matching as every command uses it (PRODUCT §4): a table of Japanese and English names.

A name matches after NFKC folding, case folding, hiragana/katakana folding and dropping legal-form
words; the CRM id matches too. Nothing matched: up to three close names. Several: listed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from commands.accounts_lookup import find_account
from commands.context import Context, FixedClock, UserProfile
from commands.i18n import Translator
from commands.ui import Message
from storage.accounts import Account, fold_name, match
from tests.factories import make_account, make_person
from tests.slack_text import slack

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)

STORED = [
    # name, CRM id
    ("株式会社ACME", "CRM-001"),
    ("Globex Inc.", "CRM-002"),
    ("さくら商事株式会社", "CRM-003"),
    ("Initech Co., Ltd.", None),
    ("有限会社やまと運輸", None),
    ("合同会社DMM.com", None),
    ("AB Foods", None),
    ("Co-op Mart", None),
    ("ＮＴＴデータ株式会社", None),
    ("Umbrella Corporation", "crm-010"),
    ("一般社団法人日本CS協会", None),
    # Two companies whose names fold to the same key: a lookup must not pick one.
    ("Hooli Inc.", "CRM-020"),
    ("Hooli LLC", "CRM-021"),
]

FOUND = [
    # what a person types → the account it finds
    ("株式会社ACME", "株式会社ACME"),
    ("ACME", "株式会社ACME"),
    ("acme", "株式会社ACME"),
    ("ＡＣＭＥ", "株式会社ACME"),  # full-width
    ("Acme Co., Ltd.", "株式会社ACME"),
    ("ACME Corp.", "株式会社ACME"),
    ("㈱ACME", "株式会社ACME"),
    ("（株）ＡＣＭＥ", "株式会社ACME"),
    ("ACME株式会社", "株式会社ACME"),  # 後株 for 前株
    ("ACME K.K.", "株式会社ACME"),
    ("  acme  ", "株式会社ACME"),
    ("CRM-001", "株式会社ACME"),
    ("crm-001", "株式会社ACME"),  # CRM ids ignore case
    ("ＣＲＭ－００１", "株式会社ACME"),  # and width
    ("globex", "Globex Inc."),
    ("GLOBEX, INC.", "Globex Inc."),
    ("Globex Incorporated", "Globex Inc."),
    ("さくら商事", "さくら商事株式会社"),
    ("サクラ商事", "さくら商事株式会社"),  # katakana for hiragana
    ("ｻｸﾗ商事", "さくら商事株式会社"),  # half-width katakana
    ("さくら 商事", "さくら商事株式会社"),  # spaces do not count
    ("Initech", "Initech Co., Ltd."),
    ("initech ltd", "Initech Co., Ltd."),
    ("やまと運輸", "有限会社やまと運輸"),
    ("(有)ヤマト運輸", "有限会社やまと運輸"),
    ("DMM.com", "合同会社DMM.com"),
    ("dmm com", "合同会社DMM.com"),
    ("AB Foods", "AB Foods"),  # "AB" is only a legal form at the end of a name
    ("Co-op Mart", "Co-op Mart"),
    ("NTTデータ", "ＮＴＴデータ株式会社"),
    ("nttデータ", "ＮＴＴデータ株式会社"),
    ("Umbrella", "Umbrella Corporation"),
    ("CRM-010", "Umbrella Corporation"),
    ("日本CS協会", "一般社団法人日本CS協会"),
    ("Hooli Inc.", None),  # ambiguous after folding: see below
]


@pytest.fixture
def stored(session: Session) -> Session:
    for name, crm in STORED:
        make_account(session, name=name, at=NOW, external_id=crm)
    return session


@pytest.mark.parametrize(("typed", "expected"), [f for f in FOUND if f[1]])
def test_names_and_crm_ids_find_their_account(stored: Session, typed: str, expected: str) -> None:
    found = match(session=stored, query=typed)
    assert found.found is not None, (typed, found)
    assert found.found.name == expected


def test_a_crm_id_as_stored_wins_over_those_that_differ_only_in_case(session: Session) -> None:
    variants = ["crm-7", "CRM-7", "Crm-7", "cRm-7"]  # more than one statement's three rows
    for n, crm in enumerate(variants):
        name = f"Variant {n}"
        make_account(session, name=name, at=NOW, external_id=crm)
    for typed in variants:
        found = match(session=session, query=typed).found
        assert found is not None and found.external_id == typed
    assert match(session=session, query="ＣＲＭ－７").found is None  # four ignoring width: none


@pytest.mark.parametrize("typed", ["hooli", "HOOLI", "フーリ", "Hooli Co., Ltd."])
def test_several_matches_are_listed_not_guessed(stored: Session, typed: str) -> None:
    found = match(session=stored, query=typed)
    if typed == "フーリ":  # another script is another name
        assert found.found is None and not found.candidates
        return
    assert found.found is None
    assert [a.name for a in found.candidates] == ["Hooli Inc.", "Hooli LLC"]


@pytest.mark.parametrize(
    "typed", ["Hooli Inc.", "hooli inc.", "ＨＯＯＬＩ　ＩＮＣ．", " Hooli  Inc. "]
)
def test_an_exact_full_name_wins_over_the_names_it_folds_like(stored: Session, typed: str) -> None:
    found = match(session=stored, query=typed).found
    assert found is not None and found.name == "Hooli Inc."


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("acm", ["株式会社ACME"]),  # contained
        ("Globx", ["Globex Inc."]),  # misspelt
        ("さくら", ["さくら商事株式会社"]),
        ("Initeck Co., Ltd.", ["Initech Co., Ltd."]),
        ("Zyxwvut", []),
    ],
)
def test_near_misses_are_suggested(stored: Session, typed: str, suggested: list[str]) -> None:
    found = match(session=stored, query=typed)
    assert found.found is None and not found.candidates
    assert [a.name for a in found.suggestions] == suggested


def test_at_most_three_suggestions(stored: Session) -> None:
    for n in range(6):
        name = f"Stark Industries {n}"
        make_account(stored, name=name, at=NOW)
    assert len(match(session=stored, query="Stark").suggestions) == 3


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "株式会社",
        "Inc.",
        "x" * 10_000,
        "'; DROP TABLE accounts; --",
        "%",
        "_",
        "<!channel>",
        "\x00\x07",
        "🎉",
    ],
)
def test_hostile_and_empty_queries_match_nothing(stored: Session, typed: str) -> None:
    found = match(session=stored, query=typed)
    assert found.found is None and not found.candidates
    assert len(found.suggestions) <= 3


def test_names_that_are_only_a_legal_form_keep_it() -> None:
    assert fold_name("株式会社") == "株式会社" and fold_name("Inc.") == "inc"
    assert fold_name("Limited Brands") == "limitedbrands"  # only at the end


class _NoDirectory:
    def lookup(self, user_id: str) -> UserProfile | None:
        return None


def context(session: Session, locale: str) -> Context:
    actor = make_person(session, user_id="UCS", name="aiko")
    return Context(
        session=session,
        actor=actor,
        t=Translator(locale),
        clock=FixedClock(NOW),
        directory=_NoDirectory(),
        default_locale="en",
        default_zone=ZoneInfo("UTC"),
    )


def text_of(result: Account | Message) -> str:
    assert isinstance(result, Message)
    return slack(result.text)


def test_replies_in_english(stored: Session) -> None:
    ctx = context(stored, "en")
    assert isinstance(find_account(ctx, "acme"), Account)
    assert (
        text_of(find_account(ctx, "Globx"))
        == "No account matches “Globx”. Did you mean *Globex Inc.* (CRM-002)?"
    )
    assert text_of(find_account(ctx, "hooli")) == (
        "Several accounts match “hooli”: *Hooli Inc.* (CRM-020), *Hooli LLC* (CRM-021). Nothing "
        "changed; name one by its CRM id or full name."
    )
    assert "No account matches “Zyxwvut”." in text_of(find_account(ctx, "Zyxwvut"))
    assert "Name the account" in text_of(find_account(ctx, "  "))


def test_replies_in_japanese(stored: Session) -> None:
    ctx = context(stored, "ja")
    assert text_of(find_account(ctx, "さくら")) == (
        "「さくら」に一致するアカウントはありません。*さくら商事株式会社*(CRM-003) のことですか？"
    )
    assert "一致するアカウントが複数あります: *Hooli Inc.*(CRM-020)、*Hooli LLC*(CRM-021)" in (
        text_of(find_account(ctx, "HOOLI"))
    )


def test_what_was_typed_is_quoted_escaped_and_clipped(stored: Session) -> None:
    ctx = context(stored, "en")
    reply = text_of(find_account(ctx, "<!channel> <@U0001> " + "y" * 10_000))
    assert "&lt;!channel&gt; &lt;@U0001&gt;" in reply and "<!channel>" not in reply
    assert len(reply) < 400
