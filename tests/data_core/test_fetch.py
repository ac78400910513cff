"""fetch: mirror copies and opted-in downloads, each verified by sha256, never a partial file."""

import contextlib
import hashlib
import http.server
import importlib.util
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from data_core.config import FetchConfig, load_params, parse_section
from data_core.errors import ConfigError
from data_core.fetch import (
    DOWNLOAD_ENV,
    MIRROR_ENV,
    ChecksumError,
    FetchError,
    download_enabled,
    fetch_files,
    sha256_file,
)

ROOT = Path(__file__).resolve().parents[2]

GOOD = b'{"question": "Which vitamin deficiency causes scurvy?", "answer_idx": "C"}\n' * 4000
OTHER = b'{"id": "textbook,1", "content": "The liver is the largest internal organ."}\n' * 50


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Server:
    """127.0.0.1 HTTP server: /good, /other, /corrupt (wrong bytes), /drop (closes the
    connection halfway through the body for the first `drops` requests), /flaky (503 first)."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.drops = 1
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                name = self.path.strip("/")
                server.hits[name] += 1
                if name == "flaky" and server.hits[name] == 1:
                    self.send_error(503)
                    return
                body = {"good": GOOD, "drop": GOOD, "flaky": GOOD, "other": OTHER}.get(name)
                if name == "corrupt":
                    body = GOOD.replace(b"scurvy", b"rickets")
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if name == "drop" and server.hits[name] <= server.drops:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> "_Server":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with _Server() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch):
    monkeypatch.delenv(DOWNLOAD_ENV, raising=False)
    monkeypatch.delenv(MIRROR_ENV, raising=False)


def _cfg(files: list[dict], **kw) -> FetchConfig:
    base = {"mirror": None, "download": True, "attempts": 3, "retry_wait": 0, "timeout": 10}
    return FetchConfig.model_validate({**base, **kw, "files": files})


def _leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.rglob("*") if p.is_file()) if dest.exists() else []


def test_download_writes_verified_files_at_their_relative_paths(tmp_path, server):
    files = [
        {"path": "benchmarks/x/test.jsonl", "url": f"{server.url}/good", "sha256": _sha(GOOD)},
        {"path": "samples/paragraphs.json", "url": f"{server.url}/other", "sha256": _sha(OTHER)},
    ]
    report = fetch_files(_cfg(files), tmp_path / "raw", tmp_path)
    assert (tmp_path / "raw/benchmarks/x/test.jsonl").read_bytes() == GOOD
    assert (tmp_path / "raw/samples/paragraphs.json").read_bytes() == OTHER
    assert report.downloaded == ["benchmarks/x/test.jsonl", "samples/paragraphs.json"]
    assert report.bytes == len(GOOD) + len(OTHER)


def test_corrupted_download_names_file_and_both_digests_and_leaves_nothing(tmp_path, server):
    files = [{"path": "b/test.jsonl", "url": f"{server.url}/corrupt", "sha256": _sha(GOOD)}]
    with pytest.raises(ChecksumError) as err:
        fetch_files(_cfg(files), tmp_path / "raw", tmp_path)
    message = str(err.value)
    assert "b/test.jsonl" in message
    assert _sha(GOOD) in message
    assert _sha(GOOD.replace(b"scurvy", b"rickets")) in message
    assert _leftovers(tmp_path / "raw") == []
    assert server.hits["corrupt"] == 1  # a wrong digest is not transient: no retry


def test_connection_dropped_mid_body_is_retried_then_succeeds(tmp_path, server):
    server.drops = 1
    files = [{"path": "b/test.jsonl", "url": f"{server.url}/drop", "sha256": _sha(GOOD)}]
    report = fetch_files(_cfg(files), tmp_path / "raw", tmp_path)
    assert server.hits["drop"] == 2
    assert (tmp_path / "raw/b/test.jsonl").read_bytes() == GOOD
    assert report.downloaded == ["b/test.jsonl"]
    assert _leftovers(tmp_path / "raw") == ["test.jsonl"]  # no temp file beside it


def test_connection_dropped_every_time_fails_cleanly_without_a_partial_file(tmp_path, server):
    server.drops = 99
    files = [{"path": "b/test.jsonl", "url": f"{server.url}/drop", "sha256": _sha(GOOD)}]
    with pytest.raises(FetchError, match=r"b/test\.jsonl: download from .*/drop failed") as err:
        fetch_files(_cfg(files, attempts=3), tmp_path / "raw", tmp_path)
    assert "closed after" in str(err.value)
    assert server.hits["drop"] == 3
    assert _leftovers(tmp_path / "raw") == []


def test_server_error_is_retried_but_not_found_is_not(tmp_path, server):
    files = [{"path": "a.json", "url": f"{server.url}/flaky", "sha256": _sha(GOOD)}]
    fetch_files(_cfg(files), tmp_path / "raw", tmp_path)
    assert server.hits["flaky"] == 2
    files = [{"path": "b.json", "url": f"{server.url}/missing", "sha256": _sha(GOOD)}]
    with pytest.raises(FetchError, match="404"):
        fetch_files(_cfg(files), tmp_path / "raw", tmp_path)
    assert server.hits["missing"] == 1
    assert _leftovers(tmp_path / "raw") == ["a.json"]


def test_without_mirror_or_opt_in_one_error_lists_every_file_and_both_remedies(tmp_path, server):
    files = [
        {"path": "b/one.jsonl", "url": f"{server.url}/good", "sha256": _sha(GOOD)},
        {"path": "b/two.json", "url": f"{server.url}/other", "sha256": _sha(OTHER)},
        {"path": "c/mirror_only.json", "url": None, "sha256": _sha(OTHER)},
    ]
    cfg = _cfg(files, download=False, mirror=str(tmp_path / "absent"))
    with pytest.raises(FetchError) as err:
        fetch_files(cfg, tmp_path / "raw", tmp_path)
    message = str(err.value)
    for path in ("b/one.jsonl", "b/two.json", "c/mirror_only.json"):
        assert path in message
    assert "only a mirror can provide it" in message
    assert "fetch.mirror" in message and "does not exist" in message
    assert "fetch.download: true" in message and f"{DOWNLOAD_ENV}=1" in message
    assert sum(server.hits.values()) == 0  # nothing reached the network
    assert _leftovers(tmp_path / "raw") == []


def test_a_file_without_url_needs_a_mirror_even_with_downloads_on(tmp_path, server):
    files = [
        {"path": "b/one.jsonl", "url": f"{server.url}/good", "sha256": _sha(GOOD)},
        {"path": "c/mirror_only.json", "url": None, "sha256": _sha(OTHER)},
    ]
    with pytest.raises(FetchError, match=r"c/mirror_only\.json") as err:
        fetch_files(_cfg(files), tmp_path / "raw", tmp_path)
    assert "b/one.jsonl" not in str(err.value)
    assert sum(server.hits.values()) == 0  # all or nothing: the downloadable file waited too


def test_environment_overrides_the_params_opt_in(tmp_path, server, monkeypatch):
    files = [{"path": "a.json", "url": f"{server.url}/good", "sha256": _sha(GOOD)}]
    monkeypatch.setenv(DOWNLOAD_ENV, "1")
    assert download_enabled(_cfg(files, download=False))
    fetch_files(_cfg(files, download=False), tmp_path / "on", tmp_path)
    assert (tmp_path / "on/a.json").read_bytes() == GOOD
    monkeypatch.setenv(DOWNLOAD_ENV, "0")
    with pytest.raises(FetchError, match="downloads are off"):
        fetch_files(_cfg(files, download=True), tmp_path / "off", tmp_path)
    monkeypatch.setenv(DOWNLOAD_ENV, "maybe")
    with pytest.raises(ConfigError, match=DOWNLOAD_ENV):
        download_enabled(_cfg(files))


def test_mirror_is_preferred_and_a_corrupt_mirror_file_is_an_error(tmp_path, server):
    mirror = tmp_path / "mirror"
    (mirror / "b").mkdir(parents=True)
    (mirror / "b/test.jsonl").write_bytes(GOOD)
    files = [{"path": "b/test.jsonl", "url": f"{server.url}/good", "sha256": _sha(GOOD)}]
    report = fetch_files(_cfg(files, mirror=str(mirror)), tmp_path / "raw", tmp_path)
    assert report.copied == ["b/test.jsonl"] and sum(server.hits.values()) == 0
    assert (tmp_path / "raw/b/test.jsonl").stat().st_ino != (mirror / "b/test.jsonl").stat().st_ino
    (mirror / "b/test.jsonl").write_bytes(GOOD[:-1])
    with pytest.raises(ChecksumError, match="mirror file") as err:
        fetch_files(_cfg(files, mirror=str(mirror)), tmp_path / "raw2", tmp_path)
    assert _sha(GOOD[:-1]) in str(err.value) and _sha(GOOD) in str(err.value)
    assert _leftovers(tmp_path / "raw2") == []


def test_environment_points_at_a_mirror_elsewhere(tmp_path, server, monkeypatch):
    """A mirror outside the checkout, named in the environment: params.yaml stays untouched."""
    mirror = tmp_path / "elsewhere"
    (mirror / "b").mkdir(parents=True)
    (mirror / "b/test.jsonl").write_bytes(GOOD)
    files = [{"path": "b/test.jsonl", "url": f"{server.url}/good", "sha256": _sha(GOOD)}]
    cfg = _cfg(files, mirror=str(tmp_path / "absent"), download=False)
    monkeypatch.setenv(MIRROR_ENV, str(mirror))
    report = fetch_files(cfg, tmp_path / "raw", tmp_path)
    assert report.copied == ["b/test.jsonl"] and sum(server.hits.values()) == 0
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path / "gone"))
    with pytest.raises(FetchError, match=f"{MIRROR_ENV} .*gone.* does not exist"):
        fetch_files(cfg, tmp_path / "raw2", tmp_path)


def test_second_run_with_valid_files_copies_and_downloads_nothing(tmp_path, server):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "m.json").write_bytes(OTHER)
    files = [
        {"path": "d/g.jsonl", "url": f"{server.url}/good", "sha256": _sha(GOOD)},
        {"path": "m.json", "url": None, "sha256": _sha(OTHER)},
    ]
    cfg = _cfg(files, mirror=str(mirror))
    fetch_files(cfg, tmp_path / "raw", tmp_path)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "raw").rglob("*") if p.is_file()}
    report = fetch_files(cfg, tmp_path / "raw", tmp_path)
    assert report.present == ["d/g.jsonl", "m.json"]
    assert report.copied == [] and report.downloaded == [] and report.bytes == 0
    assert server.hits["good"] == 1
    assert {p: p.stat().st_mtime_ns for p in before} == before
    # a damaged file in place is replaced, not trusted
    (tmp_path / "raw/m.json").write_bytes(b"damaged")
    assert fetch_files(cfg, tmp_path / "raw", tmp_path).copied == ["m.json"]
    assert sha256_file(tmp_path / "raw/m.json") == _sha(OTHER)


def test_mirror_of_the_real_files_provides_every_params_entry(tmp_path, shared_data):
    cfg = parse_section(load_params(ROOT / "params.yaml"), "fetch", FetchConfig)
    cfg = cfg.model_copy(update={"mirror": str(shared_data), "download": False})
    report = fetch_files(cfg, tmp_path / "raw", tmp_path)
    assert sorted(report.copied) == sorted(f.path for f in cfg.files)
    for spec in cfg.files:
        assert sha256_file(tmp_path / "raw" / spec.path) == spec.sha256
    # every benchmark and training source ingest reads comes from fetch's outputs
    ingest = load_params(ROOT / "params.yaml")["ingest"]
    fetched = {f"data/raw/{f.path}" for f in cfg.files}
    for entry in [*ingest["sources"], *ingest["eval_sets"]]:
        assert entry["path"] in fetched, entry["name"]


@pytest.mark.parametrize(
    "entry",
    [
        {"path": "../escape.json", "sha256": "0" * 64},
        {"path": "/abs.json", "sha256": "0" * 64},
        {"path": "a.json", "sha256": "ABC"},
        {"path": "a.json", "sha256": "0" * 64, "url": "ftp://host/a.json"},
    ],
)
def test_bad_file_entries_are_config_errors_naming_the_key(entry):
    with pytest.raises(ConfigError, match=r"fetch\.files\[0\]\.(path|sha256|url)"):
        parse_section({"fetch": {"files": [entry]}}, "fetch", FetchConfig)


def test_stage_reports_missing_files_as_one_error_without_traceback(tmp_path, monkeypatch, capsys):
    (tmp_path / "params.yaml").write_text(
        "paths:\n  raw: data/raw\n"
        "fetch:\n  mirror: no-such-folder\n  download: false\n  files:\n"
        f"    - path: b/test.jsonl\n      url: http://127.0.0.1:9/x\n      sha256: {_sha(GOOD)}\n"
    )
    spec = importlib.util.spec_from_file_location("fetch_stage", ROOT / "stages/fetch.py")
    stage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage)
    # the MLflow run is not what is tested here (creating its sqlite store takes ~25 s)
    monkeypatch.setattr(stage, "stage_run", lambda *a, **k: contextlib.nullcontext(None))
    monkeypatch.setattr(sys, "argv", ["fetch.py", "--root", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        stage.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "error: fetch: 1 of the files" in err and "b/test.jsonl" in err
    assert "Traceback" not in err
