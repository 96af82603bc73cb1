"""The literature check (Levy et al. 2015): verdicts on a synthetic study with planted effects,
the matched-cell contrast, `grid --preset levy2015` + `report` end to end, the `findings`
write-up, and the one-line note of a study without the cells."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_fixtures import seed_word_text
from synthetic_store import build_store

from study.analyze.inference import StudyItems, cell_runs
from study.analyze.report import literature
from study.analyze.report.render import Report, md_text, render_html, render_markdown
from study.cli.app import main
from study.core.config import RunConfig
from study.evaluate import stats
from study.evaluate.items import PairItems, RunItems, metric_scores
from study.evaluate.stats import Estimate, Verdict, spearman_rows
from study.store.results import STATUS_DONE, ResultStore, load_table

N_PAIRS = 300


# -- a synthetic study with planted effects ------------------------------------------------------
def noise(alpha: float, negative: int) -> float:
    """Pair-score noise per cell (lower is better): alpha=0.75 better than 1 (as the paper
    says), negative=5 worse than 1 (against it)."""
    return 2.0 + (2.0 if alpha == 1.0 else 0.0) + (2.0 if negative == 5 else 0.0)


def planted_store(root: Path, alphas=(0.75, 1.0), negatives=(1, 5), seeds=3) -> ResultStore:
    """MEN-like pairs in every run, w and w+c; w+c is w's quality with other noise (no effect)."""
    store = ResultStore(root / "planted")
    store.write_study_info({"name": "planted", "command": "python -m study grid (planted)"})
    gold = np.round(np.random.default_rng(7).uniform(0, 10, N_PAIRS), 2)
    for alpha in alphas:
        for negative in negatives:
            for seed in range(seeds):
                config = RunConfig().with_overrides(
                    {"alpha": alpha, "negative": negative, "seed": seed, "epochs": 1}
                )
                rng = np.random.default_rng([seed, int(alpha * 100), negative])
                size = noise(alpha, negative)
                w = gold + rng.normal(0, size, N_PAIRS)
                wc = gold + rng.normal(0, size, N_PAIRS)
                items = RunItems({"men": PairItems(gold, w), "men_wc": PairItems(gold, wc)})
                metrics = {"men_spearman": float(spearman_rows(gold, w)),
                           "men_wc_spearman": float(spearman_rows(gold, wc)),
                           "men_coverage": 1.0}  # fmt: skip
                store.start_run(config)
                store.write_items(config.run_id, items)
                store.finish_run(config, {"status": STATUS_DONE, "metrics": metrics,
                                          "seconds": 1.0})  # fmt: skip
    return store


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):
    store = planted_store(tmp_path_factory.mktemp("literature"))
    runs, _ = load_table(store)
    items = StudyItems(store, runs, n_resamples=400)
    return runs, items, literature.check(items, runs, 0.01), store


def _row(found: literature.LiteratureCheck, label: str) -> literature.Measured:
    (row,) = [m for m in found.measured if m.contrast.label == label]
    return row


def test_each_verdict_is_reached_on_planted_effects(planted):
    found = planted[2]
    assert found.missing == [] and found.left_out == ""
    labels = [m.contrast.label for m in found.measured]
    assert labels == ["alpha=0.75 − alpha=1", "negative=5 − negative=1", "w+c − w"]
    smoothing, negatives, context = (_row(found, label) for label in labels)
    assert smoothing.verdict == literature.AGREES and smoothing.estimate.value > 0.05
    assert negatives.verdict == literature.DISAGREES and negatives.estimate.value < -0.05
    assert context.verdict == literature.INCONCLUSIVE and context.estimate.contains(0.0)
    assert {m.metric for m in found.measured} == {"men_spearman"}
    assert smoothing.outcome.outcome in literature.SIGNIFICANT
    assert len(smoothing.contrast.pairs) == 2 and len(context.contrast.pairs) == 4


def test_a_contrast_averages_the_matched_cells_paired_differences(planted):
    """Per seed, the mean of the cell pairs' differences, seeds matched across every cell: its
    value is the mean of the pairs' own paired differences, and its interval the one
    `stats.estimate` gives for those weighted runs."""
    runs, items, found, store = planted
    smoothing = _row(found, "alpha=0.75 − alpha=1")
    sg = literature.sgns_runs(runs)
    members = [(cell_runs(sg, a), cell_runs(sg, b)) for a, b in smoothing.contrast.pairs]
    for a, b in members:  # matched on everything but alpha
        assert set(a["negative"]) == set(b["negative"]) and len(set(a["negative"])) == 1
        assert set(a["alpha"]) == {0.75} and set(b["alpha"]) == {1.0}
    each = [items.paired(a, b, "men_spearman") for a, b in members]
    assert smoothing.estimate.value == pytest.approx(np.mean([e.value for e in each]), abs=1e-12)
    assert smoothing.estimate.n_seeds == 3
    # the same estimate straight from the items: per seed, ±1/2 of each pair's runs of that seed
    units = []
    for seed in range(3):
        unit = []
        for a, b in members:
            for weight, cell in ((0.5, a), (-0.5, b)):
                run_id = cell.loc[cell["seed"] == seed, "run_id"].iloc[0]
                unit.append((weight, metric_scores(store.read_items(run_id), "men_spearman")))
        units.append(unit)
    direct = stats.estimate(units, n_resamples=400)
    mine = smoothing.estimate
    assert (mine.value, mine.low, mine.high) == pytest.approx(
        (direct.value, direct.low, direct.high), abs=1e-12
    )
    # the mean of two cells' differences is tighter than either alone
    width = smoothing.estimate.high - smoothing.estimate.low
    assert all(width < e.high - e.low for e in each)


def test_verdict_mapping() -> None:
    def estimate(value: float) -> Estimate:
        return Estimate(value, value - 0.01, value + 0.01, 0.005, 10, 3, 300, stats.SEEDS_AND_ITEMS)

    cases = [
        (stats.DIFFERENT, 0.05, literature.AGREES),
        (stats.EQUIVALENT_DIFFERENT, 0.005, literature.AGREES),
        (stats.DIFFERENT, -0.05, literature.DISAGREES),
        (stats.EQUIVALENT_DIFFERENT, -0.005, literature.DISAGREES),
        (stats.INCONCLUSIVE, 0.05, literature.INCONCLUSIVE),
        (stats.EQUIVALENT, 0.001, literature.INCONCLUSIVE),
        (stats.ONE_SEED, 0.2, literature.INCONCLUSIVE),
    ]
    for outcome, value, expected in cases:
        assert literature.claim_verdict(Verdict(outcome), estimate(value)) == expected
    assert literature.claim_verdict(Verdict(stats.NO_SEEDS), None) == literature.INCONCLUSIVE


def test_one_seed_gives_no_verdict(tmp_path: Path):
    store = planted_store(tmp_path, seeds=1)
    runs, _ = load_table(store)
    found = literature.check(StudyItems(store, runs, n_resamples=200), runs, 0.01)
    assert {m.outcome.outcome for m in found.measured} == {stats.ONE_SEED}
    assert {m.verdict for m in found.measured} == {literature.INCONCLUSIVE}


def test_claims_table_and_layout(planted):
    found = planted[2]
    table = literature.claims_table(found)
    assert list(table["verdict"]) == ["agrees", "disagrees", "inconclusive"]
    assert list(table["cells"]) == [2, 2, 4] and set(table["benchmark"]) == {"MEN"}
    layout = found.layout
    assert list(layout.columns) == ["window", "negative", "alpha", "vectors", "MEN", "seeds"]
    assert len(layout) == 8  # 2 alpha x 2 negative, w and w+c
    assert list(layout["vectors"][:2]) == ["w", "w+c"] and set(layout["seeds"]) == {3}
    assert all(" [" in value for value in layout["MEN"])  # mean [low, high]
    lines = literature.summary_lines(found)
    assert lines[0].endswith("agrees on MEN; disagrees on none; inconclusive on 0 of 1 benchmarks.")


def test_a_study_without_the_cells_gets_a_one_line_note(tmp_path: Path):
    """alpha 0.5 and 1 (no 0.75), one negative value, no w+c: nothing to check."""
    store = build_store(tmp_path, seeds=2, trainers=("torch",))
    runs, _ = load_table(store)
    report = Report("s", tmp_path / "r.html", tmp_path / "r.md")
    literature.add_section(report, StudyItems(store, runs, n_resamples=100), runs, 0.01)
    (table,) = report.tables
    assert table.title == literature.TITLE and table.frame.empty
    assert table.note.startswith("Levy et al. (2015): left out: (a) ")
    assert "(b) more negative samples help SGNS: not checked" in table.note
    assert "\n" not in table.note and report.conclusions == []
    assert f"## {md_text(literature.TITLE)}\n\n{md_text(table.note)}\n" in render_markdown(report)
    assert "left out: (a)" in render_html(report)
    # no skip-gram run at all: a note that says so
    cbow = runs.assign(model="cbow")
    found = literature.check(StudyItems(store, cbow, n_resamples=100), cbow, 0.01)
    assert not found.measured and "no finished skip-gram negative-sampling run" in found.left_out


def test_only_the_claims_the_cells_allow_are_checked(tmp_path: Path):
    store = planted_store(tmp_path, alphas=(0.5, 1.0), negatives=(1, 5, 15), seeds=2)
    runs, _ = load_table(store)
    found = literature.check(StudyItems(store, runs, n_resamples=100), runs, 0.01)
    labels = list(dict.fromkeys(m.contrast.label for m in found.measured))
    assert labels == ["negative=5 − negative=1", "negative=15 − negative=5",
                      "negative=15 − negative=1", "w+c − w"]  # fmt: skip
    (missing,) = found.missing
    assert missing.startswith("(a) ") and "alpha=0.75 and alpha=1" in missing
    assert "(a) context distribution smoothing" in literature.method_note(found)


# -- end to end: grid --preset levy2015, report, findings ------------------------------------------
BENCHMARKS = "ws353_sim,analogy"  # two of the paper's sets the seed-word corpus covers


@pytest.fixture
def fewer_resamples(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's and the write-up's statistics on 100 item resamples (1,000 by default): the
    same code, a tenth of the bootstrap time."""
    fast = partial(StudyItems, n_resamples=100)
    monkeypatch.setattr("study.analyze.report.build.StudyItems", fast)
    monkeypatch.setattr("study.analyze.report.writeup.StudyItems", fast)


@pytest.fixture(scope="module")
def levy_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("levy")
    corpus = root / "seed_words.txt"
    corpus.write_text(seed_word_text())
    argv = ["grid", "--preset", "levy2015", "--grid", "negative=1,5", "--results", str(root),
            "--study", "levy-tiny", "--benchmarks", BENCHMARKS, "--set", f"corpus={corpus}",
            "window=2", "dim=8", "epochs=1", "min_count=2", "workers=1", "probe_pairs=64",
            "device=cpu"]  # fmt: skip
    assert main(argv) == 0
    return root / "levy-tiny"


def test_grid_and_report_show_the_literature_check(levy_study: Path, fewer_resamples):
    assert main(["report", str(levy_study)]) == 0
    markdown = (levy_study / "report.md").read_text()
    page = (levy_study / "report.html").read_text()
    for title in [literature.TITLE, literature.LAYOUT_TITLE]:
        assert f"## {md_text(title)}\n" in markdown
        assert f">{title}</h2>" in page
    for contrast in ["alpha=0.75 − alpha=1", "negative=5 − negative=1", "w+c − w"]:
        assert f"| {md_text(contrast)} |" in markdown
        assert f"<td>{contrast}</td>" in page
    section = markdown.split(f"## {md_text(literature.TITLE)}\n")[1].split("\n## ")[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| (")]
    assert len(rows) == 6  # 3 contrasts x 2 benchmarks
    assert {row[-1].rstrip(" |") for row in rows} <= {"agrees", "disagrees", "inconclusive"}
    assert page.count("<td>w+c − w</td>") == 2
    layout = markdown.split(f"## {md_text(literature.LAYOUT_TITLE)}\n")[1].split("\n## ")[0]
    assert "| window | negative | alpha | vectors | WS353 similarity | Google analogies |" in layout
    assert layout.count("\n| 2 | ") == 8  # window 2: 2 negative x 2 alpha x (w, w+c)
    assert md_text("Levy et al. (2015) (a) context distribution smoothing") in markdown


def test_findings_write_up_is_standalone_and_regenerates_identically(
    levy_study: Path, tmp_path: Path, fewer_resamples
):
    notes = tmp_path / "notes.md"
    notes.write_text("Hand-written: **as is**, <b>raw</b> | kept.\n\n- a list\n")
    other = tmp_path / "levy-tiny-copy"  # the second study: negative=1 only, so no claim (b)
    shutil.copytree(levy_study, other)
    runs, _ = load_table(other)
    for run_id in runs.loc[runs["negative"] == 5, "run_id"]:
        shutil.rmtree(other / "runs" / run_id)
    written = tmp_path / "docs" / "findings" / "levy.md"  # folders made as needed
    argv = ["findings", "levy2015", str(levy_study), "--contrast", str(other),
            "--notes", str(notes), "--out", str(written)]  # fmt: skip
    assert main(argv) == 0
    first = written.read_bytes()
    assert main(argv) == 0
    assert written.read_bytes() == first  # regenerated: the same bytes
    text = first.decode()
    assert "python -m study findings levy2015 " in text  # how to regenerate it
    info = (levy_study / "study.json").read_text()
    assert "--preset levy2015" in info and "python -m study grid --preset levy2015" in text
    for heading in ["## The study", "### Command", "### Config", "### Machine", "### Commit",
                    "## Claims", "## Results in the paper's layout",
                    f"## The same claims in {md_text('levy-tiny-copy')}", "## Notes"]:  # fmt: skip
        assert f"\n{heading}" in text, heading
    assert text.endswith(notes.read_text())  # verbatim, last
    assert "| negative | swept: 1, 5 |" in text and "| dim | 8 |" in text
    assert "| device | cpu" in text and "| host |" not in text
    assert f"corpus: {md_text(levy_study.parent / 'seed_words.txt')}" in text  # escaped: seed\\_
    side = text.split("## The same claims in")[1]
    assert side.count(" | w+c − w | ") == 2  # one row per benchmark, both studies side by side
    missing = [row for row in side.splitlines() if row.endswith(" | – | – |")]  # not in the copy
    assert len(missing) == 2 and all("| negative=5 − negative=1 |" in row for row in missing)


def test_findings_of_a_study_without_the_cells_is_one_line(tmp_path: Path, capsys):
    store = build_store(tmp_path, seeds=2, trainers=("torch",))
    assert main(["findings", "levy2015", str(store.root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no literature check to write up: left out" in err
    assert len(err.strip().splitlines()) == 1
    # a notes file that cannot be read is one line too, before any work
    assert main(["findings", "levy2015", str(store.root), "--notes", str(tmp_path)]) == 2
    notes_err = capsys.readouterr().err
    assert notes_err.startswith("error: --notes ") and "(a directory)" in notes_err


def test_contrast_cells_match_on_every_other_field():
    """A cell with no partner at the other value is left out, never paired with another."""
    runs = pd.DataFrame(
        [{"run_id": f"r{i}", "status": "done", "trainer": "torch", "model": "sg",
          "objective": "ns", "alpha": a, "negative": k, "window": 2, "seed": 0}
         for i, (a, k) in enumerate([(0.75, 1), (1.0, 1), (0.75, 5), (1.0, 15)])]
    )  # fmt: skip
    claim = literature.CLAIMS[0]
    (contrast,) = literature.field_contrasts(runs, claim, [(0.75, 1.0)])
    assert [(a["negative"], b["negative"]) for a, b in contrast.pairs] == [(1, 1)]
