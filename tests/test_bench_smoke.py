"""The benchmark harness (bench/) on tiny data, so it cannot rot: the real `kakehashi run`
process, the minimal Bolt app, the open-loop sender, the data generator, the sweep and agenda
workers and the delivery engine against the rate-limited fake Slack. Only that each benchmark
ran and delivery was exactly once is asserted, never a timing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import main
from bench.datagen import Sizes, generate
from storage.db import make_engine


def test_generator_is_reproducible(tmp_path: Path) -> None:
    sizes = Sizes(accounts=40, promises=120, touches=200)
    first = generate(make_engine(f"sqlite:///{tmp_path / 'a.db'}"), sizes, seed=3)
    second = generate(make_engine(f"sqlite:///{tmp_path / 'b.db'}"), sizes, seed=3)
    assert first == second
    assert len(first.user_ids) == 10 and len(first.account_names) == 40


@pytest.mark.system_clock_process
def test_smoke_run_of_every_benchmark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "table.md"
    main(
        [
            "--profile",
            "smoke",
            "--backends",
            "sqlite",
            "--only",
            "1,3,4,7",
            "--workdir",
            str(tmp_path / "work"),
            "--markdown",
            str(table),
        ]
    )
    text = table.read_text()
    assert "failed:" not in text, text
    for bench in ("| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 7 |", "| 8 |"):
        assert bench in text
    assert "0 lost, 0 duplicated" in text
