"""The report's tables: the analysis and inference tables of a study, formatted for reading."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from study.analyze.analysis import EdgeWarning, cell_fields, fmt_value, swept_fields
from study.analyze.inference import TrainerPair, describe
from study.analyze.report.findings import TIE_LIST, Findings
from study.core.trainers import BASELINE
from study.evaluate.stats import ITEMS_ONLY, Estimate, format_interval
from study.store.results import STATUS_DONE, RunRecord


def fmt_number(value: Any, digits: int = 3) -> str:
    """A float to `digits` decimals; None and NaN as "–"."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Config values as written in a grid (0.75, 1e-05), not padded to 3 decimals."""
    return frame.apply(lambda column: column.map(fmt_value)) if not frame.empty else frame.copy()


def best_configs(findings: Findings, runs: pd.DataFrame) -> pd.DataFrame:
    """Per trainer and metric: the best cell with its interval, and the cells not
    significantly worse than it (multiple comparisons with the best)."""
    rows = []
    for best in findings.best:
        ties = [describe(v.cell) + (" (untested)" if v in best.untested else "")
                for v in best.ties]  # fmt: skip
        listed = "; ".join(ties[:TIE_LIST]) + (f"; +{len(ties) - TIE_LIST} more" if
                                                len(ties) > TIE_LIST else "")  # fmt: skip
        rows.append(
            {
                "trainer": best.trainer,
                "metric": best.metric,
                "best [95% CI]": str(best.estimate),
                "seeds": best.estimate.n_seeds,
                "config": describe(best.cell) if swept_fields(runs) else "(no sweep)",
                "tied with best": f"{len(ties)} of {len(best.others)}"
                + (f": {listed}" if ties else ""),
            }
        )
    return pd.DataFrame(rows)


def per_cell(intervals: pd.DataFrame, runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per cell: each metric's mean over seeds with its 95% interval, and the seeds."""
    keys = [k for k in cell_fields(runs) if k in intervals]
    out = format_keys(intervals[keys])
    for metric in metrics:
        out[metric] = [
            format_interval(m, lo, hi) + (" items only" if how == ITEMS_ONLY and lo == lo else "")
            for m, lo, hi, how in zip(intervals[metric], intervals[f"{metric}_low"],
                                      intervals[f"{metric}_high"], intervals[f"{metric}_method"],
                                      strict=True)
        ]  # fmt: skip
    out["n"] = intervals["n"]
    return out


def trainer_deltas(pairs: Sequence[TrainerPair]) -> pd.DataFrame:
    """One row per cell and metric of one trainer vs the baseline (`inference.trainer_comparison`):
    the trainer, the baseline, Δ = trainer − baseline (matched seeds and items) with its
    interval, the family-adjusted p-values of the difference and equivalence tests, and the
    outcome."""
    rows = []
    for pair in pairs:
        row: dict[str, Any] = {k: fmt_value(v) for k, v in pair.cell.items()}
        diff = pair.difference
        row.update(
            {
                "metric": pair.metric,
                "seeds": "–" if diff is None else diff.n_seeds,
                f"{pair.trainer} [95% CI]": str(pair.mine),
                f"{pair.baseline} [95% CI]": str(pair.theirs),
                "Δ [95% CI]": "–" if diff is None else signed(diff),
                "p difference": fmt_p(pair.verdict.p_different),
                "p equivalence": fmt_p(pair.verdict.p_equivalent),
                "outcome": pair.outcome,
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def fmt_p(p: float) -> str:
    """A p-value to three decimals, "<0.001" below that, "–" when nothing was tested."""
    if p != p:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def signed(e: Estimate) -> str:
    """Δ with a sign and its interval ("items only" when it comes from the items alone)."""
    if e.value != e.value:
        return "–"
    if e.low != e.low:
        return f"{e.value:+.3f}"
    tail = " items only" if e.method == ITEMS_ONLY else ""
    return f"{e.value:+.3f} [{e.low:+.3f}, {e.high:+.3f}]{tail}"


def seed_table(seeds: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Per metric: spread of one seed's paired difference, the item part, the difference
    detectable with 2–10 seeds and the seeds needed for 0.01 / 0.02 / 0.05."""
    rows = []
    for metric, row in seeds.items():
        out: dict[str, Any] = {
            "metric": metric,
            "comparisons": row["comparisons"],
            "SD of one seed's Δ": f"{row['seed_sd']:.4f}",
            "item SE (seeds cannot remove)": f"{row['item_se']:.4f}",
        }
        for n in (2, 3, 5, 10):
            out[f"detectable Δ, {n} seeds"] = f"{row[f'detectable_{n}']:.3f}"
        for key in [k for k in row if k.startswith("seeds_for_")]:
            needed = row[key]
            out[f"seeds for Δ={key.removeprefix('seeds_for_')}"] = (
                "items limit it" if needed is None else str(needed)
            )
        rows.append(out)
    return pd.DataFrame(rows)


def edge_table(warnings: Sequence[EdgeWarning]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "trainer": w.trainer,
                "metric": w.metric,
                "hyperparameter": w.field,
                "best value": fmt_value(w.value),
                "values tried": ", ".join(fmt_value(v) for v in w.values),
                "significantly better than the others": _edge_verdict(w),
            }
            for w in warnings
        ]
    )


def _edge_verdict(warning: EdgeWarning) -> str:
    if warning.tied_values is None:
        return "–"
    if not warning.tied_values:
        return "yes"
    tied = ", ".join(fmt_value(v) for v in warning.tied_values)
    return f"no: {warning.field}={tied} tied with the best"


def speed_table(speed: pd.DataFrame, baseline: str = BASELINE) -> pd.DataFrame:
    """`analysis.throughput_table` with thousands separators and two-decimal ratios."""
    out = speed.copy()
    for column in ["mean", "std", "min", "max", "per_core"]:
        if column in out:
            out[column] = out[column].map(lambda v: "–" if v != v else f"{v:,.0f}")
    ratio, per_core = f"vs_{baseline}", f"vs_{baseline}_per_core"
    for column in [ratio, per_core]:
        if column in out:
            out[column] = out[column].map(lambda v: "–" if v != v else f"{v:.2f}×")
    if "cores" in out:
        out["cores"] = out["cores"].map(lambda v: "–" if v != v else f"{v:.0f}")
    return out.rename(
        columns={
            **{c: f"words/s {c}" for c in ["mean", "std", "min", "max"]},
            "per_core": "words/s per core",
            ratio: f"× {baseline}, same cores",
            per_core: f"× {baseline} per core",
        }
    )


def failed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that did not finish as done (failed, pruned) with their cell, seed and error."""
    bad = runs[runs["status"] != STATUS_DONE] if "status" in runs else runs.iloc[0:0]
    keys = ["run_id", "status", *cell_fields(runs), "seed", "error"]
    out = format_keys(bad[[k for k in dict.fromkeys(keys) if k in bad]])
    if "error" in out:
        out["error"] = out["error"].fillna("").astype(str).str.slice(0, 300)
    return out.reset_index(drop=True)


def provenance_table(records: Iterable[RunRecord]) -> pd.DataFrame:
    """Distinct provenance values over the study's runs (one row per key)."""
    seen: dict[str, list[str]] = {}
    dates: list[str] = []
    seeds: set[int] = set()
    for record in records:
        seeds.add(record.config.seed)
        prov = record.result.get("provenance") or {}
        flat = {k: v for k, v in prov.items() if k not in {"versions", "seeds", "date"}}
        flat.update({f"{k} version": v for k, v in (prov.get("versions") or {}).items()})
        if prov.get("date"):
            dates.append(str(prov["date"]))
        for key, value in flat.items():
            if isinstance(value, dict):  # a run's own timings are measurements, not provenance
                value = {k: v for k, v in value.items() if not str(k).endswith("_seconds")}
            values = seen.setdefault(key, [])
            if str(value) not in values:
                values.append(str(value))
    rows = [{"key": k, "value": "; ".join(v)} for k, v in seen.items()]
    if dates:
        rows.insert(0, {"key": "dates", "value": f"{min(dates)} … {max(dates)}"})
    rows.append({"key": "seeds", "value": ", ".join(map(str, sorted(seeds)))})
    return pd.DataFrame(rows, columns=["key", "value"])
