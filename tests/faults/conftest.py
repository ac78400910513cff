"""The figures of docs/reliability.md's table, counted by the tests that measure them.

Each fault test adds what it measured to the session's `Tally` (`tally` fixture); bad-input
tests (marked `bad_input`) count one input each when they pass. At the end of the session the
table is printed, and written as JSON to `$FAULTS_TALLY` when set, so the doc's figures are the
suite's own output: `uv run pytest tests/faults -s` (or `-rA`) shows it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.faults.tally import ROWS, Tally

_KEY = pytest.StashKey[Tally]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bad_input: one malformed input; counted when it passes")
    config.stash[_KEY] = Tally()


@pytest.fixture
def tally(request: pytest.FixtureRequest) -> Tally:
    return request.config.stash[_KEY]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.when == "call" and report.passed and item.get_closest_marker("bad_input"):
        item.config.stash[_KEY].add(inputs=1)
    return report


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    figures = config.stash[_KEY].figures
    if not figures:
        return
    terminalreporter.section("reliability figures (docs/reliability.md)")
    for key, label in ROWS.items():
        if key in figures:
            terminalreporter.write_line(f"{label:<42} {figures[key]:>8,}")
    if target := os.environ.get("FAULTS_TALLY"):
        Path(target).write_text(json.dumps(dict(sorted(figures.items())), indent=1) + "\n")
