"""Score parsing, answer extraction, position-swapped judging and verification."""

import random
import re

import pytest
from data_core.schemas import Completion, Instruction, Message
from generation import Generation, Generator
from synth.judge import (
    agreement,
    judge,
    parse_listwise,
    swapped_requests,
    swapped_scores,
    verify,
)
from synth.parse import extract_letter, parse_labeled, parse_score


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8/10", 8.0),
        ("Score: 7", 7.0),
        ("**9**", 9.0),
        ("rating: 6.5", 6.5),
        ("[[8]]", 8.0),
        ("I would rate it 7 out of 10.", 7.0),
        ("Overall score is 5", 5.0),
        ("Rating: [[6]]", 6.0),
        ("The response is good.\n8\n", 8.0),
        ("Score: **4**/10", 4.0),
        ("7.5 / 10 - solid", 7.5),
    ],
)
def test_parse_score_shapes(text, expected):
    assert parse_score(text) == (expected, "")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty output"),
        ("   ", "empty output"),
        ("The answer is thorough and kind.", "no score found"),
        ("Score: 42", "score 42 outside [1, 10]"),
        ("lorem ipsum {]{", "no score found"),
    ],
)
def test_parse_score_garbage_is_unparsed_with_reason(text, reason):
    assert parse_score(text) == (None, reason)


def test_parse_labeled():
    text = "Difficulty: 7/10\nQuality: **9**\nRationale: fine"
    assert parse_labeled(text, "difficulty") == (7.0, "")
    assert parse_labeled(text, "quality") == (9.0, "")
    assert parse_labeled("nothing here", "quality") == (None, "no quality found")


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("The answer is C. Because...", "C"),
        ("Answer: (B)", "B"),
        ("D. Marfan syndrome", "D"),
        ("I pick option A here", "A"),
        ("So, the answer is **E**", "E"),
        ("no idea", None),
    ],
)
def test_extract_letter(text, letter):
    assert extract_letter(text) == letter


def _mc() -> Instruction:
    return Instruction(
        id="t:1",
        source="t",
        type="mc",
        messages=[Message(role="user", content="Which is it? A. x B. y C. z")],
        options={"A": "x", "B": "y", "C": "z"},
        answer="B",
    )


def test_verify_mc_open_and_yesno():
    assert verify(_mc(), "The answer is B. y", 0.8) is True
    assert verify(_mc(), "The answer is A.", 0.8) is False
    open_q = Instruction(
        id="t:2",
        source="t",
        type="open",
        messages=[Message(role="user", content="Define q")],
        meta={"gold": "A small round bone"},
    )
    assert verify(open_q, "It means: a small round bone of the wrist.", 0.8) is True
    assert verify(open_q, "A large flat muscle.", 0.8) is False
    yn = Instruction(
        id="t:3",
        source="t",
        type="yesno",
        answer="no",
        messages=[Message(role="user", content="Is it?")],
    )
    assert verify(yn, "No, it is not.", 0.8) is True


class BiasedJudge(Generator):
    """Scores each response by its quality digit, plus a bonus for whichever is shown first."""

    kind = "fake"

    def __init__(self, first_bonus: float, garbage: bool = False):
        super().__init__("fake-judge")
        self.first_bonus, self.garbage, self.prompts = first_bonus, garbage, []

    def generate(self, requests):
        out = []
        for r in requests:
            prompt = r.messages[-1]["content"]
            self.prompts.append(prompt)
            if self.garbage:
                out.append(Generation("I cannot decide, both are lovely."))
                continue
            qualities = [int(q) for q in re.findall(r"quality (\d)", prompt)]
            lines = [
                f"Response {i + 1}: {min(10, q + (self.first_bonus if i == 0 else 0)):g}/10"
                for i, q in enumerate(qualities)
            ]
            out.append(Generation("\n".join(lines) + "\nRationale: test"))
        return out


def _judged(backend, texts):
    passes, requests = swapped_requests(_mc(), texts, random.Random(0), 0)
    return swapped_scores(passes, backend.generate(requests), len(texts))


def test_position_swap_cancels_a_first_position_bias():
    texts = ["answer with quality 3", "answer with quality 5", "answer with quality 7"]
    judge_ = BiasedJudge(first_bonus=4)
    first, second, why = _judged(judge_, texts)
    assert why == ""
    # The two passes show the responses in reverse order of each other.
    shown = [re.findall(r"quality (\d)", p) for p in judge_.prompts]
    assert shown[0] == shown[1][::-1]
    # Each pass adds the bonus to a different response; the average shares it between the two.
    averaged = [(a + b) / 2 for a, b in zip(first, second, strict=True)]
    assert sorted(averaged) == averaged  # true order 3 < 5 < 7 survives
    assert sum(averaged) == pytest.approx(3 + 5 + 7 + 4)
    unbiased = BiasedJudge(first_bonus=0)
    f2, s2, _ = _judged(unbiased, texts)
    assert agreement(f2, s2) == 1.0
    assert agreement([9, 5, 7], [3, 5, 7]) == pytest.approx(1 / 3)


def test_parse_listwise_partial_and_garbage():
    scores, why = parse_listwise("Response 1: 8/10\nResponse 2: excellent", 3)
    assert scores == [8.0, None, None]
    assert "response 2: no score found" in why
    assert parse_listwise("no verdict", 2) == ([None, None], "no score for responses 1, 2")


def test_llm_judge_counts_unparsed_with_reasons():
    completions = [
        Completion(prompt_id="t:1", model=m, sample=0, text="The answer is B. quality 5")
        for m in ("a", "b")
    ]
    good, metrics = judge([_mc()], completions, "fake", None, BiasedJudge(2), 0.8, 0)
    assert len(good) == 2 and metrics["position_agreement"] is not None
    assert all(j.verified for j in good)
    bad, metrics = judge([_mc()], completions, "fake", None, BiasedJudge(0, garbage=True), 0.8, 0)
    assert bad == [] and metrics["unparsed"] == 2
    assert "no score for responses" in metrics["unparsed_examples"][0]


def test_gold_agreement():
    from data_core.schemas import Judgement
    from synth.judge import gold_agreement

    def j(pid, score, ok):
        return Judgement(prompt_id=pid, model="m", score=score, judge="x", verified=ok)

    assert (
        gold_agreement([j("a", 9, True), j("a", 2, False), j("b", 3, True), j("b", 5, False)])
        == 0.5
    )
    assert gold_agreement([j("a", 9, True)]) is None


def test_a_letterless_answer_commits_to_the_one_option_it_names() -> None:
    from synth.parse import extract_letter

    options = {"A": "Marfan syndrome", "B": "Noonan syndrome", "C": "Noonan syndrome 3"}
    assert (
        extract_letter("A patient with tall stature may have Marfan syndrome.", "ABC", options)
        == "A"
    )
    # a name inside a longer option's name is that longer option
    assert extract_letter("... may have Noonan syndrome 3.", "ABC", options) == "C"
    assert extract_letter("It is Marfan syndrome or Noonan syndrome.", "ABC", options) is None
    assert (
        extract_letter("The answer is B. Marfan syndrome", "ABC", options) == "B"
    )  # a letter wins
    assert extract_letter("may have Marfan syndrome.", "ABC") is None  # no options: letters only
