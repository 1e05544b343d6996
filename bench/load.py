"""Load for benchmark 1: wrk replaying one signed slash-command request, stopped after a fixed
number of responses, reporting p50/p90/p99 of the acknowledgement latency as JSON.

wrk (C, event loop, HdrHistogram) measures the exact request we give it — method, body and the
Slack signature headers set from a Lua script — without competing for the GIL of a Python load
client on a two-core machine. A request count instead of a duration is done in Lua: each wrk
thread stops after its share of responses (the few already in flight then complete too) and
leaves a marker file; wrk's main thread sleeps for its whole `-d` regardless, so once every
thread has left its marker we interrupt it (SIGINT), and it prints its summary at once.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from testkit.signing import signed_headers, slash_command_body

_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
{headers}
local seen = 0
local bad = 0
local limit = {limit}
function response(status, headers, body)
  seen = seen + 1
  if status ~= 200 then bad = bad + 1 end
  if seen == limit then
    local marker = io.open({marker} .. tostring(math.random(1e9)), "w")
    marker:close()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  io.write(string.format(
    '\\nRESULT {{"requests": %d, "errors": %d, "non2xx": %d, "p50": %d, "p90": %d, '
    .. '"p99": %d, "max": %d, "seconds": %f}}\\n',
    summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    summary.duration / 1e6))
end
"""


@dataclass(frozen=True)
class Latency:
    requests: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    seconds: float


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal for this text


def signed_command(
    command: str, text: str, user_id: str, response_url: str, secret: str
) -> tuple[str, dict[str, str]]:
    body = slash_command_body(command, text, user_id=user_id, response_url=response_url)
    return body, signed_headers(body, secret)


def replay(
    url: str,
    body: str,
    headers: dict[str, str],
    *,
    requests: int,
    connections: int,
    threads: int = 1,
    timeout: float = 300,
) -> Latency:
    """`requests` signed POSTs to `url` with `connections` in flight."""
    with tempfile.TemporaryDirectory() as folder:
        markers = Path(folder) / "done"
        markers.mkdir()
        lines = "\n".join(f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items())
        script = Path(folder) / "replay.lua"
        script.write_text(
            _SCRIPT.format(
                body=_lua(body),
                headers=lines,
                limit=max(1, requests // threads),
                marker=_lua(f"{markers}/"),
            )
        )
        command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(timeout)}s"]
        command += ["--timeout", "10s", "-s", str(script), url]
        wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while len(list(markers.iterdir())) < threads and time.monotonic() < deadline:
            if wrk.poll() is not None:
                break
            time.sleep(0.05)
        if wrk.poll() is None:
            wrk.send_signal(signal.SIGINT)
        out, err = wrk.communicate(timeout=60)
    if "RESULT " not in out:
        raise RuntimeError(f"wrk failed: {err or out}")
    result = json.loads(out.rsplit("RESULT ", 1)[1].splitlines()[0])
    return Latency(
        requests=result["requests"],
        errors=result["errors"] + result["non2xx"],
        p50_ms=result["p50"] / 1000,
        p90_ms=result["p90"] / 1000,
        p99_ms=result["p99"] / 1000,
        max_ms=result["max"] / 1000,
        seconds=result["seconds"],
    )
