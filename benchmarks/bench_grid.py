"""Grid wall-clock, end to end: `study.run.runner.run_grid` (train, probe, evaluate, store) on a
preset.

Default: the 135-run `alpha-window-negative` preset (5 α × 3 windows × 3 negatives × 3 seeds,
torch, 5 epochs, on its default corpus) — the GPU target is ≤ 10 minutes with evaluation.
`--quick` runs a CPU-sized subset: α 0.5 and 1.0 × window 5 × negative 10, seed 0, 1 epoch.
Window 5 and K 10 sit near the full grid's mean cost (windows 2, 5, 10; negatives 5, 10, 15),
so the full grid's cost is *projected* from the subset: (mean per-run overhead + mean training
seconds per epoch × the preset's epochs) × the preset's runs. A projection, not a measurement:
it assumes cost linear in epochs and the (5, 10) cell's cost equal to the grid's mean.

    python benchmarks/bench_grid.py [--quick] [--preset alpha-window-negative]
        [--set key=value ...] [--store DIR] [--out PATH]

The runs go to a fresh temporary result store unless `--store` names one (an existing store's
finished runs would be skipped and not timed). Writes results/bench/grid_<device>.json
(grid_quick_<device>.json with --quick).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from typing import Any

import _common

from study.core.config import parse_assignments
from study.evaluate.benchmarks import shown_metrics
from study.run.grid import PRESETS, GridSpec
from study.run.runner import run_grid
from study.store.results import ResultStore

QUICK_AXES: dict[str, list[Any]] = {"alpha": [0.5, 1.0], "window": [5], "negative": [10]}
QUICK_SEEDS = [0]
QUALITY = tuple(shown_metrics())  # the headline metric of every shown benchmark


def quick_spec(spec: GridSpec) -> GridSpec:
    return replace(spec, axes=QUICK_AXES, seeds=QUICK_SEEDS, fixed={**spec.fixed, "epochs": 1})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="alpha-window-negative", choices=sorted(PRESETS))
    parser.add_argument("--quick", action="store_true", help="a CPU-sized subset + projection")
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="fixed config values, e.g. device=cuda corpus=text8",
    )
    parser.add_argument("--store", default=None, help="result store dir (default: a temp dir)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    full = PRESETS[args.preset]
    fixed = parse_assignments(args.set)
    full = replace(full, fixed={**full.fixed, **fixed})
    spec = quick_spec(full) if args.quick else full
    spec = replace(spec, fixed={**spec.fixed, **fixed})  # --set wins over the quick epochs too
    cells = spec.cells()
    device = _common.resolve_device(str(cells[0].device))
    name = "grid_quick" if args.quick else "grid"
    config = {"preset": args.preset, "quick": args.quick, "set": fixed, "grid": spec.to_dict()}
    report = _common.report_header(name, device, config)
    print(
        f"{len(cells)} runs ({args.preset}{', quick subset' if args.quick else ''}) on "
        f"{device}; load {_common.load_average()}"
    )

    with tempfile.TemporaryDirectory(prefix="bench_grid_") as tmp:
        store = ResultStore(args.store or tmp)
        _common.synchronize(device)
        start = time.perf_counter()
        counts = run_grid(
            cells, store, overwrite=args.store is not None, progress=sys.stderr.isatty()
        )
        _common.synchronize(device)
        wall = time.perf_counter() - start
        runs = [store.read_metrics(c.run_id) or {} for c in cells]

    done = [r for r in runs if r.get("status") == "done"]
    train = [r["train_seconds"] for r in done]
    per_run = [r["seconds"] for r in done]
    figures: dict[str, Any] = {
        "runs": len(cells),
        "counts": counts,
        "wall_seconds": wall,
        "seconds_per_run": wall / len(cells),
        "run_seconds_mean": statistics.mean(per_run) if per_run else None,
        "train_seconds_mean": statistics.mean(train) if train else None,
        "words_per_sec_mean": statistics.mean(r["words_per_sec"] for r in done) if done else None,
        # Everything but training: probe, evaluation, writing vectors (corpus load in run 1).
        "overhead_seconds_mean": statistics.mean(s - t for s, t in zip(per_run, train, strict=True))
        if done
        else None,
        "quality_mean": {
            k: statistics.mean(r["metrics"][k] for r in done) if done else None for k in QUALITY
        },
    }
    if args.quick and done:
        full_cells = len(full.cells())
        epochs = int(full.cells()[0].epochs)
        quick_epochs = int(cells[0].epochs)
        per_full_run = figures["overhead_seconds_mean"] + (
            figures["train_seconds_mean"] / quick_epochs * epochs
        )
        figures["projection"] = {
            "label": "PROJECTION, not measured: (mean overhead + mean train seconds per epoch "
            f"× {epochs} epochs) × {full_cells} runs, from the quick subset's cells",
            "full_grid_runs": full_cells,
            "full_grid_epochs": epochs,
            "seconds_per_full_run": per_full_run,
            "full_grid_seconds": per_full_run * full_cells,
            "naive_seconds_per_quick_run_x_runs": figures["seconds_per_run"] * full_cells,
        }
    report["figures"] = figures
    print(
        f"{len(cells)} runs in {wall:.1f} s ({figures['seconds_per_run']:.1f} s/run; "
        f"train {figures['train_seconds_mean']:.1f} s/run); counts {counts}"
    )
    if "projection" in figures:
        p = figures["projection"]
        print(
            f"projected full grid ({p['full_grid_runs']} runs × {p['full_grid_epochs']} epochs):"
            f" {p['full_grid_seconds'] / 60:.1f} min (a projection, not a measurement)"
        )
    _common.write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
