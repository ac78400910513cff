"""Search files for a secret: raw bytes plus the encodings a key can hide in on disk.

Parquet pages are zstd-compressed and gzip/zip members are deflated, so a raw byte search would
miss a key stored inside them: those files are also searched decoded. Base64 is searched at all
three alignments (a key embedded in a larger base64 blob), URL- and UTF-16-encoded forms too.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

# What a credential looks like when we do not know its value (OpenAI/Anthropic, HF, bearer).
KEY_SHAPES = re.compile(
    rb"\b(?:sk-[A-Za-z0-9_\-]{20,}|hf_[A-Za-z0-9]{30,}|Bearer\s+[A-Za-z0-9_\-.=]{16,})"
)
SECRET_VARS = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.I)


def variants(secret: str) -> dict[str, bytes]:
    """The secret as it would appear in a file, per encoding."""
    raw = secret.encode()
    out = {
        "raw": raw,
        "url": quote(secret, safe="").encode(),
        "url_plus": quote_plus(secret).encode(),
        "utf16": secret.encode("utf-16-le"),
    }
    for shift in range(3):
        # the middle of base64(prefix + secret): unaffected by what surrounds the secret
        encoded = base64.b64encode(b"\0" * shift + raw + b"\0\0\0")
        out[f"base64_{shift}"] = encoded[4 : 4 * ((shift + len(raw)) // 3)]
        out[f"base64url_{shift}"] = out[f"base64_{shift}"].replace(b"+", b"-").replace(b"/", b"_")
    return {name: value for name, value in out.items() if len(value) >= 16}


def decoded_views(path: Path, data: bytes) -> Iterator[tuple[str, bytes]]:
    """(view name, bytes): the file itself, then what compression hides inside it."""
    yield "bytes", data
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        text = json.dumps(table.to_pylist(), default=str, ensure_ascii=False)
        yield "parquet", text.encode() + str(table.schema.metadata).encode()
    elif data[:2] == b"\x1f\x8b":
        yield "gzip", gzip.decompress(data)
    elif zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                yield f"zip:{name}", archive.read(name)


@dataclass
class Scan:
    """What a search covered and what it found: (file, view, variant) per hit."""

    files: int = 0
    bytes: int = 0
    hits: list[tuple[str, str, str]] = field(default_factory=list)


def scan(paths: Iterable[Path], secrets: Iterable[str]) -> Scan:
    """Search every file (directories recursively) for every variant of every secret."""
    needles = [(name, value) for s in secrets for name, value in variants(s).items()]
    result = Scan()
    for path in _files(paths):
        data = path.read_bytes()
        result.files += 1
        for view, content in decoded_views(path, data):
            result.bytes += len(content)
            result.hits += [(str(path), view, n) for n, value in needles if value in content]
    return result


def key_shaped(paths: Iterable[Path]) -> list[tuple[str, str]]:
    """(file, match) for anything in the files that looks like a credential."""
    hits = []
    for path in _files(paths):
        for view, content in decoded_views(path, path.read_bytes()):
            hits += [(f"{path} ({view})", m.decode()) for m in KEY_SHAPES.findall(content)]
    return hits


def env_secrets(environ: dict[str, str]) -> list[str]:
    """Values of the environment's credential-named variables (long enough to be keys)."""
    return [v for k, v in environ.items() if SECRET_VARS.search(k) and len(v) >= 12]


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
        elif path.is_file():
            yield path
