"""The HTML report in a real browser (headless Chromium, offline): no console errors, no request
leaves the machine, and every section draws the figures and tables its inputs call for."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from data_core.config import load_params, parse_section
from data_core.paths import stage_paths
from evals import report
from evals.config import ReportConfig, located
from jinja2 import Environment, PackageLoader

from tests.evals.chromium import Chromium, PageLoad, find_chromium

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = find_chromium()
NO_CHROMIUM = (
    "Chromium not found (chromium, chromium-browser or google-chrome on PATH, or $CHROMIUM); "
    "`apt-get install chromium` installs it, as .ci/run does where it can"
)
STALE = "reports/report.html does not match its inputs and template: rerun `dvc repro report`"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    chromium = Chromium(CHROMIUM, tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


def template_sections() -> list[str]:
    """The report's own section list: the <h2 id=...> headings of its template, in order."""
    env = Environment(loader=PackageLoader("evals", "templates"))
    source = env.loader.get_source(env, "report.html.j2")[0]
    return re.findall(r'<h2 id="([\w-]+)"', source)


def histories_from_csv(path: Path):
    """training_histories' answer as the report wrote it to plots/training_curves.csv."""

    def read(root: Path, stages: list[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                points = out.setdefault(row["stage"], {}).setdefault(row["metric"], [])
                points.append((int(row["step"]), float(row["value"])))
        return out

    return read


def expected_layout(ctx: dict) -> dict[str, tuple[int, list[int | None]]]:
    """Per section: how many figures the context calls for, and each table's data rows
    (None: any number, at least one)."""
    rew, dig = ctx["reward"], ctx["digests"]
    # per benchmark, then per screening stage and kind (when the file has `stages`)
    contamination = [len(ctx["contamination"])] + (
        [len(ctx["screening"])] if ctx["screening"] else []
    )
    return {
        "recipe": (0, [len(ctx["recipe"])]),
        "leaderboard": (
            0,
            [len(ctx["leaderboard"])] + ([len(ctx["comparisons"])] if ctx["comparisons"] else []),
        ),
        "stages": (1 if ctx["plots"].get("by_stage") else 0, []),
        # subjects: one row per subject, then macro and micro
        "subjects": (1, [len(ctx["subjects"]) + 2]) if ctx["subjects"] else (0, []),
        "rewards": (1, [len(rew["rows"]) + 1] + [None] * len(rew["rewardbench"]))
        if rew
        else (0, []),
        "funnel": (1, [len(ctx["funnel"])]) if ctx["funnel"] else (0, []),
        "training": (len(ctx["training"]), []),
        "contamination": (0, contamination) if ctx["contamination"] else (0, []),
        "digests": (0, [len(dig["files"])] + ([len(dig["lock"])] if dig["lock"] else [])),
    }


def check_page(page: PageLoad, ctx: dict, hint: str = "") -> None:
    """Everything the browser must show for this context, and nothing it must not do."""
    assert page.errors == [], f"console/network errors in the report. {hint}"
    outside = [u[:120] for u in page.requests if urlsplit(u).scheme not in ("file", "data")]
    assert outside == [], "the report must load offline (no CDN, no remote fonts)"
    expected = expected_layout(ctx)
    assert set(expected) == set(template_sections()), "a template section has no expectation here"
    wanted = [s for s in template_sections() if s != "recipe" or ctx["recipe"]]
    sections = page.layout["sections"]
    assert [s["id"] for s in sections] == wanted, hint
    for sec in sections:
        n_figures, rows = expected[sec["id"]]
        where = f"section #{sec['id']} ({sec['title']}). {hint}"
        assert len(sec["figures"]) == n_figures, where
        for fig in sec["figures"]:
            assert fig["drawn"] and fig["width"] > 0 and fig["height"] > 0, f"{fig} in {where}"
        assert len(sec["tables"]) == len(rows), where
        for table, n in zip(sec["tables"], rows, strict=True):
            assert table["rows"] == n if n is not None else table["rows"] > 0, where
            assert table["width"] > 0 and table["height"] > 0, where
        if not n_figures and not rows:  # nothing to show: the placeholder says why
            assert sec["notes"], where
    # wide tables scroll inside the page; the page itself never scrolls sideways
    assert page.layout["pageWidth"] <= page.layout["viewWidth"], hint


def _report_config(root: Path, plots_dir: Path) -> ReportConfig:
    params = load_params(REPO / "params.yaml")
    cfg = located(parse_section(params, "report", ReportConfig), stage_paths(params, root))
    return cfg.model_copy(update={"plots_dir": str(plots_dir)})


def test_the_pipeline_report_renders_offline(browser, tmp_path, monkeypatch):
    """The repo's reports/report.html when it exists, else one rendered here from the committed
    metrics; expectations come from the same inputs through the report's own context code."""
    curves = REPO / "plots/training_curves.csv"
    if curves.exists():  # what the report drew, without opening MLflow
        monkeypatch.setattr(report, "training_histories", histories_from_csv(curves))
    real = REPO / "reports/report.html"
    if real.exists():
        root, hint = REPO, STALE
        # plots go to tmp: the test must not rewrite the repo's plots/*.csv
        ctx = report.build_context(_report_config(REPO, tmp_path / "plots"), REPO)
    else:
        if not (REPO / "metrics/eval.json").exists():
            pytest.skip("neither reports/report.html nor metrics/eval.json in the repo")
        root, hint = tmp_path / "repo", "rendered from the committed metrics"
        cfg = _report_config(root, root / "plots")
        for rel in [
            "params.yaml",
            "dvc.lock",
            cfg.eval_metrics,
            cfg.diagnosis_metrics,
            cfg.reward_metrics,
            *cfg.funnel_metrics,
        ]:
            if (REPO / rel).exists():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(REPO / rel, root / rel)
        ctx = report.write_report(cfg, root)
    assert ctx["leaderboard"] and ctx["plots"]["by_stage"], "the pipeline's report has models"
    page = browser.load((root / "reports/report.html").as_uri())
    check_page(page, ctx, hint)
    models = json.loads((root / ctx["eval_metrics_path"]).read_text())["models"]
    leaderboard = next(s for s in page.layout["sections"] if s["id"] == "leaderboard")
    assert leaderboard["tables"][0]["rows"] == len(models)


def test_a_report_with_missing_inputs_shows_its_placeholders(browser, tmp_path, monkeypatch):
    """Only evaluation metrics: every other section renders its note, nothing breaks."""
    monkeypatch.setattr(report, "training_histories", lambda root, stages: {})
    cell = {"acc": 0.3, "acc_low": 0.2, "acc_high": 0.4, "n": 40}
    ev = {
        "models": {"base": {"medqa": cell}, "sft": {"medqa": {**cell, "acc": 0.35}}},
        "tasks": {"medqa": {"items": 40, "scorer": "loglik", "num_fewshot": 0, "task": "medqa"}},
    }
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/eval.json").write_text(json.dumps(ev))
    cfg = ReportConfig(plots_dir=str(tmp_path / "plots"))
    ctx = report.write_report(cfg, tmp_path)
    page = browser.load((tmp_path / cfg.html).as_uri())
    check_page(page, ctx)
    notes = {s["id"]: s["notes"] for s in page.layout["sections"]}
    assert "recipe" not in notes
    for section in ("subjects", "rewards", "funnel", "training", "contamination"):
        assert notes[section], section


def test_the_checks_catch_a_cdn_script_a_script_error_and_a_broken_image(browser, tmp_path):
    """The harness is not blind: what the report must never do shows up in the page's record."""
    page_file = tmp_path / "bad.html"
    page_file.write_text(
        '<!doctype html><html><body><h2 id="plot">plot</h2>'
        '<script src="https://cdn.plot.ly/plotly-2.35.2.min.js"></script>'
        '<div id="fig" class="js-plotly-plot"></div>'
        '<script>Plotly.newPlot("fig", [])</script>'
        '<img alt="missing" src="missing.png"></body></html>'
    )
    page = browser.load(page_file.as_uri())
    assert "https://cdn.plot.ly/plotly-2.35.2.min.js" in page.requests
    assert any("ERR_INTERNET_DISCONNECTED" in e for e in page.errors)  # offline: the CDN fails
    assert any("Plotly is not defined" in e for e in page.errors)
    assert any("missing.png" in e for e in page.errors)
    (sec,) = page.layout["sections"]
    assert [(f["kind"], f["drawn"]) for f in sec["figures"]] == [("plotly", False), ("img", False)]


def test_the_template_loads_nothing_from_a_url():
    """Without a browser too: figures are embedded (PNG data: URIs), no script, style or font
    comes from a CDN."""
    env = Environment(loader=PackageLoader("evals", "templates"))
    source = env.loader.get_source(env, "report.html.j2")[0]
    assert re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//[^"' >]*""", source) == []
    assert re.findall(r"@import|url\(", source) == []
