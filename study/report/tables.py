"""The report's tables: the analysis tables of `study.analysis`, formatted for reading."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from study.analysis import (
    EdgeWarning,
    cell_fields,
    cell_table,
    done_runs,
    fmt_value,
    swept_fields,
    trainer_pairs,
    trainers,
)
from study.results import STATUS_DONE, RunRecord


def fmt_number(value: Any, digits: int = 3) -> str:
    """A float to `digits` decimals; None and NaN as "–"."""
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def mean_std(mean: Any, std: Any) -> str:
    if mean != mean:  # NaN
        return "–"
    return f"{mean:.3f} ± {std:.3f}" if std == std else f"{mean:.3f}"


def format_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Config values as written in a grid (0.75, 1e-05), not padded to 3 decimals."""
    return frame.apply(lambda column: column.map(fmt_value)) if not frame.empty else frame.copy()


def best_configs(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Per trainer and metric, the cell with the highest mean over seeds."""
    fields = swept_fields(runs)
    rows = []
    for trainer in trainers(done_runs(runs)):
        for metric in metrics:
            cells = cell_table(runs, [metric])
            cells = cells[cells["trainer"] == trainer].dropna(subset=[metric])
            if cells.empty:
                continue
            best = cells.iloc[int(cells[metric].to_numpy().argmax())]
            rows.append(
                {
                    "trainer": trainer,
                    "metric": metric,
                    "best (mean ± std)": mean_std(best[metric], best[f"{metric}_std"]),
                    "seeds": int(best["n"]),
                    "config": ", ".join(f"{f}={fmt_value(best[f])}" for f in fields)
                    or "(no sweep)",
                }
            )
    return pd.DataFrame(rows)


def per_cell(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per cell: mean ± std over seeds of each metric, and the seed count."""
    cells = cell_table(runs, metrics)
    keys = [k for k in cell_fields(runs) if k in cells]
    out = format_keys(cells[keys])
    for metric in metrics:
        out[metric] = [
            mean_std(m, s) for m, s in zip(cells[metric], cells[f"{metric}_std"], strict=True)
        ]
    out["n"] = cells["n"]
    return out


def trainer_deltas(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Cells with both trainers: each metric for torch and gensim, and Δ = torch − gensim."""
    pairs = trainer_pairs(runs, metrics)
    if pairs.empty:
        return pairs
    keys = [k for k in swept_fields(runs) if k in pairs]
    out = format_keys(pairs[keys])
    for metric in metrics:
        out[f"{metric} torch"] = pairs[f"{metric}_torch"].map(fmt_number)
        out[f"{metric} gensim"] = pairs[f"{metric}_gensim"].map(fmt_number)
        out[f"{metric} Δ"] = pairs[f"{metric}_delta"].map(lambda v: f"{v:+.3f}")
    return out


def edge_table(warnings: Sequence[EdgeWarning]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "trainer": w.trainer,
                "metric": w.metric,
                "hyperparameter": w.field,
                "best value": fmt_value(w.value),
                "values tried": ", ".join(fmt_value(v) for v in w.values),
            }
            for w in warnings
        ]
    )


def speed_table(speed: pd.DataFrame) -> pd.DataFrame:
    """`analysis.throughput_table` with thousands separators and two-decimal ratios."""
    out = speed.copy()
    for column in ["mean", "std", "min", "max", "per_core"]:
        if column in out:
            out[column] = out[column].map(lambda v: "–" if v != v else f"{v:,.0f}")
    for column in ["vs_gensim", "vs_gensim_per_core"]:
        if column in out:
            out[column] = out[column].map(lambda v: "–" if v != v else f"{v:.2f}×")
    if "cores" in out:
        out["cores"] = out["cores"].map(lambda v: "–" if v != v else f"{v:.0f}")
    return out.rename(
        columns={
            **{c: f"words/s {c}" for c in ["mean", "std", "min", "max"]},
            "per_core": "words/s per core",
            "vs_gensim": "× gensim, same cores",
            "vs_gensim_per_core": "× gensim per core",
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
            values = seen.setdefault(key, [])
            if str(value) not in values:
                values.append(str(value))
    rows = [{"key": k, "value": "; ".join(v)} for k, v in seen.items()]
    if dates:
        rows.insert(0, {"key": "dates", "value": f"{min(dates)} … {max(dates)}"})
    rows.append({"key": "seeds", "value": ", ".join(map(str, sorted(seeds)))})
    return pd.DataFrame(rows, columns=["key", "value"])
