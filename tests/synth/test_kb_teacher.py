"""The kb teacher: determinism, error rate, distractor validity, held-out separation."""

import hashlib
import json
import random
from pathlib import Path

from generation import Request
from synth.evolve import evolve
from synth.judge import verify
from synth.kb_teacher import KB_TEACHER_REVISION, KbTeacher, option_scores, teacher_answer
from synth.questions import diagnosis_item
from synth.sample import prompt_messages
from synth.score import score
from synth.synthesize import synthesize_kb

SNAPSHOT = "55120cbad06c2a48"  # teacher answers on the toy knowledge base, revision 2


def _requests(records, sample=0):
    return [
        Request(prompt_messages(r), seed=7, sample=sample, context=dict(r.meta)) for r in records
    ]


def test_teacher_is_deterministic_given_seed_and_sample(toy_kb, small_config):
    cfg = small_config()
    records, _, _ = synthesize_kb(toy_kb, cfg)
    a = KbTeacher(toy_kb, error_rate=0.3).generate(_requests(records))
    b = KbTeacher(toy_kb, error_rate=0.3).generate(_requests(records))
    assert [g.text for g in a] == [g.text for g in b]
    other = KbTeacher(toy_kb, error_rate=0.3).generate(_requests(records, sample=1))
    assert [g.text for g in a] != [g.text for g in other]  # another sample draws differently


def test_synthesis_is_deterministic_and_covers_every_kind(toy_kb, small_config):
    first, evals1, counts = synthesize_kb(toy_kb, small_config())
    second, evals2, _ = synthesize_kb(toy_kb, small_config())
    assert [r.model_dump() for r in first] == [r.model_dump() for r in second]
    assert evals1 == evals2
    assert set(counts["by_kind"]) == {"definition", "diagnosis", "phenotype", "hierarchy"}
    assert len({r.id for r in first}) == len(first)


def test_error_rate_controls_wrong_answers(toy_kb, small_config):
    records, _, _ = synthesize_kb(toy_kb, small_config())
    mc = [r for r in records if r.type == "mc"]
    for rate, low, high in ((0.0, 1.0, 1.0), (0.45, 0.35, 0.75)):
        gens = KbTeacher(toy_kb, error_rate=rate).generate(_requests(mc))
        correct = sum(verify(r, g.text, 0.8) for r, g in zip(mc, gens, strict=True)) / len(mc)
        assert low <= correct <= high, (rate, correct)


def test_option_first_answers_open_with_the_option_they_choose(toy_kb, small_config):
    records, _, _ = synthesize_kb(toy_kb, small_config())
    mc = [r for r in records if r.type == "mc"]
    letter = KbTeacher(toy_kb, error_rate=0.3).generate(_requests(mc))
    first = KbTeacher(toy_kb, error_rate=0.3, answer_style="option_first").generate(_requests(mc))
    assert all(g.text.startswith("The answer is ") for g in letter)
    right = 0
    for record, g in zip(mc, first, strict=True):
        text, rest = g.text.split(". The answer is ", 1)
        assert record.options[rest[0]] == text  # the name first, then the letter it belongs to
        right += verify(record, g.text, 0.8)
    assert 0.5 < right / len(mc) < 1.0  # the letter still verifies; noisy answers stay wrong


def test_diagnosis_distractors_are_valid(toy_kb):
    rng = random.Random(3)
    made = 0
    for disease_id in sorted(toy_kb.diseases)[:40]:
        item = diagnosis_item(toy_kb, disease_id, rng, 4, 4)
        if item is None:
            continue
        made += 1
        meta = item["meta"]
        findings = set(meta["findings"])
        others = [o for o in meta["option_ids"].values() if o != disease_id]
        assert len(set(meta["option_ids"].values())) == 4 and len(others) == 3
        assert meta["option_ids"][item["answer"]] == disease_id
        assert findings <= toy_kb.diseases[disease_id].phenotype_ids
        for other in others:
            shared = (
                toy_kb.diseases[other].phenotype_ids & toy_kb.diseases[disease_id].phenotype_ids
            )
            assert shared, "a distractor must share phenotypes with the answer"
            assert not findings <= toy_kb.diseases[other].phenotype_ids
            assert not toy_kb.is_heldout(other)
        scores = option_scores(toy_kb, meta)
        assert max(scores, key=scores.get) == item["answer"]
        assert sorted(scores.values())[-2] < scores[item["answer"]]  # a unique best option
    assert made >= 20


def test_heldout_ids_never_feed_training(toy_kb, small_config):
    cfg = small_config()
    records, evals, _ = synthesize_kb(toy_kb, cfg)
    evolved, _ = evolve(records, cfg, toy_kb)
    kept, _ = score(evolved, cfg.score, toy_kb)
    tasks = {"hpo_diagnosis", "hpo_diagnosis_heldout", "hpo_diagnosis_dev", "hpo_definition"}
    assert evals and {e.task for e in evals} == tasks
    assert all(toy_kb.is_heldout(e.meta["subject"]) for e in evals)
    assert all(len(e.options) == 4 for e in evals)
    assert not any(toy_kb.is_heldout(r.meta["subject"]) for r in kept)
    # disease questions are about the domain's training part, with training-part options only
    diseases = [r for r in kept if r.meta["kind"] in ("diagnosis", "phenotype")]
    assert diseases and all(toy_kb.domain[r.meta["subject"]] == "train" for r in diseases)
    for r in kept:
        if r.meta["kind"] == "diagnosis":
            assert {toy_kb.domain.get(o) for o in r.meta["option_ids"].values()} == {"train"}
    # the variants: all options of one part (held-out / dev); the main task's gold is held out
    for e in evals:
        parts = {toy_kb.domain.get(o) for o in e.meta.get("option_ids", {}).values()}
        if e.task == "hpo_diagnosis_heldout":
            assert parts == {"heldout"}
        elif e.task == "hpo_diagnosis_dev":
            assert parts == {"dev"}
        elif e.task == "hpo_diagnosis":
            assert toy_kb.domain[e.meta["subject"]] == "heldout"
    children = [r for r in evolved if r.meta.get("parent")]
    assert children and all(r.id.startswith(r.meta["parent"] + "~") for r in children)
    assert all(r.difficulty is not None and 1 <= r.difficulty <= 10 for r in kept)


def test_heldout_definitions_never_appear_in_training_text(toy_kb, small_config):
    cfg = small_config()
    records, _, _ = synthesize_kb(toy_kb, cfg)
    evolved, _ = evolve(records, cfg, toy_kb)
    noisy = KbTeacher(toy_kb, error_rate=1.0, detail_rate=1.0).generate(_requests(evolved))
    texts = [m.content for r in evolved for m in r.messages] + [g.text for g in noisy]
    corpus = "\n".join(texts)
    heldout = [
        t.definition for t in toy_kb.terms.values() if t.definition and toy_kb.is_heldout(t.id)
    ]
    assert heldout
    assert not [d for d in heldout if d in corpus]


SCRIPT = """
import hashlib, json, sys
from pathlib import Path
from generation import Request
from synth.kb_teacher import KbTeacher
from synth.config import SynthConfig
from synth.evolve import evolve
from synth.knowledge_base import load_kb
from synth.sample import prompt_messages
from synth.synthesize import synthesize_kb
from tests.fixtures.toy_hpo import TOY_DOMAIN
kb = load_kb(Path(sys.argv[1]), Path(sys.argv[2]), TOY_DOMAIN, 3)
cfg = SynthConfig.model_validate(json.loads(sys.argv[3]))
records, evals, _ = synthesize_kb(kb, cfg)
evolved, _ = evolve(records, cfg, kb)
gens = KbTeacher(kb, 0.45).generate([Request(prompt_messages(r), seed=1, context=dict(r.meta))
                                     for r in evolved])
blob = json.dumps([r.model_dump() for r in [*evolved, *evals]] + [g.text for g in gens])
print(hashlib.md5(blob.encode()).hexdigest())
"""


def test_bit_for_bit_across_processes_and_hash_seeds(toy_hpo, small_config):
    import os
    import subprocess
    import sys

    raw = small_config().model_dump(mode="json")
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "TQDM_DISABLE": "1"}
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, *map(str, toy_hpo), json.dumps(raw)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        digests.add(done.stdout.strip())
    assert len(digests) == 1


def test_teacher_answers_match_their_revision_snapshot(toy_kb, small_config):
    """What the teacher answers is pinned: a change here needs a new KB_TEACHER_REVISION.

    The revision is part of the teacher's name, so of every cache key and sampling seed; a change
    of behaviour under the old revision would answer new requests from stale cache rows.
    """
    records, _, _ = synthesize_kb(toy_kb, small_config())
    answers = []
    for i, record in enumerate(r for r in records if r.type == "mc"):
        for style in ("letter", "findings_first"):
            rng = random.Random(i)
            answers.append(teacher_answer(toy_kb, dict(record.meta), rng, 0.3, i % 2 == 0, style))
    digest = hashlib.sha256("\n".join(answers).encode()).hexdigest()[:16]
    assert digest == SNAPSHOT, (
        f"the kb teacher's answers changed (digest {digest}): if intended, bump "
        f"KB_TEACHER_REVISION (it was {KB_TEACHER_REVISION}) and update SNAPSHOT"
    )
