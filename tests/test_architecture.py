"""The tree's shape: packages import downward only, modules and stage scripts stay small."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# bottom first: a package may import only the packages of the layers below its own
LAYERS = [{"data_core"}, {"generation"}, {"synth", "trainers"}, {"evals"}, {"rewards"}]
LAYER_OF = {name: i for i, layer in enumerate(LAYERS) for name in layer}
MAX_MODULE_LINES = 300
MAX_STAGE_LINES = 50


def _package_dirs() -> dict[str, Path]:
    return {p.name: p for p in ROOT.glob("packages/*/src/*") if p.is_dir() and p.name in LAYER_OF}


def _imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LAYER_OF)


@pytest.mark.parametrize("package", sorted(LAYER_OF))
def test_packages_import_downward_only(package):
    source = _package_dirs().get(package)
    if source is None:
        pytest.skip(f"package {package} not in this tree")
    for path in sorted(source.rglob("*.py")):
        upward = {
            name for name in _imported_packages(path) if LAYER_OF[name] >= LAYER_OF[package]
        } - {package}
        assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)} (same or higher)"


def test_modules_and_stage_scripts_stay_small():
    too_long = []
    for source in _package_dirs().values():
        for path in source.rglob("*.py"):
            if len(path.read_text().splitlines()) > MAX_MODULE_LINES:
                too_long.append(path.relative_to(ROOT))
    for path in (ROOT / "stages").glob("*.py"):
        if len(path.read_text().splitlines()) > MAX_STAGE_LINES:
            too_long.append(path.relative_to(ROOT))
    assert not too_long, f"split these by concern: {sorted(map(str, too_long))}"
