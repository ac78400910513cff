"""The fetch step: every file in params `fetch.files`, checked against its sha256, in data/raw.

Bytes come from a local mirror folder when one is configured and present, otherwise from the
file's pinned origin, but only when the user opted in to downloads (`fetch.download: true` or
ULTRAMEDICAL_DOWNLOAD=1). Either way a file is checked against its sha256 before it is renamed
into place, so the outputs are the same bytes whatever their source, and a failed or interrupted
transfer never leaves a file behind.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from tenacity import (
    RetryCallState,
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from tqdm import tqdm

from data_core.config import FetchConfig, FetchFile
from data_core.errors import ConfigError, DataCoreError
from data_core.io import atomic_path

log = logging.getLogger(__name__)

DOWNLOAD_ENV = "ULTRAMEDICAL_DOWNLOAD"  # 1/true/yes or 0/false/no: overrides fetch.download
MIRROR_ENV = "ULTRAMEDICAL_MIRROR"  # a folder: overrides fetch.mirror without editing params.yaml
_CHUNK = 1 << 20
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


class FetchError(DataCoreError):
    """Files cannot be provided (no mirror, downloads off, no origin, download failed)."""


class ChecksumError(DataCoreError):
    """Bytes arrived but are not the file params.yaml pins."""

    def __init__(self, path: str, source: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{path}: sha256 mismatch for the bytes from {source}\n"
            f"  expected {expected} (params.yaml fetch.files)\n"
            f"  got      {actual}\n"
            "The file was not written. If the origin changed on purpose, update its sha256 "
            "in params.yaml; otherwise the source is corrupt or not the pinned revision."
        )
        self.path, self.expected, self.actual = path, expected, actual


class _ShortBody(OSError):
    """The connection ended before Content-Length bytes arrived (a transient error)."""


@dataclass
class FetchReport:
    """What fetch did per file: already present and valid, copied from the mirror, downloaded."""

    present: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    bytes: int = 0  # bytes transferred this run (copied + downloaded)
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, float]:
        """Counts for MLflow (how bytes arrived depends on the machine: not a DVC metric)."""
        return {
            "files_present": len(self.present),
            "files_copied": len(self.copied),
            "files_downloaded": len(self.downloaded),
            "bytes_transferred": self.bytes,
            "seconds": round(self.seconds, 3),
        }


def download_enabled(cfg: FetchConfig, environ: Mapping[str, str] | None = None) -> bool:
    """fetch.download, unless ULTRAMEDICAL_DOWNLOAD is set (the environment wins)."""
    value = (os.environ if environ is None else environ).get(DOWNLOAD_ENV, "").strip().lower()
    if not value:
        return cfg.download
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise ConfigError(f"{DOWNLOAD_ENV}={value!r}: expected 1/true/yes or 0/false/no")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_valid(path: Path, spec: FetchFile) -> bool:
    return path.is_file() and sha256_file(path) == spec.sha256


def mirror_setting(cfg: FetchConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """fetch.mirror, unless ULTRAMEDICAL_MIRROR is set (the environment wins)."""
    value = (os.environ if environ is None else environ).get(MIRROR_ENV, "").strip()
    return value or cfg.mirror


def _mirror_dir(cfg: FetchConfig, base: Path) -> Path | None:
    setting = mirror_setting(cfg)
    if setting is None:
        return None
    mirror = Path(setting).expanduser()
    mirror = mirror if mirror.is_absolute() else base / mirror
    return mirror.resolve() if mirror.is_dir() else None


def _missing_error(
    missing: list[FetchFile], cfg: FetchConfig, mirror: Path | None, dl: bool
) -> str:
    lines = [f"fetch: {len(missing)} of the files in params.yaml fetch.files cannot be provided:"]
    for spec in missing:
        origin = spec.url or "no pinned origin: only a mirror can provide it"
        lines.append(f"  {spec.path}  ({origin})")
    setting = mirror_setting(cfg)
    source = f"{MIRROR_ENV}" if os.environ.get(MIRROR_ENV, "").strip() else "fetch.mirror"
    if setting is None:
        where = "fetch.mirror is null"
    elif mirror is None:
        where = f"{source} {setting!r} does not exist"
    else:
        where = f"{source} {setting!r} lacks them"
    state = "on, but the files above have no url" if dl else "off"
    lines += [
        f"({where}; downloads are {state}.) Provide them in one of two ways:",
        f"  1. point `fetch.mirror` in params.yaml (or {MIRROR_ENV} in the environment) at a "
        "folder holding these files at these relative paths (e.g. a copy of ../shared/data);",
        f"  2. allow downloads from the pinned origins: `fetch.download: true` in params.yaml, "
        f"or {DOWNLOAD_ENV}=1 in the environment (files without a url still need a mirror).",
        "Every file is checked against its sha256 either way.",
    ]
    return "\n".join(lines)


def _copy_verified(src: Path, target: Path, spec: FetchFile) -> int:
    """Copy (never hardlink: DVC makes cache files read-only, which would reach the mirror's
    inode) into a temp file beside the target, hashing as it goes; rename only if it matches."""
    digest, size = hashlib.sha256(), 0
    with atomic_path(target) as tmp, src.open("rb") as fin, tmp.open("wb") as fout:
        for chunk in iter(lambda: fin.read(_CHUNK), b""):
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
        if digest.hexdigest() != spec.sha256:
            raise ChecksumError(spec.path, f"mirror file {src}", spec.sha256, digest.hexdigest())
    return size


def _transient(exc: BaseException) -> bool:
    """Worth another try: dropped or refused connections, timeouts, 5xx and 429 answers."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code == 429
    # not any OSError: a full disk or a permission error would fail the same way again
    return isinstance(
        exc,
        (
            urllib.error.URLError,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
            _ShortBody,
        ),
    )


def _stream(url: str, out: BinaryIO, timeout: float, label: str) -> tuple[str, int]:
    """One try: GET url into `out` (truncated first), with a bytes/s progress bar."""
    out.seek(0)
    out.truncate()
    digest, size = hashlib.sha256(), 0
    request = urllib.request.Request(url, headers={"User-Agent": "ultramedical-fetch"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        total = resp.headers.get("Content-Length")
        expected = int(total) if total and total.isdigit() else None
        with tqdm(
            total=expected, unit="B", unit_scale=True, unit_divisor=1024, desc=label, leave=False
        ) as bar:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
                bar.update(len(chunk))
    # http.client returns a short body silently when the peer closes early
    if expected is not None and size < expected:
        raise _ShortBody(f"connection closed after {size} of {expected} bytes")
    return digest.hexdigest(), size


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("download try %d failed (%s); retrying", state.attempt_number, exc)


def _download_verified(spec: FetchFile, target: Path, cfg: FetchConfig) -> int:
    """Download into a temp file beside the target with retries; verify; rename."""
    assert spec.url is not None
    streamer = retry(
        retry=retry_if_exception(_transient),
        stop=stop_after_attempt(cfg.attempts),
        wait=wait_exponential(multiplier=cfg.retry_wait, max=60),
        before_sleep=_log_retry,
        reraise=True,
    )(_stream)
    with atomic_path(target) as tmp, tmp.open("w+b") as out:
        try:
            actual, size = streamer(spec.url, out, cfg.timeout, spec.path)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise FetchError(
                f"{spec.path}: download from {spec.url} failed after up to {cfg.attempts} "
                f"tries: {exc}. Nothing was written; run again, or use a mirror (fetch.mirror)."
            ) from exc
        if actual != spec.sha256:
            raise ChecksumError(spec.path, spec.url, spec.sha256, actual)
    return size


def fetch_files(
    cfg: FetchConfig, dest: Path, base: Path, *, download: bool | None = None
) -> FetchReport:
    """Provide every `cfg.files` entry under `dest`, verified; mirror first, then downloads.

    `base` resolves a relative mirror; `download` overrides the opt-in (default: params + env).
    Files already in place with the right digest are left alone. Nothing is fetched unless every
    missing file has a source, so the one error lists all of them.
    """
    started = time.perf_counter()
    dl = download_enabled(cfg) if download is None else download
    mirror = _mirror_dir(cfg, base)
    report = FetchReport()
    todo: list[tuple[FetchFile, Path | None]] = []  # (file, mirror copy or None: download)
    missing: list[FetchFile] = []
    for spec in cfg.files:
        target = dest / spec.path
        if _is_valid(target, spec):
            report.present.append(spec.path)
        elif mirror is not None and (mirror / spec.path).is_file():
            todo.append((spec, mirror / spec.path))
        elif dl and spec.url:
            todo.append((spec, None))
        else:
            missing.append(spec)
    if missing:
        raise FetchError(_missing_error(missing, cfg, mirror, dl))
    for spec, src in todo:
        target = dest / spec.path
        if src is not None:
            report.bytes += _copy_verified(src, target, spec)
            report.copied.append(spec.path)
        else:
            t0 = time.perf_counter()
            size = _download_verified(spec, target, cfg)
            rate = size / max(time.perf_counter() - t0, 1e-9) / 1e6
            log.info("downloaded %s: %d bytes, %.2f MB/s", spec.path, size, rate)
            report.bytes += size
            report.downloaded.append(spec.path)
    report.seconds = time.perf_counter() - started
    log.info(
        "fetch: %d present, %d copied from %s, %d downloaded (%d bytes)",
        len(report.present),
        len(report.copied),
        mirror,
        len(report.downloaded),
        report.bytes,
    )
    return report
