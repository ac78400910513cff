"""The response cache commits each response as it arrives and records what failed, so a crash or
a dead teacher costs no answered request, and a re-run asks only for what is missing."""

from collections import Counter
from collections.abc import Iterator, Sequence

import pytest
from generation import (
    FAILED,
    CachedGenerator,
    Failure,
    Generation,
    Generator,
    Request,
    ResponseCache,
    UnansweredRequests,
)


class Teacher(Generator):
    """Answers "echo <prompt>"; a prompt starting "fail" fails; crashes after `crash_after`."""

    kind = "fake"

    def __init__(self, crash_after: int | None = None, healthy: bool = False) -> None:
        super().__init__("teacher")
        self.asked: Counter[str] = Counter()
        self.crash_after, self.healthy = crash_after, healthy

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        raise AssertionError("CachedGenerator must stream")

    def stream(self, requests: Sequence[Request]) -> Iterator[tuple[int, Generation | Failure]]:
        for i, request in enumerate(requests):
            if self.crash_after is not None and sum(self.asked.values()) == self.crash_after:
                raise KeyboardInterrupt  # the process dies here
            prompt = request.messages[0]["content"]
            self.asked[prompt] += 1
            if prompt.startswith("fail") and not self.healthy:
                yield i, Failure("HTTP 503 InternalServerError", 4)
            else:
                yield i, Generation(f"echo {prompt}")


def _requests(*prompts: str) -> list[Request]:
    return [Request([{"role": "user", "content": p}]) for p in prompts]


def test_a_crash_keeps_every_response_received_before_it(tmp_path):
    prompts = [f"q{i}" for i in range(10)]
    dying = CachedGenerator(Teacher(crash_after=6), ResponseCache(tmp_path / "c.sqlite"))
    with pytest.raises(KeyboardInterrupt):
        dying.generate(_requests(*prompts))
    assert len(dying.cache) == 6  # committed one by one, not at the end of the batch
    dying.cache.close()

    teacher = Teacher()
    rerun = CachedGenerator(teacher, ResponseCache(tmp_path / "c.sqlite"))
    out = rerun.generate(_requests(*prompts))
    assert [g.text for g in out] == [f"echo {p}" for p in prompts]
    assert sorted(teacher.asked) == prompts[6:]  # nothing answered before the crash is asked again
    assert rerun.stats["cache_hits"] == 6 and rerun.stats["cache_misses"] == 4


def test_failures_are_recorded_named_and_retried_next_run(tmp_path):
    prompts = ["a", "fail-1", "b", "fail-2", "c"]
    first = CachedGenerator(Teacher(), ResponseCache(tmp_path / "c.sqlite"))
    with pytest.raises(UnansweredRequests) as err:
        first.generate(_requests(*prompts))
    message = str(err.value)
    assert "2 request(s) failed after their retries (budget 0)" in message
    assert "2 x HTTP 503 InternalServerError" in message and "c.sqlite" in message
    assert len(first.cache) == 3  # the batch's good responses are kept
    recorded = first.cache.failures()
    assert sorted(f.reason for f in recorded.values()) == ["HTTP 503 InternalServerError"] * 2
    assert set(recorded) == set(first.failed)
    first.cache.close()

    teacher = Teacher(healthy=True)
    second = CachedGenerator(teacher, ResponseCache(tmp_path / "c.sqlite"))
    out = second.generate(_requests(*prompts))
    assert [g.text for g in out] == [f"echo {p}" for p in prompts]
    assert sorted(teacher.asked) == ["fail-1", "fail-2"]
    assert second.cache.failures() == {}  # answered now, so no longer failed


def test_a_failure_budget_lets_the_stage_go_on_with_the_failed_request_marked(tmp_path):
    within = CachedGenerator(Teacher(), ResponseCache(tmp_path / "a.sqlite"), max_failures=1)
    out = within.generate(_requests("a", "fail-1", "b"))
    assert [(g.text, g.finish_reason) for g in out] == [
        ("echo a", "stop"),
        ("", FAILED),
        ("echo b", "stop"),
    ]
    assert within.stats["failed"] == 1
    # The budget counts the run, not one call: a second failure later in the stage stops it.
    with pytest.raises(UnansweredRequests, match="2 request"):
        within.generate(_requests("fail-2"))


def test_identical_requests_are_asked_once(tmp_path):
    teacher = Teacher()
    cached = CachedGenerator(teacher, ResponseCache(tmp_path / "c.sqlite"))
    out = cached.generate(_requests("a", "b", "a", "a"))
    assert [g.text for g in out] == ["echo a", "echo b", "echo a", "echo a"]
    assert teacher.asked == {"a": 1, "b": 1}
    assert cached.stats["cache_misses"] == 2 and cached.stats["cache_hits"] == 0
