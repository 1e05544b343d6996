"""`kakehashi run` serving Teams (PRODUCT §13): the real process, a fake Microsoft (issuer and
Bot Connector) in its own thread. Only a valid Bot Framework token gets past 401."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from testkit.fake_slack import FakeSlack
from testkit.fake_teams import CLIENT_ID, FakeTeams, message_activity, rsa_key, start_fake_teams
from testkit.signing import signed_headers, slash_command_body
from tests.conftest import SECRET, TOKEN, clean_environ, free_port, run_kakehashi


class Running:
    """`kakehashi run` with Teams only, on a free port."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"run-{self.port}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--port", str(self.port)],
            env={**clean_environ(), **env},
            cwd=cwd,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.url}/healthz", timeout=5)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError(f"did not serve:\n{self.log.read_text()}") from None
                time.sleep(0.1)

    def post(self, body: Any, authorization: str | None) -> httpx.Response:
        headers = {"Authorization": authorization} if authorization is not None else {}
        return httpx.post(f"{self.url}/api/messages", json=body, headers=headers, timeout=10)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def teams() -> Iterator[FakeTeams]:
    fake, server = start_fake_teams()
    yield fake
    server.shutdown()


@pytest.fixture(scope="module")
def served(teams: FakeTeams, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    cwd = tmp_path_factory.mktemp("teams")
    (cwd / ".env").write_text("CLIENT_ID=11111111-2222-3333-4444-555555555555\n")
    env = {
        **teams.settings(),
        "DATABASE_URL": f"sqlite:///{cwd / 'k.db'}",
        # The SDK's own variables, which must change nothing: every forged request below
        # still gets 401, and replies still go to the activity's service URL.
        "DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS": "true",
        "CLIENT_SECRET": "not-ours",
        "TENANT_ID": "11111111-2222-3333-4444-555555555555",
        "SERVICE_URL": "https://smba.example.com/never",
    }
    running = Running(env, cwd)
    yield running
    running.stop()


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.system_clock_process
def test_a_signed_message_is_answered_with_help_through_the_connector(
    served: Running, teams: FakeTeams
) -> None:
    before = len(teams.activities)
    answer = served.post(message_activity(teams, "help"), f"Bearer {teams.token()}")
    assert answer.status_code == 200, served.log.read_text()
    wait_for(lambda: len(teams.activities) > before, "the reply reached the connector")
    reply = teams.activities[before]
    assert reply["path"] == "/v3/conversations/a:personal-aiko/activities"
    card = reply["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "/promise" in json.dumps(card["content"], ensure_ascii=False)
    # The reply carried the token our client-credentials request got from the issuer.
    assert teams.token_requests[-1]["client_id"] == CLIENT_ID
    assert teams.token_requests[-1]["scope"] == "https://api.botframework.com/.default"
    assert jwt.decode(
        reply["authorization"].removeprefix("Bearer "), options={"verify_signature": False}
    )["iss"]


def forged(teams: FakeTeams) -> dict[str, str | None]:
    """Every way a request can fail to prove it comes from Teams for this bot."""
    other_key = rsa_key()
    now = int(time.time())
    claims = {"iss": "https://api.botframework.test", "aud": CLIENT_ID, "serviceurl": teams.url}
    return {
        "no header": None,
        "not Bearer": f"Basic {teams.token()}",
        "empty Bearer": "Bearer x",
        "alg none": "Bearer " + jwt.encode(claims, None, algorithm="none"),
        "other key": "Bearer "
        + jwt.encode(
            {**claims, "exp": now + 600}, other_key, algorithm="RS256", headers={"kid": teams.kid}
        ),
        "wrong audience": f"Bearer {teams.token(aud='00000000-0000-4000-8000-000000000000')}",
        "wrong issuer": f"Bearer {teams.token(iss='https://api.botframework.com')}",
        "expired": f"Bearer {teams.token(exp=now - 3600, nbf=now - 7200)}",
        "other service URL": f"Bearer {teams.token(serviceurl='https://smba.example.com')}",
        "garbage": "Bearer not.a.token",
    }


@pytest.mark.parametrize(
    "case",
    [
        "no header",
        "not Bearer",
        "empty Bearer",
        "alg none",
        "other key",
        "wrong audience",
        "wrong issuer",
        "expired",
        "other service URL",
        "garbage",
    ],
)
def test_a_forged_request_gets_401_and_nothing_is_sent(
    served: Running, teams: FakeTeams, case: str
) -> None:
    before = len(teams.activities)
    answer = served.post(message_activity(teams, "help"), forged(teams)[case])
    assert answer.status_code == 401
    time.sleep(0.3)
    assert len(teams.activities) == before


def test_a_body_that_is_not_an_activity_is_refused(served: Running, teams: FakeTeams) -> None:
    token = f"Bearer {teams.token()}"
    headers = {"Authorization": token, "Content-Type": "application/json"}
    for body in (b"[1, 2]", b"{not json", b"x" * (2 * 1024 * 1024)):
        answer = httpx.post(f"{served.url}/api/messages", content=body, headers=headers)
        assert answer.status_code in (400, 413)


def test_the_sdk_environment_and_dot_env_change_nothing(served: Running) -> None:
    """`.env` in the process's folder had CLIENT_ID: the bot still accepts only its own
    audience (shown above) and its health is fine."""
    assert httpx.get(f"{served.url}/healthz").json()["ok"] is True
    assert "11111111-2222-3333-4444-555555555555" not in served.log.read_text()


def test_importing_the_teams_app_leaves_the_environment_alone(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CLIENT_ID=from-dotenv\nSERVICE_URL=https://x.test\n")
    code = (
        "import json, os; before = dict(os.environ); import bot.teams_app; "
        "print(json.dumps(dict(os.environ) == before))"
    )
    env = {**clean_environ(), "PYTHONPATH": str(Path(__file__).parents[1])}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(result.stdout) is True, result.stderr


def test_building_the_app_ignores_the_sdks_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiohttp import web

    from bot.settings import load_settings
    from bot.teams_app import build_teams_app

    monkeypatch.setenv("CLIENT_ID", "11111111-2222-3333-4444-555555555555")
    monkeypatch.setenv("DANGEROUSLY_ALLOW_UNAUTHENTICATED_REQUESTS", "true")
    settings = load_settings(_env_file=None, TEAMS_ANONYMOUS="false")
    app = build_teams_app(settings, web.Application(), _never, None)
    assert app.id is None
    assert os.environ["CLIENT_ID"] == "11111111-2222-3333-4444-555555555555"


async def _never(*_args: Any) -> None:
    raise AssertionError("no handler runs")


def test_run_needs_a_platform_and_says_so(tmp_path: Path) -> None:
    result = run_kakehashi("run", env={"DATABASE_URL": f"sqlite:///{tmp_path}/k.db"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is required" in result.stderr
    assert "TEAMS_CLIENT_ID" in result.stderr


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TEAMS_CLIENT_ID": CLIENT_ID}, "TEAMS_CLIENT_SECRET is missing"),
        ({"TEAMS_CLIENT_ID": "not-a-guid"}, "TEAMS_CLIENT_ID must be a GUID"),
        (
            {"TEAMS_ANONYMOUS": "true", "TEAMS_LOGIN_URL": "http://login.example.com"},
            "TEAMS_LOGIN_URL must be an https URL",
        ),
    ],
)
def test_teams_settings_are_checked_in_one_line(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    result = run_kakehashi("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert named in result.stderr


@pytest.mark.system_clock_process
def test_slack_and_teams_are_served_by_one_process(
    teams: FakeTeams, slack: FakeSlack, tmp_path: Path
) -> None:
    env = {
        **teams.settings(),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
    }
    running = Running(env, tmp_path)
    try:
        before = len(teams.activities)
        typed = message_activity(teams, "help")
        answer = running.post(typed, f"Bearer {teams.token()}")
        assert answer.status_code == 200
        wait_for(lambda: len(teams.activities) > before, "the Teams reply")
        body = slash_command_body(
            "/kakehashi", "help", "UCS", response_url=slack.new_response_url()
        )
        slack_answer = httpx.post(
            f"{running.url}/slack/events",
            content=body,
            headers=signed_headers(body, SECRET),
            timeout=10,
        )
        assert slack_answer.status_code == 200
        unsigned = httpx.post(f"{running.url}/slack/events", content=body, timeout=10)
        assert unsigned.status_code == 401
        assert httpx.get(f"{running.url}/healthz").json()["ok"] is True
        # One runtime per platform: each person is a row of their own platform.
        wait_for(lambda: ("slack", "UCS") in _people(tmp_path), "the Slack person")
        assert ("teams", typed["from"]["aadObjectId"]) in _people(tmp_path)
    finally:
        running.stop()


def _people(folder: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(folder / "k.db") as db:
        return {(p, u) for p, u in db.execute("SELECT platform, user_id FROM people")}


def test_anonymous_teams_listens_on_this_machine_only_and_needs_no_token(
    teams: FakeTeams, tmp_path: Path
) -> None:
    env = {"TEAMS_ANONYMOUS": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"}
    running = Running(env, tmp_path)
    try:
        before = len(teams.activities)
        answer = running.post(message_activity(teams, "help"), None)
        assert answer.status_code == 200
        wait_for(lambda: len(teams.activities) > before, "the Playground reply")
        assert teams.activities[before]["authorization"] == ""  # no credentials to send
        wait_for(lambda: "listening on 127.0.0.1" in running.log.read_text(), "the log line")
    finally:
        running.stop()
