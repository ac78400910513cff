"""The held-out design on the real build: the real ontology, the real params, the real synth stages.

The reported held-out tasks are valid only if their diseases are exactly the knowledge split's
held-out part and no text a model is trained on is about one of them.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from data_core.config import load_params
from data_core.io import read_records, write_records
from data_core.knowledge import domain_parts, parse_domain, read_knowledge
from data_core.paths import stage_paths
from data_core.schemas import EvalItem, Instruction, Message, Passage, Preference

REPO = Path(__file__).resolve().parents[2]
STAGES = ["ingest", "synthesize", "evolve", "score", "sample", "judge", "build"]


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real params (the knowledge split included) on the real ontology, kb teachers only."""
    root = tmp_path_factory.mktemp("build")
    params = load_params(REPO / "params.yaml")
    params["ingest"] |= {"sources": [], "eval_sets": []}  # the ontology is the knowledge source
    panel = params["synth"]["sample"]["panel"]
    params["synth"]["sample"]["panel"] = [m for m in panel if m["backend"].startswith("kb")]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    paths = stage_paths(params, root)
    manual = Instruction(
        id="manual:1",
        source="manual",
        type="open",
        split="train",
        messages=[Message(role="user", content="Hi?"), Message(role="assistant", content="Hi.")],
    )
    write_records(paths["clean.instructions"], [manual], Instruction)
    write_records(paths["clean.passages"], [], Passage)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}
    env["TQDM_DISABLE"] = "1"
    for stage in STAGES:
        script = [sys.executable, str(REPO / f"stages/{stage}.py"), "--root", str(root)]
        done = subprocess.run(script, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{stage}: {done.stderr[-3000:]}"
    return root


@pytest.mark.slow
def test_eval_diseases_are_exactly_the_splits_and_no_training_text_is_about_them(build):
    params = load_params(build / "params.yaml")
    paths = stage_paths(params, build)
    diseases = read_knowledge(paths["interim.hpo_diseases"])
    parts = domain_parts(diseases, parse_domain(params))
    names = dict(zip(diseases["id"], diseases["name"], strict=True))
    part_ids = {p: {d for d, q in parts.items() if q == p} for p in ("train", "dev", "heldout")}

    items = read_records(paths["synth.heldout_eval"], EvalItem)
    gold = {}
    for task in ("hpo_diagnosis", "hpo_diagnosis_heldout", "hpo_diagnosis_dev"):
        asked = [e for e in items if e.task == task]
        assert asked, task
        gold[task] = {e.meta["option_ids"][e.answer] for e in asked}
    # every held-out (dev) disease with enough distinct findings for a vignette, nothing else
    minimum = params["synth"]["synthesize"]["min_phenotypes"]
    askable = {
        d
        for d, phenos in zip(diseases["id"], diseases["phenotypes"], strict=True)
        if len({p["hpo_id"] for p in phenos if p["aspect"] == "P"}) >= minimum
    }
    assert gold["hpo_diagnosis"] == part_ids["heldout"] & askable
    assert gold["hpo_diagnosis_heldout"] <= part_ids["heldout"]
    assert gold["hpo_diagnosis_dev"] <= part_ids["dev"] & askable

    # Instructions (synthesized, evolved, scored, the SFT set): subject and options train-part only.
    unseen = part_ids["heldout"] | part_ids["dev"]
    for name in ("synth.instructions", "synth.evolved", "synth.scored", "sets.sft"):
        for record in read_records(paths[name], Instruction):
            about = {record.meta.get("subject"), *(record.meta.get("option_ids") or {}).values()}
            assert not about & unseen, (name, record.id, about & unseen)

    # Responses (SFT targets, chosen and rejected) never name an unseen disease. A name that is
    # also in a train disease's name ("X syndrome" in "X syndrome 2") or a finding's (the disease
    # "Calvarial hyperostosis" and the HPO term of that name) can't be told apart, so isn't checked.
    sft = read_records(paths["sets.sft"], Instruction)
    prefs = read_records(paths["sets.preferences"], Preference)
    assert sft and prefs
    responses = [r.messages[-1].content for r in sft]
    responses += [m.content for p in prefs for m in [*p.chosen, *p.rejected]]
    text = "\n".join(responses)
    terms = read_knowledge(paths["interim.hpo_terms"])["name"].to_list()
    train_names = "\n".join([*(names[d] for d in part_ids["train"]), *terms])
    checked = 0
    for disease in sorted(unseen):
        pattern = rf"(?<!\w){re.escape(names[disease])}(?!\w)"
        if re.search(pattern, train_names):
            continue
        checked += 1
        assert not re.search(pattern, text), (disease, names[disease])
    assert checked >= 0.9 * len(unseen)
