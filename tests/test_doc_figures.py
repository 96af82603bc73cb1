"""Every figure on docs/measurements.md, regenerated from the JSON under results/bench/ it names.

Each function below reads one or two JSON files and returns the exact Markdown the page shows
(table rows, or the sentence fragment holding a figure); the test fails when the page does not
contain it (line breaks count as spaces), so neither a hand edit of the page nor a rerun that
rewrites a JSON file can leave the two apart.
`python tests/test_doc_figures.py` prints every snippet, for pasting after a rerun.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "results" / "bench"
PAGE = ROOT / "docs" / "measurements.md"


def load(name: str) -> dict:
    return json.loads((BENCH / name).read_text())


def mw(words_per_sec: float, digits: int = 3) -> str:
    """Words per second in millions."""
    return f"{words_per_sec / 1e6:.{digits}f}"


def times(ratio: float) -> str:
    """A speed ratio: 29.5×, 1.66×, 1×."""
    return "1×" if ratio == 1 else f"{ratio:.1f}×" if ratio >= 10 else f"{ratio:.2f}×"


def gpu_throughput() -> list[str]:
    data = load("gpu-throughput.json")
    names = {
        "triton-center": "Triton, per centre",
        "triton-pair": "Triton, per pair",
        "torch-step": "torch step (CUDA)",
        "gensim": "gensim, 16 workers",
    }
    rows = []
    for dim, negative in ((100, 5), (300, 10)):
        for variant, name in names.items():
            (r,) = (
                r
                for r in data["results"]
                if r.get("variant") == variant and r["dim"] == dim and r["negative"] == negative
            )
            words = "" if r["words"] == data["corpus"]["words"] else " (first 4 M words)"
            memory = r["peak_gpu_memory_mib"]
            rows.append(
                f"| dim {dim}, K {negative}: {name}{words} "
                f"| {mw(r['words_per_sec'], 1 if variant.startswith('triton') else 2)} M "
                f"| {times(r['ratio_to_gensim_all_cores'])} "
                f"| {'—' if memory is None else f'{memory:,.0f}'} |"
            )
    return rows


def gpu_programs() -> list[str]:
    data = load("gpu-throughput.json")
    runs = [
        r
        for r in data["results"]
        if r["label"].startswith("triton-center dim=100 K=5")
        and "ratio_to_gensim_all_cores" not in r
    ]
    (default,) = (r for r in data["results"] if r["label"] == "triton-center dim=100 K=5")
    rows = []
    for r in sorted([*runs, default], key=lambda r: r["trainer_info"]["programs"]):
        rows.append(
            f"| {r['trainer_info']['programs']:,} | {mw(r['words_per_sec'], 1)} M "
            f"| {r['loss_last_epoch']:.3f} |"
        )
    return rows


def gpu_quality() -> list[str]:
    runs = load("gpu-quality.json")["results"] + load("gpu-quality-2.json")["results"]
    names = {
        "triton-center": "Triton, per centre",
        "triton-pair": "Triton, per pair",
        "torch-step": "torch step (CUDA)",
        "gensim": "gensim, 16 workers",
    }
    rows = []
    for variant, name in names.items():
        mine = [r for r in runs if r["label"].split()[0] == variant]
        seeds = ", ".join(str(int(r["label"].split("seed=")[1])) for r in mine)
        cells = [
            f"{statistics.mean(r[m] for r in mine):.3f}"
            for m in ("ws353_spearman", "simlex_spearman", "analogy_acc")
        ]
        speed = mw(
            statistics.mean(r["words_per_sec"] for r in mine),
            2 if variant in ("torch-step", "gensim") else 1,
        )
        rows.append(f"| {name} | {seeds} | {' | '.join(cells)} | {speed} M |")
    return rows


def gpu_quality_spread() -> list[str]:
    runs = load("gpu-quality.json")["results"]

    def spread(variant: str, metric: str) -> str:
        values = [r[metric] for r in runs if r["label"].split()[0] == variant]
        return f"{max(values) - min(values):.3f}"

    return [
        f"WS353 {spread('triton-center', 'ws353_spearman')} per centre and "
        f"{spread('triton-pair', 'ws353_spearman')} per pair, analogies "
        f"{spread('triton-center', 'analogy_acc')} and {spread('triton-pair', 'analogy_acc')}"
    ]


def gpu_pair_speedup() -> list[str]:
    data = load("gpu-throughput.json")["results"]

    def speed(variant: str, dim: int) -> float:
        (r,) = (r for r in data if r.get("variant") == variant and r["dim"] == dim)
        return r["words_per_sec"]

    gains = [speed("triton-pair", d) / speed("triton-center", d) - 1 for d in (100, 300)]
    return [f"per pair is {100 * min(gains):.0f}–{100 * max(gains):.0f} % faster"]


def gpu_sweep() -> list[str]:
    out = []
    for name in ("gpu-sweep.json", "gpu-sweep-pair.json"):
        (r,) = load(name)["results"]
        train = sum(run["train_seconds"] for run in r["runs"])
        out.append(f"{r['wall_seconds']:.0f} s end to end ({train:.0f} s of training")
    return out


def gpu_cpu_scaling() -> list[str]:
    first, second = load("gpu-cpu-scaling.json"), load("gpu-cpu-scaling-2.json")
    rows = []
    for cores in first["config"]["cores"]:
        for data in (first, second):
            torch = [
                r
                for r in data["results"]
                if r["cores"] == cores
                and r["variant"] == "torch-step"
                and "ratio_to_gensim_same_cores" in r
            ]
            gensim = [
                r for r in data["results"] if r["cores"] == cores and r["variant"] == "gensim"
            ]
            if torch and gensim:
                name = "gpu-cpu-scaling-2.json" if data is second else "gpu-cpu-scaling.json"
                load_before = data["load_average_before_after"]["before"][0]
                mine, theirs = torch[0], gensim[0]
                rows.append(
                    f"| {cores} | {mw(mine['words_per_sec'])} | {mw(theirs['words_per_sec'])} "
                    f"| {mine['ratio_to_gensim_same_cores']:.2f}× | `{name}` | {load_before} |"
                )
                break
    return rows


def cpu_processes() -> list[str]:
    rows = []
    for name, label in (
        ("cpu-processes-idle.json", "idle"),
        ("cpu-processes-busy1.json", "one busy process"),
    ):
        (case,) = load(name)["cases"]
        runs = case["runs"]
        cells = []
        for torch, gensim in (
            ("torch-cpu-1t", "gensim-1w"),
            ("torch-cpu-2p", "gensim-2w"),
            ("torch-cpu-2t", "gensim-2w"),
        ):
            t, g = runs[torch], runs[gensim]
            ratio = t["words_per_sec"] / g["words_per_sec"]
            median = t["words_per_sec_median"] / g["words_per_sec_median"]
            speeds = f"{mw(t['words_per_sec'])} / {mw(g['words_per_sec'])}"
            cells.append(f"{speeds} = {ratio:.2f}× ({median:.2f}×)")
        rows.append(f"| {label} | {' | '.join(cells)} |")
    return rows


def cpu_processes_loss() -> list[str]:
    idle = load("cpu-processes-idle.json")["cases"][0]["runs"]
    busy = load("cpu-processes-busy1.json")["cases"][0]["runs"]

    def lost(run: str) -> str:
        return f"{100 * (1 - busy[run]['words_per_sec'] / idle[run]['words_per_sec']):.0f} %"

    return [
        f"the worker processes lose {lost('torch-cpu-2p')} (gensim's two workers "
        f"{lost('gensim-2w')}), where two threads lose {lost('torch-cpu-2t')}"
    ]


def determinism() -> list[str]:
    runs = load("cpu-processes-idle.json")["cases"][0]["runs"]
    same = runs["torch-cpu-1t"]["vectors_sha256"] == runs["torch-cpu-2t"]["vectors_sha256"]
    repeat = runs["torch-cpu-2p"]["identical_across_repeats"]
    return [
        f"trained {'identical' if same else 'different'} vectors at 1 and 2 threads",
        f"(`identical_across_repeats` {str(repeat).lower()})",
    ]


def demo_busy() -> list[str]:
    runs = load("demo-busy1.json")["cases"][0]["runs"]
    t1, t2, g1, g2 = (runs[k] for k in ("torch-cpu-1t", "torch-cpu-2p", "gensim-1w", "gensim-2w"))
    return [
        f"torch {mw(t1['words_per_sec'])} M words/s on one worker against "
        f"{mw(t2['words_per_sec'])} "
        f"on two (medians {mw(t1['words_per_sec_median'])} and {mw(t2['words_per_sec_median'])}), "
        f"gensim {mw(g1['words_per_sec'])} against {mw(g2['words_per_sec'])} (medians "
        f"{mw(g1['words_per_sec_median'])} and {mw(g2['words_per_sec_median'])})"
    ]


def threads_path() -> list[str]:
    default = [load(f"cpu-same-cores{s}.json")["cases"][0] for s in ("", "-2", "-3")]
    passive = [load(f"cpu-same-cores-passive{s}.json")["cases"][0] for s in ("", "-2")]

    def span(values: list[float], fmt: str = ".2f") -> str:
        return f"{min(values):{fmt}}–{max(values):{fmt}}"

    def ratio(case: dict, cores: int, key: str) -> float:
        (row,) = (row for row in case["same_cores"] if row["cores"] == cores)
        return row[key]

    repeats = [
        repeat["words_per_sec"] / 1e6
        for case in default
        for repeat in case["runs"]["torch-cpu-2t"]["each_repeat"]
        if repeat["words_per_sec"] < 0.1e6
    ]
    slower = all(
        case["runs"]["torch-cpu-2t"]["words_per_sec"]
        < case["runs"]["torch-cpu-1t"]["words_per_sec"]
        for case in passive
    )
    return [
        f"{span([ratio(c, 1, 'ratio') for c in default])}× gensim at 1 core, "
        f"{span([ratio(c, 2, 'ratio') for c in default])}× (median "
        f"{span([ratio(c, 2, 'ratio_median') for c in default])}×) at 2 cores",
        f"fell to {span(repeats)} M words/s",
        "made 2 threads slower than one" if slower else "made 2 threads faster than one",
    ]


def calibration() -> list[str]:
    data = load("stats-calibration-quick.json")
    rows = [r for r in data["rows"] if r["rate"] is not None]

    def rates(procedure: str, seeds: tuple[int, ...] = (2, 3, 5)) -> list[float]:
        return [r["rate"] for r in rows if r["procedure"] == procedure and r["seeds"] in seeds]

    def span(values: list[float]) -> str:
        low, high = min(values), max(values)
        return f"{low:.3f}" if low == high else f"{low:.3f}–{high:.3f}"

    cell = span(rates("cell interval coverage"))
    difference = span(rates("paired difference coverage"))
    different = span(rates("compare: false 'different' (Δ = 0)"))
    equivalent = span(rates("compare: false 'equivalent' (Δ = margin)"))
    family = span(rates("torch vs gensim: any false claim (family-wise)"))
    holm = max(rates("old way (Holm vs the observed best): false 'worse'"))
    ties = span(rates("ties with the best: false 'worse' (family-wise)"))
    power = span(rates("planner: power at its detectable difference", (2, 3, 5, 10)))
    one_seed = span(
        rates("cell interval (one seed: shown?)", (1,))
        + rates("compare verdict from one seed", (1,))
    )
    few = [r for r in rows if r["procedure"].startswith("few items")]

    def few_rates(kind: str, counted: int) -> list[float]:
        return [r["rate"] for r in few if r["procedure"].startswith(f"few items: {kind}")
                and r["model"] == f"accuracy, {counted} hard questions"]  # fmt: skip

    under = span([rate for n in (3, 5, 10) for kind in ("false 'equivalent' (", "interval shown")
                  for rate in few_rates(kind, n)])  # fmt: skip
    unruled = max(rate for n in (3, 5, 10) for rate in few_rates("false 'equivalent' without", n))
    false_eq = "false 'equivalent' ("
    at_20_50 = (f"{span(few_rates(false_eq, 20))} / {span(few_rates(false_eq, 50))}; "
                f"{span(few_rates('difference coverage', 20))} / "
                f"{span(few_rates('difference coverage', 50))}")  # fmt: skip
    studies = [r["n"] for r in rows]
    errors = [r["mc_se"] for r in rows if r["mc_se"]]
    return [
        f"commit {data['commit'][:7]}, {data['seconds']:.0f} s",
        f"{min(studies)} to {max(studies)} simulated studies per rate",
        f"Monte-Carlo s.e. of {min(errors):.3f}–{max(errors):.3f}",
        f"all {len(data['rows'])} rows pass" if data["all_pass"] else "not every row passes",
        f"| coverage of a cell's interval / of a paired difference | {cell} / {difference} "
        "| [0.93, 0.97] ± 2 s.e. |",
        '| one comparison: false "different" at Δ = 0 / false "equivalent" at Δ = margin '
        f"| {different} / {equivalent} | ≤ 0.05 + 2 s.e. |",
        f"| torch vs gensim family: any false claim | {family} | ≤ 0.05 |",
        '| ties with the best: false "worse" (Holm against the observed best, for contrast: '
        f"up to {holm:.3f}) | {ties} | ≤ 0.05 |",
        "| planner: power at the difference it reports (2, 3, 5 and 10 seeds) "
        f"| {power} | 0.80 ± 0.05 ± 2 s.e. |",
        f"| one seed: an interval or a verdict shown | {one_seed} | 0 |",
        "| fewer than 20 counted items (3, 5, 10 hard questions): an interval or a false "
        f'"equivalent" (Δ = 5 margins) shown (without the rule, for contrast: false "equivalent" '
        f"up to {unruled:.3f}) | {under} | 0 |",
        '| 20 / 50 hard questions: false "equivalent" (Δ = 5 margins); the difference\'s '
        f"coverage (informational) | {at_20_50} | ≤ 0.05 + 2 s.e. |",
    ]


def provenance() -> list[str]:
    """Commits and load averages the page quotes for its runs."""

    def before(name: str) -> float:
        return load(name)["load_average_before_after"]["before"][0]

    def commit(name: str) -> str:
        return load(name)["commit"][:7]

    def day(name: str) -> str:
        return load(name)["date"][:10]

    same_cores = [before(f"cpu-same-cores{s}.json") for s in ("", "-2", "-3")]
    return [
        f"(load average {before('gpu-throughput.json')} before, "
        f"{load('gpu-throughput.json')['load_average_before_after']['after'][0]} after)",
        f"commit {commit('cpu-processes-idle.json')}, {day('cpu-processes-idle.json')} "
        f"(`results/bench/cpu-processes-idle.json`, load {before('cpu-processes-idle.json')} "
        f"before; `results/bench/cpu-processes-busy1.json`, load "
        f"{before('cpu-processes-busy1.json')} before)",
        f"(`results/bench/demo-busy1.json`, commit {commit('demo-busy1.json')} with local",
        f"commit {commit('cpu-same-cores.json')}, 2026-11-26",
        f"(load {min(same_cores)}–{max(same_cores)} before)",
        f"{load('stats-calibration-quick.json')['seconds']:.0f} s, load "
        f"{before('stats-calibration-quick.json')} before",
    ]


SNIPPETS: dict[str, Callable[[], list[str]]] = {
    "gpu-throughput.json": gpu_throughput,
    "gpu-throughput.json (programs)": gpu_programs,
    "gpu-throughput.json (per pair vs per centre)": gpu_pair_speedup,
    "gpu-quality.json + gpu-quality-2.json": gpu_quality,
    "gpu-quality.json (seed spread)": gpu_quality_spread,
    "gpu-sweep.json, gpu-sweep-pair.json": gpu_sweep,
    "gpu-cpu-scaling.json, gpu-cpu-scaling-2.json": gpu_cpu_scaling,
    "cpu-processes-idle.json, cpu-processes-busy1.json": cpu_processes,
    "cpu-processes-* (loss beside a busy process)": cpu_processes_loss,
    "cpu-processes-idle.json (determinism)": determinism,
    "demo-busy1.json": demo_busy,
    "cpu-same-cores*.json": threads_path,
    "stats-calibration-quick.json": calibration,
    "commits and loads": provenance,
}


@pytest.mark.parametrize("source", sorted(SNIPPETS))
def test_the_page_shows_the_figures_of_its_json(source: str) -> None:
    page = " ".join(PAGE.read_text().split())  # line breaks in prose are spaces
    missing = [s for s in SNIPPETS[source]() if " ".join(s.split()) not in page]
    assert not missing, f"docs/measurements.md differs from {source}:\n" + "\n".join(missing)


if __name__ == "__main__":
    for source, make in SNIPPETS.items():
        print(f"<!-- {source} -->")
        print("\n".join(make()), end="\n\n")
