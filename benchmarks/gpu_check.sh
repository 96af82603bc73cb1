#!/usr/bin/env bash
# Every GPU figure in one command, sized for one 10-minute run on one H100/H200 (at most ~8.5
# minutes: 60 + 100 + 150 + 110 + 40 s of parts, plus installing wheels and encoding the corpus):
# CUDA tests, throughput vs gensim, the five-α sweep, quality over seeds, CPU scaling. Each part
# is time-boxed (a slow part cannot starve the rest) and writes results/bench/gpu-<part>.json as
# it goes; with $OUT set (the device tool), the JSON files are copied there too.
#
#   benchmarks/gpu_check.sh            # on a GPU machine
#   benchmarks/gpu_check.sh --dry-run  # on the CPU: Triton's interpreter, tiny sizes (a few minutes)
#
# Inputs, from a folder the GPU machine receives ($W2V_GPU_CARRY, default .gpu-carry/):
#   wiki8.xz        the benchmark corpus (../shared/data/wiki8.xz)
#   wheels/*.whl    gensim and optuna (and their pure deps) for machines without them, e.g.
#                   pip download --no-deps --python-version 3.12 --only-binary=:all: \
#                     --platform manylinux_2_28_x86_64 -d .gpu-carry/wheels gensim==4.4.0 \
#                     smart_open optuna alembic sqlalchemy mako colorlog greenlet
set -uo pipefail
cd "$(dirname "$0")/.."

DRY=()
[[ "${1:-}" == "--dry-run" ]] && DRY=(--dry-run)
CARRY=${W2V_GPU_CARRY:-.gpu-carry}
BENCH=results/bench
mkdir -p "$BENCH"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export W2V_STUDY_DATA=${W2V_STUDY_DATA:-$CARRY/data}
export TRITON_DEFAULT_FP_FUSION=1
PY=${PYTHON:-python3}

if ! "$PY" -c "import gensim, optuna" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps "$CARRY"/wheels/*.whl || exit 1
fi
if ((${#DRY[@]})); then
    export TRITON_INTERPRET=1
    CORPUS=enwiki-sample
    # A dry run's figures mean nothing: keep them out of the committed results.
    BENCH=$(mktemp -d)
else
    CORPUS=${W2V_GPU_CORPUS:-$CARRY/wiki8.xz}
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
echo "corpus: $CORPUS; results: $BENCH"

SECONDS=0
declare -A STATUS
part() {  # part NAME BUDGET_SECONDS: bench_gpu.py's part, stopped after BUDGET seconds
    local name=$1 budget=$2 start=$SECONDS
    echo "== $name (time box ${budget}s, at ${SECONDS}s)"
    timeout --kill-after=10 "$budget" "$PY" benchmarks/bench_gpu.py "$name" "${DRY[@]}" \
        --corpus "$CORPUS" --deadline $((budget - 15)) --out-dir "$BENCH"
    STATUS[$name]="rc=$? $((SECONDS - start))s"
}

# Kernels compile in the background (Triton's disk cache) while the corpus is encoded.
"$PY" benchmarks/bench_gpu.py precompile "${DRY[@]}" > "$BENCH/precompile.log" 2>&1 &
PRECOMPILE=$!
# The corpus cache first, so that no part pays for reading and encoding it.
"$PY" -c "from study.vocab import load_corpus; c = load_corpus('$CORPUS'); print(c.name, c.n_words)"

wait $PRECOMPILE; echo "precompile rc=$? at ${SECONDS}s"; tail -20 "$BENCH/precompile.log"
echo "== pytest -m gpu (time box 60s)"
start=$SECONDS
W2V_GPU_REPORT="$BENCH/gpu-tests.json" timeout --kill-after=10 60 \
    "$PY" -m pytest -m gpu -q -p no:cacheprovider tests/test_triton_gpu.py tests/test_torch_trainer.py
STATUS[tests]="rc=$? $((SECONDS - start))s"

part throughput 100
part sweep 150
part quality 110
part cpu-scaling 40

echo "== done in ${SECONDS}s"
for name in "${!STATUS[@]}"; do echo "$name: ${STATUS[$name]}"; done
if [[ -n "${OUT:-}" ]]; then cp "$BENCH"/gpu-*.json "$OUT"/ 2>/dev/null || true; fi
ls -la "$BENCH"/gpu-*.json 2>/dev/null
