"""The figures of docs/reliability.md, as the fault tests measure them (see conftest.py)."""

from __future__ import annotations

from collections import Counter

ROWS = {
    "inputs": "Bad inputs tried",
    "records_lost": "Records lost",
    "crashes": "Crashes injected (kill -9)",
    "teacher_deaths": "Teachers that died mid-stage",
    "requests": "API requests sent",
    "http_calls": "HTTP calls (with retries)",
    "faults": "Faults injected",
    "failed_reported": "Requests reported failed, with reason",
    "calls_repaid": "Calls repaid",
    "files_scanned": "Files grepped for the API key",
    "secrets_found": "Secrets found",
}


class Tally:
    """Figures added by the tests of one session."""

    def __init__(self) -> None:
        self.figures: Counter[str] = Counter()

    def add(self, **counts: int) -> None:
        unknown = set(counts) - set(ROWS)
        if unknown:
            raise KeyError(f"not a reliability figure: {sorted(unknown)}")
        self.figures.update(counts)
