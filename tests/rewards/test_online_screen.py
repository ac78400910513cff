"""Online DPO screens every round's responses against the benchmarks before the reward model sees
them: a response that copies a benchmark question is in no DPO pair, it is a row of the stage's
removal table, and the counts survive a resumed run (they live in the round's marker)."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter

import pytest
from data_core.config import DecontaminateConfig
from data_core.schemas import EvalItem, Instruction, Message
from data_core.screen import Screen, read_removals
from generation import Generation, Generator
from rewards import online
from rewards.online import OnlineInputs, run_online, train_online
from rewards.online_config import OnlineDpoConfig
from rewards.online_pairs import PromptSamples, make_pairs, prompt_pool
from rewards.online_screen import OnlineResponse, screen_round
from trainers.lifecycle import TrainingJob, TrainingResult

from tests.trainers.conftest import instructions, preferences

ITEM = EvalItem(
    id="medqa:42",
    task="medqa",
    question="A 7-year-old boy has recurrent nosebleeds, telangiectasias of the lips and tongue, "
    "and a father with the same findings. Which gene is most likely mutated in this family?",
    options={"A": "ENG", "B": "FBN1", "C": "COL3A1"},
    answer="A",
)
COPY = "Let me recall the question: " + ITEM.full_text
CFG = OnlineDpoConfig(
    iterations=1, prompts_per_iteration=6, samples=3, verified_sample=None, device="cpu", seed=0
)


def group(i: int, texts: list[str]) -> PromptSamples:
    record = Instruction(
        id=f"t:{i}", source="t", type="open", messages=[Message(role="user", content="Q?")]
    )
    return PromptSamples(record, [{"role": "user", "content": "Q?"}], texts, [], [5] * len(texts))


def test_matched_responses_leave_before_pairing():
    screen = Screen([ITEM], DecontaminateConfig(), "online_dpo")
    groups = [
        group(0, ["ENG, HHT type 1.", COPY, "FBN1."]),
        group(1, [COPY, "ENG."]),  # one clean response left: no pair possible
        group(2, ["ENG.", "COL3A1.", "FBN1."]),
    ]
    out = screen_round(groups, screen, 3)
    assert out.screened == 8 and out.dropped == Counter(contaminated=1)
    assert [(g.record.id, g.texts, g.tokens) for g in out.groups] == [
        ("t:0", ["ENG, HHT type 1.", "FBN1."], [5, 5]),
        ("t:2", ["ENG.", "COL3A1.", "FBN1."], [5, 5, 5]),
    ]
    rows = [(r.id, r.stage, r.kind, r.matched_id, r.matched_task) for r in out.removed]
    assert rows == [
        ("t:0@round3/1", "online_dpo", "online_response", "medqa:42", "medqa"),
        ("t:1@round3/0", "online_dpo", "online_response", "medqa:42", "medqa"),
    ]
    for g in out.groups:
        g.rewards = [float(len(t)) for t in g.texts]
    rows, _, _ = make_pairs(out.groups, 0.0, 0.0)
    assert rows and all(ITEM.question[:60] not in str(row) for row in rows)
    assert screen_round(groups, None, 3).groups == groups  # no screen: nothing changes


class Planting(Generator):
    """Sample 1 of every prompt, and every sample but 0 of the first prompt, copy the item."""

    kind = "fake"

    def generate(self, requests):
        first = requests[0].messages[-1]["content"]
        out = []
        for r in requests:
            prompt = r.messages[-1]["content"]
            planted = r.sample == 1 or (prompt == first and r.sample > 0)
            text = COPY if planted else f"Answer {r.sample}: {prompt[-30:]}"
            out.append(Generation(text=text, completion_tokens=len(text.split())))
        return out


class Refusing(Generator):
    kind = "fake"

    def generate(self, requests):
        raise AssertionError("a finished round must not sample again")


class HashReward:
    def rewards(self, prompts, responses):
        return [int(hashlib.md5(r.encode()).hexdigest()[:6], 16) / 16**6 for r in responses]


@pytest.fixture
def trained_rows(monkeypatch):
    """DPO replaced by a recorder: the rows each round would train on; the policy is copied."""
    seen: list[list[dict]] = []

    def fake_dpo(loss, policy, tokenizer, rows, eval_rows, cfg, job, reference=None):
        seen.append(rows)
        shutil.copytree(policy, job.out_dir)
        return TrainingResult({"global_step": 1, "train_loss": 0.5})

    monkeypatch.setattr(online, "train_preference", fake_dpo)
    return seen


def test_the_loop_trains_on_no_copy_and_writes_the_table(tmp_path, trained_rows):
    start = tmp_path / "start"
    start.mkdir()
    (start / "config.json").write_text("{}")
    pool = prompt_pool(instructions(48), preferences(48), "fixture")
    screen = Screen([ITEM], DecontaminateConfig(), "online_dpo")
    job = TrainingJob(tmp_path, tmp_path / "out", tmp_path / "ckpt", {"recipe": "v1"})
    table = tmp_path / "online_removed.parquet"
    inputs = OnlineInputs(pool, start, HashReward(), lambda p: Planting("p"), screen, table)
    run_online(CFG, job, None, inputs)  # the round finishes and leaves its marker
    (rows,) = trained_rows
    assert rows and not any(ITEM.question[:60] in str(row) for row in rows)
    # a re-run reads the finished round back: its screen rows come from the marker
    inputs = OnlineInputs(pool, start, HashReward(), lambda p: Refusing("r"), screen, table)
    result = train_online(CFG, job, None, inputs, [], None)
    assert len(trained_rows) == 1
    assert result.metrics["contamination"] == {
        "online_response": {"screened": 18, "removed": {"ngram_overlap": 7}, "kept": 11}
    }
    assert result.metrics["round_1.dropped_contaminated"] == 1
    # the first prompt's one clean response is not scored: it cannot make a pair alone
    assert result.metrics["round_1.prompts"] == 6 and result.metrics["round_1.responses"] == 10
    assert result.metrics["round_1.pairs_kept"] + result.metrics["round_1.pairs_dropped"] == 6
    removed = read_removals(table)
    assert len(removed) == 7 and {r.matched_id for r in removed} == {"medqa:42"}
    assert {r.stage for r in removed} == {"online_dpo"}
    assert {OnlineResponse.model_validate_json(r.record).text for r in removed} == {COPY}
    assert not (tmp_path / "ckpt").exists() and (tmp_path / "out" / "config.json").is_file()


def test_without_a_screen_nothing_is_reported(tmp_path, trained_rows):
    start = tmp_path / "start"
    start.mkdir()
    pool = prompt_pool(instructions(48), preferences(48), "fixture")
    job = TrainingJob(tmp_path, tmp_path / "out", tmp_path / "ckpt", {"recipe": "v1"})
    inputs = OnlineInputs(pool, start, HashReward(), lambda p: Planting("p"))
    result = train_online(CFG, job, None, inputs, [], None)
    assert "contamination" not in result.metrics
    assert result.metrics["round_1.dropped_contaminated"] == 0
    assert any(ITEM.question[:60] in str(row) for row in trained_rows[0])  # what a screen stops
