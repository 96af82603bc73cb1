"""The generated report of a small real study: every table and figure it lists is in it."""

from __future__ import annotations

import base64
import re

import pytest
from report_fixtures import ABSENT_SEED_WORDS, COMMAND, FAILED_ERROR, build_small_study

from study.analyze.report import EDGE_TITLE, build_report, literature
from study.analyze.report.render import md_text
from study.cli.app import main


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    store = build_small_study(tmp_path_factory.mktemp("report"))
    return build_report(store.root)


EXPECTED_TABLES = [
    "Best configurations",
    "Per-cell results (mean [95% CI] over seeds)",
    "torch vs gensim per cell",
    literature.TITLE,  # w+c − w only: the study sweeps alpha 0.5, 1 and one negative value
    literature.LAYOUT_TITLE,
    "Throughput (training words/s per trainer)",
    "How many seeds?",
    "Failed runs",
    "PCA overlay: mean displacement per model",
]
EXPECTED_FIGURES = {
    "loss_curves",
    "grad_norms",
    "metric_vs_params",
    "heatmap_ws353_spearman",  # one heatmap per benchmark the seed-word corpus covers
    "heatmap_ws353_sim_spearman",
    "heatmap_ws353_rel_spearman",
    "heatmap_mturk_spearman",
    "heatmap_simlex_spearman",
    "heatmap_analogy_acc",
    "torch_vs_gensim",
    "throughput",
    "pca_2d",
    "pca_3d",
}


def test_report_lists_every_table_and_figure(report):
    expected = list(EXPECTED_TABLES)
    if report.edge_warnings:  # with 2-value axes nearly always; ties can avoid it
        expected.insert(5, EDGE_TITLE)
        assert any("edge of the grid" in w for w in report.warnings)
    assert [t.title for t in report.tables] == expected
    assert {f.path.stem for f in report.figures} == EXPECTED_FIGURES
    for figure in report.figures:
        assert figure.path.stat().st_size > 10_000


def test_markdown_report_contains_every_table_and_figure(report):
    text = report.markdown_path.read_text()  # user text is escaped (tests/test_report_safety.py)
    for table in report.tables:
        assert f"## {md_text(table.title)}\n" in text
    for figure in report.figures:
        assert f"## {md_text(figure.title)}\n" in text
        assert f"](<figures/{figure.path.name}>)" in text
        assert (report.markdown_path.parent / "figures" / figure.path.name).exists()
    assert COMMAND in text  # the reproduce command from study.json, in a code block
    assert md_text(FAILED_ERROR) in text
    assert "git\\_revision" in text and "torch version" in text  # provenance
    assert "| torch | ws353\\_spearman |" in text  # a best-config row
    assert "## Conclusions\n" in text
    assert md_text("torch vs gensim, ws353_spearman (margin ±0.01;") in text
    assert all(w in text for w in ABSENT_SEED_WORDS)  # the skipped seed words are reported
    assert md_text("(a) context distribution smoothing 0.75 beats none (alpha 1): not") in text
    assert "| torch | 2 | 5 | 0.5 | w+c |" in text  # the paper's layout: trainer, window, ...


def test_html_report_is_self_contained(report):
    text = report.html_path.read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == len(report.figures)
    assert all(base64.b64decode(data)[:4] == b"\x89PNG" for data in images)
    assert not re.search(r'src="(?!data:)', text)  # nothing linked from outside the file
    for title in [t.title for t in report.tables] + [f.title for f in report.figures]:
        assert f">{title.replace('&', '&amp;')}</h2>" in text
    assert text.count("<table") == len(report.tables) + 1  # + provenance
    assert "Δ" in text and COMMAND in text and FAILED_ERROR in text


def test_html_tables_scroll_inside_their_box(report):
    """The torch-vs-gensim table was wider than the page (its analogy columns cut off)."""
    from html.parser import HTMLParser

    class Parents(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[tuple[str, str]] = []
            self.table_parents: list[tuple[str, str]] = []

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.table_parents.append(self.stack[-1])
            self.stack.append((tag, dict(attrs).get("class") or ""))

        def handle_endtag(self, tag):
            while self.stack and self.stack.pop()[0] != tag:
                pass

    text = report.html_path.read_text()
    parser = Parents()
    parser.feed(text)
    assert parser.table_parents == [("div", "table-scroll")] * (len(report.tables) + 1)
    css = re.search(r"\.table-scroll \{([^}]*)\}", text)
    assert css and "overflow-x: auto" in css.group(1) and "max-width: 100%" in css.group(1)


@pytest.mark.slow  # a second whole report, 20-40 s: CI's slow step runs it
def test_report_command_writes_both_files_elsewhere_leaving_the_study_untouched(
    report, tmp_path, capsys
):
    """A study someone else owns (read-only to you) can be reported into another folder; with
    --pca-seeds the overlays start from the words given (issue 24, class 11)."""
    study_dir = report.html_path.parent
    before = sorted((str(p), p.stat().st_mtime_ns) for p in study_dir.rglob("*"))
    out = tmp_path / "out"
    argv = ["report", str(study_dir), "--out", str(out), "--no-align", "--margin", "0.05",
            "--pca-seeds", "queen,king,zzzz"]  # fmt: skip
    assert main(argv) == 0
    assert sorted((str(p), p.stat().st_mtime_ns) for p in study_dir.rglob("*")) == before
    markdown = (out / "report.md").read_text()
    assert "(margin ±0.05; " in markdown
    assert "not aligned" in markdown  # the overlay caption says so
    assert "seed words missing from a vocabulary, skipped: zzzz" in markdown
    assert (out / "report.html").stat().st_size > 0 and (out / "figures" / "pca_2d.png").exists()
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("margin", ["0", "-0.01", "inf", "1e999", "nan", "1_0", "٣", "0x1"])
def test_report_rejects_a_margin_that_is_not_a_positive_plain_number(report, capsys, margin):
    assert main(["report", str(report.html_path.parent), "--margin", margin]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: python -m study report: argument --margin: ")
    assert err.count("\n") == 1 and repr(margin) in err


def test_report_of_a_missing_study_is_a_one_line_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.startswith("error: no study folder")


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--by", "alpah", "report --by 'alpah': alpah is not a config field; swept in this study:"),
        ("--by", "dim", "report --by 'dim': dim has one value here"),
        ("--metric", "accuracy", "report --metric 'accuracy': not a metric of this study; it has"),
        ("--pca-trainer", "fasttext", "no runs of it here; trainers: torch, gensim"),
    ],
)
def test_bogus_report_options_are_one_line_errors(report, tmp_path, capsys, option, value, message):
    """They were accepted and silently replaced by defaults (issue 14, class 13)."""
    study_dir = report.html_path.parent
    out = tmp_path / "out"
    assert main(["report", str(study_dir), "--out", str(out), option, value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists()  # rejected before anything is written
