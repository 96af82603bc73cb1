#!/usr/bin/env bash
# The GPU figures, in parts that fit the device machine's calls (10 minutes a call, 15 in all).
# Every call pays the setup (wheels where missing, encoding the corpus, compiling the kernels in
# the background); each part is then time-boxed, so a slow part cannot starve the
# rest, and writes results/bench/gpu-<part>.json as it goes (copied to $OUT, the device tool's
# folder, after every part).
#
#   benchmarks/gpu_check.sh [--dry-run] [--commit SHA] [PART ...]
#
# Parts (time box in seconds; sizes in benchmarks/bench_gpu.py's docstring):
#   tests 60  kernels 90  throughput 100  tune 150  sweep 60   boxes 460 s: one call with setup
#   grid 510     the 135-run grid + report, dim 100, 5 epochs: a call of its own
#   quality 480  Triton per centre/pair vs gensim, 5 seeds, study compare: a call of its own
#   levy 510     --preset levy2015 at dim 500 (54 runs; where the preset exists): a call of its
#                own, and at full scale perhaps more than one (it runs what fits, says how many)
#   cpu-scaling 40
#   profile 150  Nsight Compute (ncu), where installed: the dim-100 skip-gram kernel's launches,
#                per centre and per pair, summary in gpu-ncu-*.csv
# No PART: the first call's set (tests kernels throughput tune sweep). BOX_<part>=SECONDS
# (BOX_cpu_scaling for cpu-scaling) shortens a box to what a call has left. A session with 15
# minutes of device time in all gets the first call and a shortened grid (BOX_grid), not every
# part: the grid, quality and levy parts need sessions of their own. Every box is a limit, not
# a measured duration.
#
#   benchmarks/gpu_check.sh --dry-run [PART ...]   on the CPU: Triton's interpreter, tiny sizes,
#                                                  every part by default (532 s on the 2-core VM)
#
# The commit the figures belong to goes into every JSON: from .git, else --commit SHA (or
# $W2V_COMMIT): a copy of the tree on the GPU machine has no .git.
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
PARTS=()
while (($#)); do
    case $1 in
        --dry-run) DRY=(--dry-run) ;;
        --commit) export W2V_COMMIT=${2:?--commit needs a SHA}; shift ;;
        tests | kernels | throughput | tune | sweep | grid | quality | levy | cpu-scaling | profile)
            PARTS+=("$1") ;;
        *) echo "error: unknown argument $1 (parts: tests kernels throughput tune sweep grid" \
                "quality levy cpu-scaling profile)" >&2
           exit 2 ;;
    esac
    shift
done
if ((${#PARTS[@]} == 0)); then
    if ((${#DRY[@]})); then
        PARTS=(tests kernels throughput tune sweep grid quality levy cpu-scaling)
    else
        PARTS=(tests kernels throughput tune sweep)
    fi
fi
declare -A BOX=([tests]=60 [kernels]=90 [throughput]=100 [tune]=150 [sweep]=60 [grid]=510
                [quality]=480 [levy]=510 [cpu-scaling]=40 [profile]=150)
for key in "${!BOX[@]}"; do  # BOX_<part>=SECONDS overrides a box
    override="BOX_${key//-/_}"
    if [[ -n "${!override:-}" ]]; then BOX[$key]=${!override}; fi
done

CARRY=${W2V_GPU_CARRY:-.gpu-carry}
BENCH=results/bench
mkdir -p "$BENCH"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export W2V_STUDY_DATA=${W2V_STUDY_DATA:-$CARRY/data}
export TRITON_DEFAULT_FP_FUSION=1
PY=${PYTHON:-python3}

if ! git rev-parse HEAD >/dev/null 2>&1 && [[ -z "${W2V_COMMIT:-}" ]]; then
    echo "warning: no .git and no --commit: the JSON files will record commit null"
fi
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
echo "parts: ${PARTS[*]}; corpus: $CORPUS; results: $BENCH; commit: ${W2V_COMMIT:-from .git}"

SECONDS=0
declare -A STATUS
save() {  # the JSON files so far, to the device tool's folder
    if [[ -n "${OUT:-}" ]]; then cp "$BENCH"/gpu-*.json "$BENCH"/gpu-*.md "$BENCH"/gpu-*.csv "$OUT"/ 2>/dev/null; fi
    return 0
}
part() {  # part NAME: bench_gpu.py's part, stopped after its time box
    local name=$1 budget=${BOX[$1]} start=$SECONDS
    echo "== $name (time box ${budget}s, at ${SECONDS}s)"
    timeout --kill-after=10 "$budget" "$PY" benchmarks/bench_gpu.py "$name" "${DRY[@]}" \
        --corpus "$CORPUS" --deadline $((budget - 15)) --out-dir "$BENCH"
    STATUS[$name]="rc=$? $((SECONDS - start))s"
    save
}

# Kernels compile in the background (Triton's disk cache) while the corpus is encoded.
"$PY" benchmarks/bench_gpu.py precompile "${DRY[@]}" > "$BENCH/precompile.log" 2>&1 &
PRECOMPILE=$!
# The corpus cache first, so that no part pays for reading and encoding it.
"$PY" -c "from study.data.vocab import load_corpus; c = load_corpus('$CORPUS'); print(c.name, c.n_words)"
wait $PRECOMPILE; echo "precompile rc=$? at ${SECONDS}s"; tail -5 "$BENCH/precompile.log"

profile() {  # Nsight Compute on the skip-gram kernel (4 M words of the corpus, 1 epoch)
    if ! command -v ncu >/dev/null || ((${#DRY[@]})); then
        echo "== profile: skipped (no ncu, or a dry run)"; STATUS[profile]="skipped"; return
    fi
    local start=$SECONDS draw
    for draw in center pair; do
        echo "== profile $draw (time box $((BOX[profile] / 2))s)"
        timeout --kill-after=10 $((BOX[profile] / 2)) ncu --kernel-name regex:_sg --launch-count 3 \
            --section SpeedOfLight --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis \
            --csv --page details "$PY" -c "
import sys; sys.path.insert(0, 'benchmarks'); import _common
from study.core.config import RunConfig; from study.train.trainers.torch_sgns import TorchTrainer
from study.data.vocab import load_corpus
corpus = _common.truncated(load_corpus('$CORPUS'), 4_000_000)
TorchTrainer(progress=False).fit(corpus, RunConfig(kernel='triton', device='cuda', epochs=1,
    neg_draw='$draw', probe_pairs=0))" > "$BENCH/gpu-ncu-$draw.csv"
    done
    STATUS[profile]="rc=$? $((SECONDS - start))s"
    save
}

for name in "${PARTS[@]}"; do
    if [[ $name == profile ]]; then
        profile
    elif [[ $name == tests ]]; then
        echo "== tests: pytest -m gpu (time box ${BOX[tests]}s)"
        start=$SECONDS
        W2V_GPU_REPORT="$BENCH/gpu-tests.json" timeout --kill-after=10 "${BOX[tests]}" \
            "$PY" -m pytest -m gpu -q -p no:cacheprovider tests/test_triton_gpu.py tests/test_torch_trainer.py
        STATUS[tests]="rc=$? $((SECONDS - start))s"
        save
    else
        part "$name"
    fi
done

echo "== done in ${SECONDS}s"
for name in "${PARTS[@]}"; do echo "$name: ${STATUS[$name]:-not run}"; done
ls -la "$BENCH"/gpu-*.json 2>/dev/null
