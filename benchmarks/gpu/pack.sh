#!/usr/bin/env bash
# Build the wheels the lent GPU machine lacks (issue 20: torch, transformers, accelerate, peft,
# safetensors, tokenizers, pyarrow and pandas are there; nothing can be downloaded there; at most
# 64 MiB travels with a command) into benchmarks/gpu/wheels/, at the versions uv.lock pins.
#   bash benchmarks/gpu/pack.sh            # then: run_on_device.sh installs what is missing
# Compiled wheels are fetched for CPython 3.11 and 3.12 (PYVERS="3.12": one, when it is known).
#   BUNDLE=train PYVERS=3.12 bash benchmarks/gpu/pack.sh   # a smaller bundle (see README)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="${WHEELS:-$ROOT/benchmarks/gpu/wheels}"
LIMIT_MIB="${LIMIT_MIB:-60}"  # leaves room in the 64 MiB for the working tree and the tokenizer
rm -rf "$OUT" && mkdir -p "$OUT"
cd "$ROOT"

# the project's packages the benchmark imports (synth and rewards it does not)
for pkg in data-core generation trainers evals; do
  uv build -q --package "$pkg" --wheel -o "$OUT"
done

# third-party, by bundle (BUNDLE=all|train|eval): what the training parts need (TRL, datasets,
# pydantic for data_core's schemas, and polars: trainers -> data_core.io imports it at module
# level; its runtime wheel alone is ~51 MiB) and what lm-evaluation-harness's HF path imports
TRAIN=(
  trl datasets dill multiprocess xxhash fsspec polars polars-runtime-32
  pydantic pydantic-core annotated-types typing-inspection
)
EVAL=(
  datasets dill multiprocess xxhash fsspec pydantic pydantic-core annotated-types typing-inspection
  lm-eval evaluate sacrebleu portalocker tabulate colorama lxml sqlitedict word2number
  more-itertools pytablewriter dataproperty mbstrdecoder pathvalidate tabledata typepy chardet
  requests urllib3 charset-normalizer six
)
case "${BUNDLE:-all}" in
  train) NAMES=("${TRAIN[@]}") ;;
  eval) NAMES=("${EVAL[@]}") ;;
  all) NAMES=("${TRAIN[@]}" "${EVAL[@]}") ;;
  *) echo "pack.sh: BUNDLE must be all, train or eval" >&2; exit 2 ;;
esac
PINS="$(uv export --frozen --no-hashes --all-groups --no-emit-workspace | sed 's/ ;.*//')"
SPECS=()
for name in $(printf '%s\n' "${NAMES[@]}" | sort -u); do
  pin="$(grep -i -m1 "^${name}==" <<<"$PINS" || true)"
  [[ -n "$pin" ]] || { echo "pack.sh: $name is not in uv.lock" >&2; exit 1; }
  SPECS+=("$pin")
done
BINARY=() SOURCE=()
for spec in "${SPECS[@]}"; do  # these two publish only an sdist: built here (pure Python)
  case "${spec%%==*}" in sqlitedict|word2number) SOURCE+=("$spec") ;; *) BINARY+=("$spec") ;; esac
done
PIP=(uv run -q --no-project --with pip python -m pip)
export PIP_FIND_LINKS=""  # this machine's local mirrors, not needed for pinned downloads
for py in ${PYVERS:-3.11 3.12}; do
  "${PIP[@]}" download -q --no-deps --only-binary=:all: --implementation cp --python-version "$py" \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$OUT" "${BINARY[@]}"
done
(( ${#SOURCE[@]} == 0 )) || "${PIP[@]}" wheel -q --no-deps -w "$OUT" "${SOURCE[@]}"

ls -l "$OUT" | awk 'NR > 1 {printf "%9.2f MiB  %s\n", $5 / 1048576, $9}' | sort -k3
total=$(du -sb "$OUT" | cut -f1)
printf 'total: %.1f MiB in %s (limit %s MiB)\n' "$(echo "$total / 1048576" | bc -l)" "$OUT" "$LIMIT_MIB"
if (( total > LIMIT_MIB * 1048576 )); then
  echo "pack.sh: over $LIMIT_MIB MiB: pack BUNDLE=train or BUNDLE=eval, PYVERS=<one>" >&2
  exit 1
fi
