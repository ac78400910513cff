#!/usr/bin/env bash
# On the lent GPU machine (or any host without uv): install the wheels pack.sh built, only those
# whose distribution this Python lacks (nothing installed is replaced; no index is reached), then
# run the benchmark with the arguments given.
#   bash benchmarks/gpu/run_on_device.sh --out "$OUT/results.json" --quick
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WHEELS="${WHEELS:-$ROOT/benchmarks/gpu/wheels}"
PY="${PYTHON:-python3}"
cd "$ROOT"
if [[ -d "$WHEELS" ]]; then
  missing="$("$PY" - "$WHEELS" <<'PYEOF'
import importlib.metadata as md
import pathlib
import re
import sys

names = sorted(
    {re.sub(r"[-_.]+", "-", w.name.split("-")[0]).lower() for w in pathlib.Path(sys.argv[1]).glob("*.whl")}
)
absent = []
for name in names:
    try:
        md.version(name)
    except md.PackageNotFoundError:
        absent.append(name)
print(" ".join(absent))
PYEOF
)"
  if [[ -n "$missing" ]]; then
    echo "run_on_device: installing $missing" >&2
    # PEP 668 images refuse installs into the system Python without this
    PIP_BREAK_SYSTEM_PACKAGES=1 "$PY" -m pip install -q --no-deps --no-index \
      --find-links "$WHEELS" $missing
  fi
else
  echo "run_on_device: no $WHEELS (run benchmarks/gpu/pack.sh here first); using what is installed" >&2
fi
"$PY" -m pip check >&2 || echo "run_on_device: pip check reports the conflicts above" >&2
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
exec "$PY" benchmarks/gpu/run.py "$@"
