"""Scorers on a tiny random Llama: shared-context log-likelihoods equal naive full forwards;
voting, ties, best-of-n with a trivial reward scorer; generation returns parsed or 'unparsed'."""

import pytest
from evals.backends import GenerationConfig
from evals.backends.hf import HFBackend
from evals.loglik import naive_option_logliks, option_logliks
from evals.prompts import build_prompt, fewshot_exemplars
from evals.scorers import (
    majority_vote,
    score_best_of_n,
    score_generate,
    score_loglik,
    score_self_consistency,
)

from tests.fixtures.tiny_models import make_items


@pytest.fixture(scope="module")
def backend(tiny_model):
    return HFBackend("tiny", tiny_model, device="cpu", batch_tokens=512)


def test_shared_context_equals_naive_forwards(backend):
    items = make_items("medqa", 12, seed=7)
    letters = [(build_prompt(i), [" A", " B", " C", " D"]) for i in items]
    # option texts span several tokens: the KV-cache path
    texts = [(build_prompt(i), [" " + v for v in i.options.values()]) for i in items[:6]]
    # mixed lengths, small token budget: several padded batches
    fast = option_logliks(backend.model, backend.tokenizer, letters + texts, batch_tokens=300)
    slow = naive_option_logliks(backend.model, backend.tokenizer, letters + texts)
    for f_row, s_row in zip(fast, slow, strict=True):
        for f, s in zip(f_row, s_row, strict=True):
            assert f.loglik == pytest.approx(s.loglik, abs=1e-4)
            assert f.is_greedy == s.is_greedy


def test_truncation_keeps_the_end_of_the_context(backend):
    item = make_items("medqa", 1)[0]
    prompt = build_prompt(item, make_items("pool", 6, seed=9))
    full = option_logliks(backend.model, backend.tokenizer, [(prompt, [" A", " B"])])
    cut = option_logliks(backend.model, backend.tokenizer, [(prompt, [" A", " B"])], max_length=20)
    assert [s.loglik for s in full[0]] != [s.loglik for s in cut[0]]


def test_loglik_rows_and_acc_norm(backend):
    items = make_items("medqa", 8, seed=3)
    rows = score_loglik(backend, items, [build_prompt(i) for i in items], chat=False, kind="texts")
    for item, row in zip(items, rows, strict=True):
        assert len(row["logliks"]) == 4 and row["gold"] == item.answer
        assert row["correct"] == (row["prediction"] == item.answer)
        lengths = [len(v) for v in item.options.values()]
        normed = [ll / n for ll, n in zip(row["logliks"], lengths, strict=True)]
        assert row["prediction_norm"] == "ABCD"[normed.index(max(normed))]


def test_fewshot_exemplars_fixed_and_exclude_item():
    pool = make_items("medqa", 20)
    a = fewshot_exemplars(pool, 3, seed=1)
    assert [e.id for e in a] == [e.id for e in fewshot_exemplars(pool, 3, seed=1)]
    assert pool[0].id not in [e.id for e in fewshot_exemplars(pool, 19, seed=1, exclude=pool[0].id)]
    prompt = build_prompt(pool[0], a)
    assert prompt.count("Question:") == 4 and prompt.endswith("Answer:")


def test_chat_template_prompt(backend):
    text, chat = backend.format_prompt("Question: x\nA. y\nB. z\nAnswer:", chat=None)
    assert (
        chat
        and text.startswith("<|start_header_id|>user")
        and text.endswith("<|end_header_id|>\n\n")
    )
    assert backend.format_prompt("q", chat=False) == ("q", False)


@pytest.mark.parametrize(
    ("votes", "winner"),
    [
        (["A", "B", "A", None, "C"], "A"),
        (["B", "A", "A", "B"], "B"),  # tie: B voted first
        (["A", "B", "B", "A"], "A"),  # tie: A voted first
        ([None, "unparsed", "C"], "C"),  # unparsed samples do not vote
        ([None, "unparsed"], None),
        (["D"] * 3 + ["A"] * 4, "A"),
    ],
)
def test_majority_vote(votes, winner):
    assert majority_vote(votes) == winner


class Scripted:
    """A backend that returns fixed generations (to test scorers without sampling noise)."""

    name = "scripted"

    def __init__(self, outputs):
        self.outputs = outputs

    def generate(self, prompts, config):
        return [self.outputs[i][: config.n] for i in range(len(prompts))]


def test_self_consistency_and_best_of_n_with_a_trivial_reward():
    items = make_items("medqa", 2, seed=4)
    outs = [
        ["The answer is B", "B.", "I think A", "answer: C"],
        ["no idea", "The answer is D", "(A)", "A"],
    ]
    cfg = GenerationConfig(max_new_tokens=8, temperature=0.7, top_p=0.9, n=4)
    rows = score_self_consistency(Scripted(outs), items, ["p1", "p2"], cfg)
    assert [r["prediction"] for r in rows] == ["B", "A"]
    assert rows[1]["votes"] == ["unparsed", "D", "A", "A"]

    class LongestWins:
        def score(self, prompt, completions):
            return [len(c) for c in completions]

    rows = score_best_of_n(Scripted(outs), items, ["p1", "p2"], cfg, LongestWins())
    assert [r["prediction"] for r in rows] == ["B", "D"]
    assert rows[0]["rewards"] == [15, 2, 9, 9]
    rows = score_best_of_n(Scripted(outs), items, ["p1", "p2"], cfg, lambda p, c: [0.0] * len(c))
    assert [r["output"] for r in rows] == ["The answer is B", "no idea"]  # first on ties
    assert rows[1]["prediction"] == "unparsed" and rows[1]["correct"] is False


def test_generation_on_tiny_model(backend):
    items = make_items("medqa", 3, seed=5)
    rows = score_generate(
        backend,
        items,
        [build_prompt(i, style="generate") for i in items],
        GenerationConfig(max_new_tokens=4),
    )
    assert len(rows) == 3
    assert all(r["prediction"] in {"A", "B", "C", "D", "unparsed"} for r in rows)
    sampled = backend.generate(["Question: fever?"], GenerationConfig(4, 0.7, 0.9, n=3, seed=1))
    assert len(sampled[0]) == 3
