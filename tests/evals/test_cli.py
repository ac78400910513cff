"""ultramedical-eval: the evaluate stage's runner behind one command, on a tiny model."""

import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import ClassVar

import polars as pl
import pytest
import yaml
from data_core.io import frame_to_records
from data_core.schemas import EvalItem
from evals.cli import build_parser, main
from evals.runner import evaluate

from tests.evals.fixtures_tasks import evaluate_config, with_tasks

SCRIPT = Path(sys.executable).parent / "ultramedical-eval"
BOOTSTRAP = {"resamples": 200, "seed": 0}


def _project(root: Path) -> Path:
    """A project root: the repository's task declarations over the fixture's item files."""
    params = with_tasks(
        {
            "evaluate": {
                "models": [{"name": "stage", "path": "models/stage"}],
                "tasks": [{"name": "medqa"}],
                "bootstrap": BOOTSTRAP,
            }
        }
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return root


def _medqa_items(root: Path) -> list[EvalItem]:
    frame = pl.read_parquet(root / "data/interim/eval_items.parquet")
    return frame_to_records(frame.filter(pl.col("task") == "medqa"), EvalItem)


def _jsonl(path: Path, items: list[EvalItem]) -> Path:
    """The items as a user's own EvalItem JSONL (no `task` field: the file is the task)."""
    lines = [json.dumps(i.model_dump(exclude={"task"})) for i in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_end_to_end_equals_the_runner(eval_files, tiny_model, tmp_path, capsys):
    root = _project(eval_files)
    mine = _jsonl(tmp_path / "my_questions.jsonl", _medqa_items(root))
    out = tmp_path / "out"
    code, printed, err = _cli(
        capsys,
        "--model",
        tiny_model,
        "--tasks",
        f"medqa,mmlu_medical,hpo_definition,{mine}",
        "--project",
        root,
        "--output",
        out,
        "--cache-dir",
        tmp_path / "cache",
    )
    assert code == 0, err
    # the runner itself on the same model, tasks and prompt settings
    cfg = evaluate_config(
        {
            "evaluate": {
                "models": [{"name": "ref", "path": str(tiny_model), "chat_template": "auto"}],
                "tasks": [{"name": "medqa"}, {"name": "mmlu_medical"}, {"name": "hpo_definition"}],
                "bootstrap": BOOTSTRAP,
                "cache_dir": None,
                "predictions_dir": str(tmp_path / "ref"),
            }
        }
    )
    ref = evaluate(cfg, root)
    metrics = json.loads((out / "metrics.json").read_text())
    name = Path(tiny_model).name
    for task in ("medqa", "mmlu_medical", "hpo_definition"):
        got = pl.read_parquet(out / f"{name}__{task}.parquet")
        want = pl.read_parquet(ref.predictions[f"ref__{task}"])
        assert got["id"].to_list() == want["id"].to_list()
        assert got["prediction"].to_list() == want["prediction"].to_list()
        assert got["logliks"].to_list() == want["logliks"].to_list()
        expected = ref.metrics["models"]["ref"][task]
        assert metrics["tasks"][task]["acc"] == expected["acc"]
        assert metrics["tasks"][task]["acc_low"] == expected["acc_low"]
    # the user's file holds medqa's items: same prompts, same predictions
    own = pl.read_parquet(out / f"{name}__my_questions.parquet")
    medqa = pl.read_parquet(ref.predictions["ref__medqa"])
    assert own["prediction"].to_list() == medqa["prediction"].to_list()
    assert (
        metrics["tasks"]["mmlu_medical"]["macro"]
        == ref.metrics["models"]["ref"]["mmlu_medical"]["macro"]
    )
    for shown in ("medqa", "my_questions", "anatomy", "macro average", "95% CI"):
        assert shown in printed


def test_limit_takes_the_first_items_and_the_cache_is_shared_not_pruned(
    eval_files, tiny_model, tmp_path, capsys
):
    root = _project(eval_files)
    items = _medqa_items(root)
    mine = _jsonl(tmp_path / "mine.jsonl", items)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "other__unit__0123.parquet").write_bytes(b"a unit of another run")
    args = ["--model", tiny_model, "--tasks", mine, "--project", root, "--cache-dir", cache]
    for run in range(2):
        out = tmp_path / f"out{run}"
        code, _, err = _cli(capsys, *args, "--limit", 7, "--output", out)
        assert code == 0, err
        got = pl.read_parquet(out / f"{Path(tiny_model).name}__mine.parquet")
        assert got["id"].to_list() == [i.id for i in items[:7]]
        hits = json.loads((out / "metrics.json").read_text())["cache"]["hits"]
        assert hits == run  # the second run reads the first one's unit
    assert (cache / "other__unit__0123.parquet").exists()


def test_a_stage_unit_is_reused_by_the_command(eval_files, tiny_model, tmp_path, capsys):
    root = _project(eval_files)
    cache = tmp_path / "cache"
    stage = evaluate_config(
        {
            "evaluate": {
                "models": [{"name": "tiny", "path": str(tiny_model), "chat_template": "never"}],
                "tasks": [{"name": "medqa", "models": ["tiny"]}],
                "bootstrap": BOOTSTRAP,
                "cache_dir": str(cache),
                "predictions_dir": str(tmp_path / "stage"),
            }
        }
    )
    evaluate(stage, root)
    out = tmp_path / "out"
    code, _, err = _cli(
        capsys,
        "--model",
        tiny_model,
        "--name",
        "tiny",
        "--chat-template",
        "never",
        "--tasks",
        "medqa",
        "--project",
        root,
        "--output",
        out,
        "--cache-dir",
        cache,
    )
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["cache"] == {
        "hits": 1,
        "misses": 0,
        "pruned": 0,
    }


def test_benchmark_file_in_a_reader_format(eval_files, tiny_model, tmp_path, capsys):
    rows = [
        {
            "question": f"Which organ {k}?",
            "options": {"A": "heart", "B": "liver"},
            "answer_idx": "AB"[k % 2],
            "realidx": str(k),
        }
        for k in range(6)
    ]
    path = tmp_path / "dev.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code, printed, err = _cli(
        capsys,
        "--model",
        tiny_model,
        "--tasks",
        f"organs=medqa:{path}",
        "--project",
        _project(eval_files),
        "--output",
        out,
        "--no-cache",
    )
    assert code == 0, err
    got = pl.read_parquet(out / f"{Path(tiny_model).name}__organs.parquet")
    assert got["id"].to_list() == [f"organs:{k}" for k in range(6)]
    assert got["gold"].to_list() == ["A", "B"] * 3
    assert "organs" in printed


def test_declared_benchmark_not_yet_ingested_is_read_like_ingest(
    eval_files, tiny_model, tmp_path, capsys
):
    from tests.evals.fixtures_tasks import PARAMS

    rows = [
        {
            "question": f"Which organ {k}?",
            "options": {"A": "heart", "B": "liver"},
            "answer_idx": "AB"[k % 2] if k != 3 else "Z",
            "realidx": str(k),
        }
        for k in range(6)
    ]
    (eval_files / "organs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    declared = {"name": "organs", "format": "medqa", "path": "organs.jsonl", "scorer": "loglik"}
    params = with_tasks(
        {
            "ingest": {"eval_sets": [*PARAMS["ingest"]["eval_sets"], declared]},
            "evaluate": {"models": [{"name": "m", "path": "m"}], "tasks": [{"name": "organs"}]},
        }
    )
    (eval_files / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    out = tmp_path / "out"
    code, _, err = _cli(
        capsys,
        "--model",
        tiny_model,
        "--tasks",
        "organs",
        "--project",
        eval_files,
        "--output",
        out,
        "--no-cache",
    )
    assert code == 0, err
    got = pl.read_parquet(out / f"{Path(tiny_model).name}__organs.parquet")
    # the row whose answer is not an option is quarantined, as ingest quarantines it
    assert got["id"].to_list() == ["organs:0", "organs:1", "organs:2", "organs:4", "organs:5"]


def test_outside_a_project_a_file_task_runs_with_its_own_cache(
    eval_files, tiny_model, tmp_path_factory, capsys, monkeypatch
):
    away = tmp_path_factory.mktemp("elsewhere")  # not below the fixture's project
    mine = _jsonl(away / "mine.jsonl", _medqa_items(_project(eval_files))[:4])
    monkeypatch.chdir(away)  # no params.yaml here or above: only file tasks exist
    code, _, err = _cli(capsys, "--model", tiny_model, "--tasks", f"{mine},medqa")
    assert code == 2
    _one_line_error(err, "unknown task 'medqa'", "no params.yaml found")
    code, _, err = _cli(capsys, "--model", tiny_model, "--tasks", mine)
    assert code == 0, err
    out = away / "eval_results" / Path(tiny_model).name
    assert pl.read_parquet(out / f"{Path(tiny_model).name}__mine.parquet").height == 4
    assert len(list((out / "cache").glob("*.parquet"))) == 1


class _ChatServer(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible chat server on localhost: always answers B, records what it got."""

    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, self.headers.get("Authorization")))
        answer = {"role": "assistant", "content": "The answer is B"}
        reply = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": answer}],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args) -> None:  # quiet test output
        pass


def test_openai_endpoint_key_from_the_named_variable_never_written(
    eval_files, tmp_path, capsys, monkeypatch
):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ChatServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("EVAL_CLI_TEST_KEY", "sk-do-not-log")
    items = _medqa_items(_project(eval_files))[:5]
    out = tmp_path / "out"
    try:
        code, printed, err = _cli(
            capsys,
            "--model",
            f"http://127.0.0.1:{server.server_port}/v1",
            "--model-id",
            "served/llama",
            "--api-key-env",
            "EVAL_CLI_TEST_KEY",
            "--scorer",
            "generate",
            "--tasks",
            _jsonl(tmp_path / "five.jsonl", items),
            "--project",
            eval_files,
            "--output",
            out,
            "--cache-dir",
            tmp_path / "cache",
        )
    finally:
        server.shutdown()
    assert code == 0, err
    got = pl.read_parquet(out / "served_llama__five.parquet")
    assert got["prediction"].to_list() == ["B"] * 5
    assert got["correct"].to_list() == [i.answer == "B" for i in items]
    assert {auth for _, auth in _ChatServer.seen} == {"Bearer sk-do-not-log"}
    written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*.json"))
    assert "EVAL_CLI_TEST_KEY" in written and "sk-do-not-log" not in written
    assert "sk-do-not-log" not in printed + err
    for unit in (tmp_path / "cache").glob("*.parquet"):
        assert b"sk-do-not-log" not in unit.read_bytes()


def test_help_lists_every_flag(capsys):
    code, printed, _ = _cli(capsys, "--help")
    assert code == 0
    flags = [s for a in build_parser()._actions for s in a.option_strings if s.startswith("--")]
    missing = [f for f in flags if f not in printed]
    assert not missing
    for flag in (
        "--model",
        "--tasks",
        "--scorer",
        "--num-fewshot",
        "--limit",
        "--backend",
        "--output",
        "--chat-template",
        "--max-length",
        "--batch-tokens",
        "--seed",
        "--cache-dir",
        "--no-cache",
        "--api-key-env",
    ):
        assert flag in flags


def _one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ultramedical-eval: error:")
    for needle in needles:
        assert needle in lines[0]


def test_unknown_task_lists_the_known_ones(eval_files, tiny_model, capsys):
    code, _, err = _cli(
        capsys, "--model", tiny_model, "--tasks", "medqa,nosuch", "--project", _project(eval_files)
    )
    assert code == 2
    _one_line_error(err, "unknown task 'nosuch'", "medqa", "mmlu_medical", "hpo_diagnosis")


def test_missing_model_and_bad_records_are_one_line(eval_files, tiny_model, tmp_path, capsys):
    root = _project(eval_files)
    code, _, err = _cli(
        capsys, "--model", tmp_path / "absent", "--tasks", "medqa", "--project", root
    )
    assert code == 2
    _one_line_error(err, "absent", "no such model directory")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"id": "x:1", "question": "q?", "options": {"A": "a", "B": "b"}, "answer": "A"})
        + "\n"
        + json.dumps(
            {"id": "x:2", "question": "q?", "options": {"A": "a", "B": "b"}, "answer": "C"}
        )
        + "\n",
        encoding="utf-8",
    )
    code, _, err = _cli(capsys, "--model", tiny_model, "--tasks", bad, "--project", root)
    assert code == 2
    _one_line_error(err, f"{bad}:2", "answer")
    code, _, err = _cli(capsys, "--model", "http://localhost:9/v1", "--tasks", "medqa")
    assert code == 2
    _one_line_error(err, "--model-id")


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed (run `uv sync`)")
@pytest.mark.parametrize(
    "args, needle",
    [
        (["--model", "m", "--tasks", "medqa", "--no-such-flag"], "unrecognized arguments"),
        (["--model", "m", "--tasks", "medqa", "--limit", "0"], "--limit"),
        (["--model", "m", "--tasks", "medqa", "--scorer", "magic"], "--scorer"),
        (["--tasks", "medqa"], "--model"),
    ],
)
def test_bad_flags_exit_2_in_one_line(args, needle, tmp_path):
    done = subprocess.run([SCRIPT, *args], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    _one_line_error(done.stderr, needle)
