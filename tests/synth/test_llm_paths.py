"""The LLM code paths of synthesize / evolve / score, with a scripted backend standing in."""

import json

from data_core.schemas import Passage
from generation import Generation, Generator
from synth.evolve import evolve
from synth.score import score
from synth.synthesize import parse_generated, synthesize_kb, synthesize_llm

QUESTION = {
    "question": "Which vitamin deficiency causes scurvy?",
    "options": {"A": "Vitamin C", "B": "Vitamin D", "C": "Vitamin K", "D": "Niacin"},
    "answer": "A",
    "explanation": "Ascorbate is needed for collagen synthesis.",
}


class Scripted(Generator):
    """Replies from a list in turn, cycling."""

    kind = "scripted"

    def __init__(self, replies):
        super().__init__("scripted")
        self.replies, self.seen = replies, []

    def generate(self, requests):
        self.seen += [r.messages[-1]["content"] for r in requests]
        return [Generation(self.replies[i % len(self.replies)]) for i in range(len(requests))]


def test_parse_generated_accepts_fenced_json_and_rejects_bad_items():
    assert parse_generated("```json\n" + json.dumps(QUESTION) + "\n```")["answer"] == "A"
    for bad in (
        "no json here",
        '{"question": "q", "options": {"A": "x"}, "answer": "A"}',
        json.dumps({**QUESTION, "answer": "F"}),
    ):
        try:
            parse_generated(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")


def test_llm_synthesis_from_text_seeds(small_config):
    seeds = [
        Passage(
            id=f"textbooks:{i}",
            source="textbooks",
            title="Nutrition",
            text="Scurvy results from vitamin C deficiency.",
        )
        for i in range(3)
    ]
    backend = Scripted([json.dumps(QUESTION), "Sorry, I cannot help.", json.dumps(QUESTION)])
    records, counts = synthesize_llm(backend, seeds, small_config())
    assert counts == {"instructions": 2, "seeds": 3, "rejected": {"ValueError": 1}}
    assert "Scurvy results from vitamin C deficiency." in backend.seen[0]
    assert records[0].answer == "A" and records[0].meta["subject"] == "textbooks:0"
    assert records[0].messages[-1].content.startswith("The answer is A.")


def test_llm_evolution_keeps_the_parent_and_llm_scores_filter(toy_kb, small_config):
    cfg = small_config(evolve={"fraction": 1.0})
    records, _, _ = synthesize_kb(toy_kb, cfg)
    records = records[:6]
    evolved, counts = evolve(records, cfg, toy_kb, Scripted([json.dumps(QUESTION), "garbage"]))
    children = [r for r in evolved if r.meta.get("parent")]
    assert len(children) == 3 and sum(counts["skipped"].values()) == 3
    assert all(c.id == f"{c.meta['parent']}~{c.meta['evolution']}" for c in children)
    rubric = Scripted(
        [
            "Difficulty: 7/10\nQuality: 9/10\nRationale: clear",
            "Difficulty: **3**\nQuality: 2/10\nRationale: ambiguous",
            "I refuse",
        ]
    )
    kept, metrics = score(evolved, cfg.score, toy_kb, rubric)
    assert metrics["dropped"] == {"low_quality": 3, "unparsed": 3}
    assert {r.difficulty for r in kept} == {7.0} and kept[0].meta["score_rationale"] == "clear"
