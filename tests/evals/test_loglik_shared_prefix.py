"""Options that share leading tokens (a chat answer's "\\n\\n" before the letter) take the
one-forward path with the shared tokens read before it; values equal naive full forwards."""

import pytest
from evals.backends.hf import HFBackend
from evals.loglik import _fold, encode_requests, naive_option_logliks, option_logliks
from evals.prompts import build_prompt

from tests.fixtures.tiny_models import make_items


@pytest.fixture(scope="module")
def backend(tiny_model):
    return HFBackend("tiny", tiny_model, device="cpu", batch_tokens=512)


def test_fold_moves_only_a_prefix_every_option_shares():
    assert _fold([1, 2], [[7, 8, 3], [7, 8, 4]]) == ([1, 2, 7, 8], [[3], [4]], 2)
    assert _fold([1], [[3], [4]]) == ([1], [[3], [4]], 0)
    assert _fold([1], [[7, 3], [6, 4]]) == ([1], [[7, 3], [6, 4]], 0)  # nothing shared
    assert _fold([1], [[7, 3, 5], [7, 4]]) == ([1], [[7, 3, 5], [7, 4]], 0)  # two tokens left


def test_shared_prefix_equals_naive_forwards(backend):
    items = make_items("medqa", 10, seed=11)
    # trailing newlines move into the continuation (lm-eval): "\n\nA" etc. share "\n\n"
    chat = [(build_prompt(i) + "\n\n", ["A", "B", "C", "D"]) for i in items[:6]]
    letters = [(build_prompt(i), [" A", " B", " C", " D"]) for i in items[6:]]
    texts = [(build_prompt(i) + "\n", [v for v in i.options.values()]) for i in items[:3]]
    requests = chat + letters + texts
    shared = [_fold(c, cs)[2] for c, cs in encode_requests(backend.tokenizer, requests)]
    assert all(shared[:6]) and not any(shared[-3:])  # chat-style ones fold; option texts do not
    fast = option_logliks(backend.model, backend.tokenizer, requests, batch_tokens=300)
    slow = naive_option_logliks(backend.model, backend.tokenizer, requests)
    for f_row, s_row in zip(fast, slow, strict=True):
        for f, s in zip(f_row, s_row, strict=True):
            assert f.loglik == pytest.approx(s.loglik, abs=1e-4)
            assert f.is_greedy == s.is_greedy


def test_backend_scores_each_distinct_request_once(backend, monkeypatch):
    items = make_items("medqa", 4, seed=5)
    requests = [(build_prompt(i), [" A", " B", " C", " D"]) for i in items]
    first = backend.loglikelihood(requests)
    seen: list[int] = []
    import evals.backends.hf as hf

    def counting(model, tokenizer, reqs, **kwargs):
        seen.append(len(reqs))
        return option_logliks(model, tokenizer, reqs, **kwargs)

    monkeypatch.setattr(hf, "option_logliks", counting)
    fresh = (build_prompt(make_items("medqa", 1, seed=99)[0]), [" A", " B"])
    again = backend.loglikelihood([*requests, fresh, fresh])
    assert seen == [1]  # only the new request, once
    assert again[:4] == first
    assert again[4] == again[5]
