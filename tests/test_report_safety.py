"""A report never destroys and never misreads (issue 24, classes 1, 2, 5, 11, 12, 17, 20): it is
built apart and swapped in whole, deletes only figures it wrote, leaves the previous report
intact when it fails, leaves out a figure it cannot draw (saying why), shows user text as text
in report.md (read back with a CommonMark parser) and on figures (no mathtext), and concurrent
reports never share temporary files.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors
from hypothesis import assume, given
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from synthetic_store import build_store
from synthetic_study import epochs_table, runs_table

from study.analyze import figures
from study.analyze.figures import overlay
from study.analyze.report import FigureEntry, Report, Table, build_report, publish
from study.analyze.report.render import render_markdown
from study.cli.app import main
from study.core.errors import StudyError


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four torch runs with per-item results, no vectors: a report of it takes seconds."""
    return build_store(tmp_path_factory.mktemp("safety"), seeds=2, trainers=("torch",)).root


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def reported(synthetic: Path, tmp_path_factory: pytest.TempPathFactory) -> Report:
    """A report written into a folder that also holds files nobody's report wrote; one figure
    and the PCA overlays cannot be drawn; study.json (as an older version wrote it) holds a
    storage password."""
    out = tmp_path_factory.mktemp("out")
    (out / "figures").mkdir()
    (out / "figures" / "mine.png").write_bytes(b"the user's own figure")
    (out / "figures" / "notes.txt").write_text("the user's notes")
    # a figure an earlier report wrote (listed) and no longer writes: it goes
    (out / "figures" / "old_heatmap.png").write_bytes(b"stale")
    (out / "figures" / publish.MANIFEST).write_text(json.dumps(["old_heatmap.png", "../x.png"]))
    (out / "x.png").write_bytes(b"outside figures/: never touched, whatever a list says")
    info = json.loads((synthetic / "study.json").read_text())
    info["command"] = f"python -m study grid --storage postgresql://u:{SECRET}@db/x --seeds 0,1"
    (synthetic / "study.json").write_text(json.dumps(info))

    def cannot(*args, **kwargs):
        raise StudyError("none of the PCA seed words (king, …) is in the models' vocabulary")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(figures, "plot_throughput", cannot)
        patch.setattr("study.analyze.report.build.plot_pca_overlays", cannot)
        return build_report(synthetic, out)


SECRET = "Hunter2-s3cret"


def test_a_report_deletes_only_figures_a_report_wrote(reported):
    """`report --out DIR` deleted every *.png in DIR/figures/, the user's too."""
    reported = reported.markdown_path.parent
    assert (reported / "figures" / "mine.png").read_bytes() == b"the user's own figure"
    assert (reported / "figures" / "notes.txt").exists() and (reported / "x.png").exists()
    assert not (reported / "figures" / "old_heatmap.png").exists()
    written = json.loads((reported / "figures" / publish.MANIFEST).read_text())
    assert sorted(written) == sorted(p.name for p in (reported / "figures").glob("*.png")
                                     if p.name != "mine.png")  # fmt: skip
    assert not list(reported.glob(".report-*"))  # the build folder is gone


@pytest.mark.parametrize(
    "fault",
    ["disk-full-in-a-figure", pytest.param("bug-in-a-figure", marks=pytest.mark.slow),
     pytest.param("interrupted", marks=pytest.mark.slow)],
)  # fmt: skip
def test_a_report_that_fails_leaves_the_previous_one_whole(
    synthetic, reported, tmp_path, monkeypatch, fault
):
    """The previous figures were deleted before the new report existed: a report that failed
    part-way left report.md with broken links. Now the old report is untouched."""
    out = tmp_path / "out"
    shutil.copytree(reported.markdown_path.parent, out)
    before = snapshot(out)
    calls = []
    real_save = figures.save_figure

    def failing_save(fig, path):
        calls.append(path)
        if len(calls) == 2:  # the first figure is written, the second fails
            if fault == "disk-full-in-a-figure":
                raise StudyError(f"cannot write {path}: No space left on device")
            raise KeyboardInterrupt if fault == "interrupted" else RuntimeError("a bug")
        return real_save(fig, path)

    monkeypatch.setattr(figures, "save_figure", failing_save)
    expected = {"disk-full-in-a-figure": StudyError, "bug-in-a-figure": RuntimeError,
                "interrupted": KeyboardInterrupt}[fault]  # fmt: skip
    with pytest.raises(expected):
        build_report(synthetic, out)
    assert snapshot(out) == before
    assert not list(out.glob(".report-*"))


def test_a_figure_that_cannot_be_drawn_is_left_out_and_the_rest_is_written(reported):
    """A corpus without the PCA seed words failed the whole report (exit 2)."""
    assert "figure 'Throughput per trainer' left out: none of the PCA seed words" in "".join(
        reported.warnings
    )
    assert any(w.startswith("PCA overlays left out: none of") for w in reported.warnings)
    assert [f.path.name for f in reported.figures] == ["metric_vs_params.png"]
    assert "left out: none of the PCA" in reported.markdown_path.read_text()


def test_a_report_never_shows_a_password_an_older_study_json_recorded(reported):
    assert "postgresql://u:***@db/x" in reported.command
    out = reported.markdown_path.parent
    assert not [p for p in out.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


@pytest.mark.parametrize(
    ("make_it", "message"),
    [
        (lambda out: out.write_text("a file"), "is a file, not a folder"),
        (lambda out: (out.mkdir(), (out / "figures").write_text("x")), "is a file, not a folder"),
        ("read-only", "Permission denied (choose another --out)"),
    ],
)
def test_a_file_where_the_report_folder_should_be_is_one_line(
    synthetic, tmp_path, capsys, monkeypatch, make_it, message
):
    """A read-only study folder or a file where the output folder should be: tracebacks."""
    out = tmp_path / "out"
    if make_it == "read-only":  # root ignores modes: the refusal mkdtemp would meet

        def refused(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr("tempfile.mkdtemp", refused)
    else:
        make_it(out)
    assert main(["report", str(synthetic), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write the report in") and message in err
    assert err.count("\n") == 1


def test_concurrent_reports_build_apart_and_swap_in_turn(tmp_path):
    """Two reports on one study crashed on each other's temporary figures (2 of 9 tries)."""
    out = tmp_path / "out"
    out.mkdir()
    seen: list[Path] = []
    order: list[str] = []

    def one(tag: str) -> None:
        with publish.staging(out) as built:
            seen.append(built)
            (built / "figures" / "a.png").write_text(tag)
            (built / "report.md").write_text(tag)
            (built / "report.html").write_text(tag)
            publish.publish(built, out, ["a.png"])
            order.append(tag)

    threads = [threading.Thread(target=one, args=(str(i),)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 8 and len(order) == 8
    last = (out / "report.md").read_text()
    assert (out / "report.html").read_text() == last == (out / "figures" / "a.png").read_text()
    assert not list(out.glob(".report-*"))


# -- user text in report.md --------------------------------------------------------------------
PARSER = MarkdownIt("commonmark").enable("table").enable("strikethrough")
USER_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                    max_size=30)  # fmt: skip


def _report(text: str, tmp: Path) -> Report:
    import pandas as pd

    figure = tmp / "figures" / "f.png"
    report = Report(text, tmp / "report.html", tmp / "report.md", [text, f"corpus: {text}"])
    report.command = text
    report.warnings = [text]
    report.conclusions = [text]
    # a list of columns, not a dict: the text "config" must not merge the two columns
    frame = pd.DataFrame([[text, 1.5]], columns=["config", text or "x"])
    report.tables = [Table(text, frame, text)]
    report.figures = [FigureEntry(text, figure, text)]
    report.provenance = pd.DataFrame({"key": ["host"], "value": [text]})
    return report


def _tags(markdown: str) -> list[str]:
    return re.findall(r"</?[a-z0-9]+", PARSER.render(markdown))


def _text(markdown: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", PARSER.render(markdown)))


@given(text=USER_TEXT)
def test_user_text_in_report_md_is_shown_as_text_never_read_as_markup(text, tmp_path_factory):
    """report.md copied raw HTML and Markdown from corpus paths, study names and words (the HTML
    report escapes them): its structure was the user's to change. Any text in any slot now
    leaves the same tags as plain text does, and reads back as itself."""
    shown = re.sub(r"[\r\n]+", " ", text).lstrip()
    assume(shown.strip())  # empty text leaves out a caption or a note: other tags, rightly
    tmp = tmp_path_factory.getbasetemp()
    markdown = render_markdown(_report(text, tmp))
    assert _tags(markdown) == _tags(render_markdown(_report("x", tmp)))
    assert _text(markdown).count(shown.strip()) >= 8
    code = re.search(r"<pre><code>(.*?)</code></pre>", PARSER.render(markdown), re.S)
    assert code and html.unescape(code.group(1)).rstrip("\n") == re.sub(r"\r\n?", "\n", text)


# -- user text on figures -------------------------------------------------------------------------
MATH = ["/data/$x^$/corpus.txt", "b$^{.txt", r"$\frac$", "$$"]


def test_user_text_on_figures_is_never_mathtext(tmp_path):
    """A `$` in a corpus path (or a study name, a word) crashed the report: matplotlib parsed it
    as mathtext. Every figure is drawn with it off."""
    runs = runs_table()
    runs["corpus"] = [MATH[i % 2] for i in range(len(runs))]
    epochs = epochs_table(runs)
    epochs["corpus"] = epochs["run_id"].map(runs.set_index("run_id")["corpus"])
    drawn = {
        "curves": figures.plot_curves(runs, epochs, ["loss"], by="corpus"),
        "params": figures.plot_metric_vs_params(runs),
        "heatmap": figures.plot_heatmaps(runs, "ws353_spearman"),
        "scatter": figures.plot_trainer_scatter(runs),
    }
    words = ["king", "queen", *MATH[2:], "man", "woman"]
    vectors = []
    for seed in (0, 1):
        kv = KeyedVectors(vector_size=4)
        kv.add_vectors(words, np.random.default_rng(seed).normal(size=(len(words), 4)))
        vectors.append(kv)
    found = overlay.pca_overlays(vectors, [MATH[0], MATH[1]], seed_words=words, target=6)
    drawn.update({"pca2d": found.fig2d, "pca3d": found.fig3d})
    for name, fig in drawn.items():
        assert fig is not None, name
        figures.save_figure(fig, tmp_path / f"{name}.png")  # raised ValueError (mathtext)
        texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
        assert name == "scatter" or any("$" in t for t in texts), name  # there, as written


# -- real processes (slow) ------------------------------------------------------------------------
def _report_process(study: Path, *extra: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen:
    return subprocess.Popen(
        [*prefix, sys.executable, "-m", "study", "report", str(study), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _whole(out: Path) -> None:
    """A report whose every figure link resolves, and no build folder left."""
    markdown = (out / "report.md").read_text()
    links = re.findall(r"\]\(<(figures/[^>]+)>\)", markdown)
    assert links and all((out / link).is_file() for link in links)
    assert not list(out.glob(".report-*"))


@pytest.mark.slow
def test_concurrent_report_processes_never_crash_on_each_other(synthetic, tmp_path):
    """Two reports on one study crashed on each other's temporary figures (seen 2 of 9)."""
    study = tmp_path / "study"
    shutil.copytree(synthetic, study)
    for _ in range(3):
        processes = [_report_process(study) for _ in range(2)]
        for process in processes:
            _, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
        _whole(study)


@pytest.mark.slow
def test_a_report_killed_by_a_file_size_limit_or_sigterm_leaves_the_previous_one(
    synthetic, tmp_path
):
    """ulimit -f and SIGTERM, in real processes: the old report stays byte for byte."""
    from fault_inject import run_worker

    study = tmp_path / "study"
    shutil.copytree(synthetic, study)
    assert main(["report", str(study)]) == 0
    before = snapshot(study)
    code = run_worker(["report", str(study)], tmp_path / "fsize.txt", fsize_limit=20_000)
    text = (tmp_path / "fsize.txt").read_text()
    assert code == 2 and "File too large" in text and "Traceback" not in text, text
    assert snapshot(study) == before
    process = _report_process(study)
    deadline = time.monotonic() + 120
    while not list(study.glob(".report-*/figures/*.png")) and time.monotonic() < deadline:
        time.sleep(0.01)  # SIGTERM once the build is under way
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode in (0, 130), err  # 0: it had finished the swap first
    if process.returncode == 130:
        assert snapshot(study) == before and "interrupted" in err
    _whole(study)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="no setpriv")
def test_a_report_of_a_read_only_study_is_one_line(synthetic, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(synthetic, study)
    study.chmod(0o555)
    prefix = ("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--")
    process = _report_process(study, prefix=prefix if os.geteuid() == 0 else ())
    _, err = process.communicate(timeout=300)
    study.chmod(0o755)
    assert process.returncode == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: cannot write the report in {study}: Permission denied")
