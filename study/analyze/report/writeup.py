"""`study findings levy2015`: a standalone Markdown write-up of a study's literature check, from
the study folder alone: the command that ran it (study.json, redacted), its config, the machine
and commit (run provenance), the claims table, the cells in the paper's layout, optionally the
same claims in a second study (another corpus size) side by side, and hand-written notes
included verbatim. Nothing in it depends on when it is written, so regenerating it gives the
same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from study.analyze.analysis import NOT_HYPERPARAMETERS, fmt_value, none_as_value, sorted_values
from study.analyze.inference import DEFAULT_MARGIN, StudyItems
from study.analyze.report import literature
from study.analyze.report.render import NO_COMMAND, code_block, markdown_table, md_text
from study.analyze.report.tables import provenance_table
from study.core.atomic import atomic_write_text
from study.core.config import field_names
from study.core.errors import StudyError
from study.core.redact import redact
from study.store.results import ResultStore, RunRecord, load_table

MACHINE_LEFT_OUT = {"host", "git_revision", "git_dirty", "seeds"}  # host: not for a public page


@dataclass
class StudyCheck:
    """One study's literature check, with what the write-up says about where it came from."""

    store: ResultStore
    runs: pd.DataFrame  # the SGNS runs
    found: literature.LiteratureCheck
    records: list[RunRecord]

    @property
    def label(self) -> str:
        """The study's name with the words trained on per run, e.g. `wiki8-3m (3,000,000 words)`."""
        if "corpus_words" not in self.runs:
            return self.store.name
        words = self.runs["corpus_words"].dropna().unique()
        if len(words) == 1:
            return f"{self.store.name} ({int(words[0]):,} words)"
        return self.store.name


def study_check(study_dir: str | os.PathLike[str]) -> StudyCheck:
    """The literature check of one study; a study that allows no claim is a one-line error."""
    store = ResultStore(study_dir)
    runs = none_as_value(load_table(store)[0])
    sg = literature.sgns_runs(runs)
    found = literature.check(StudyItems(store, runs), runs, DEFAULT_MARGIN)
    if not found.measured:
        raise StudyError(f"{store.root}: no literature check to write up: {found.left_out}")
    return StudyCheck(store, sg, found, list(store.finished_runs()))


def write_findings(
    study_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    contrast_dir: str | os.PathLike[str] | None = None,
    notes: str | os.PathLike[str] | None = None,
    regenerate: str | None = None,
) -> Path:
    """Write the write-up of the study at `study_dir` to `out` (atomically) and return its path.
    `regenerate`: the command that writes it, shown at the top."""
    text = read_notes(notes) if notes is not None else None  # a bad file: before any work
    main = study_check(study_dir)
    other = study_check(contrast_dir) if contrast_dir is not None else None
    path = Path(out)
    document = render_findings(main, other, text, regenerate)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, document)
    except OSError as exc:
        raise StudyError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def read_notes(path: str | os.PathLike[str]) -> str:
    from study.core.files import FileProblem, read_regular

    try:
        data = read_regular(path, max_bytes=1 << 20)
    except FileProblem as exc:
        raise StudyError(f"--notes {path}: {exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise StudyError(f"--notes {path}: not UTF-8 text") from None


# -- the document ---------------------------------------------------------------------------------
def render_findings(
    main: StudyCheck, other: StudyCheck | None, notes: str | None, regenerate: str | None
) -> str:
    md = md_text
    lines = [f"# {md(literature.SHORT)} in the study {md(main.store.name)}", ""]
    if regenerate is not None:
        lines += ["Written from the study folder by:", "", *code_block(redact(regenerate)), ""]
    lines += [md(f"The claims come from {literature.PAPER}."), ""]
    lines += ["## The study", "", *_study_lines(main), ""]
    lines += ["### Command", "", *code_block(command_text(main.store)), ""]
    lines += ["### Config", "", markdown_table(config_table(main.runs)), ""]
    lines += ["### Machine", "", markdown_table(machine_table(main.records)), ""]
    lines += ["### Commit", "", *[f"- {md(c)}" for c in commits(main.records)], ""]
    lines += ["## Claims", "", *[f"- {md(s)}" for s in literature.summary_lines(main.found)], ""]
    lines += [md(literature.method_note(main.found)), ""]
    lines += [markdown_table(literature.claims_table(main.found)), ""]
    lines += ["## Results in the paper's layout", "", md(literature.LAYOUT_NOTE), ""]
    lines += [markdown_table(main.found.layout), ""]
    if other is not None:
        lines += [f"## The same claims in {md(other.label)}", ""]
        lines += [md(f"Side by side with {main.label}. The study {other.store.name}:"), ""]
        lines += [*_study_lines(other), ""]
        lines += [*code_block(command_text(other.store)), ""]
        lines += [f"Commit: {md('; '.join(commits(other.records)))}", ""]
        lines += [f"- {md(s)}" for s in literature.summary_lines(other.found)] + [""]
        lines += [markdown_table(side_by_side(main, other)), ""]
    if notes is not None:
        lines += ["## Notes", "", notes.rstrip("\n"), ""]
    return "\n".join(lines)


def command_text(store: ResultStore) -> str:
    """Every command that made the study, one per line (NO_COMMAND when none is recorded);
    redacted here too: a study.json written before commands were stored redacted."""
    return "\n".join(redact(c) for c in store.study_commands()) or NO_COMMAND


def _study_lines(check: StudyCheck) -> list[str]:
    runs = check.runs
    seeds = ", ".join(str(s) for s in sorted_values(runs["seed"]))
    lines = [f"SGNS runs done: {len(runs)}, seeds {seeds}"]
    if "corpus" in runs:
        lines.append("corpus: " + ", ".join(map(str, sorted_values(runs["corpus"]))))
    if "corpus_words" in runs and runs["corpus_words"].notna().any():
        words = ", ".join(f"{int(w):,}" for w in sorted_values(runs["corpus_words"]))
        lines.append(f"words in the corpus: {words}")
    return [f"- {md_text(line)}" for line in lines]


def config_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Every config field of the runs: its one value, or the values swept."""
    rows = []
    for name in field_names():
        if name not in runs or name == "seed":
            continue
        values = sorted_values(runs[name])
        shown = ", ".join(fmt_value(v) for v in values) or "–"
        swept = len(values) > 1 and name not in NOT_HYPERPARAMETERS
        rows.append({"field": name, "value": ("swept: " if swept else "") + shown})
    return pd.DataFrame(rows, columns=["field", "value"])


def machine_table(records: Iterable[RunRecord]) -> pd.DataFrame:
    """The runs' provenance (devices, platform, versions, dates), commit and host left out."""
    table = provenance_table(records)
    return table[~table["key"].isin(MACHINE_LEFT_OUT)].reset_index(drop=True)


def commits(records: Iterable[RunRecord]) -> list[str]:
    """Each commit the runs were made at, with its run count and whether the tree was dirty."""
    counts: dict[tuple[str, Any], int] = {}
    for record in records:
        prov = record.result.get("provenance") or {}
        key = (str(prov.get("git_revision") or "unknown"), prov.get("git_dirty"))
        counts[key] = counts.get(key, 0) + 1
    out = []
    for (revision, dirty), n in sorted(counts.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        state = {True: ", uncommitted changes", False: ""}.get(dirty, ", clean or not: unknown")
        out.append(f"{revision} ({n} runs{state})")
    return out


def side_by_side(main: StudyCheck, other: StudyCheck) -> pd.DataFrame:
    """Each contrast and benchmark: Δ and verdict in both studies (– where one lacks it)."""

    def rows(check: StudyCheck) -> dict[tuple[str, str], literature.Measured]:
        return {(m.contrast.label, m.metric): m for m in check.found.measured}

    mine, theirs = rows(main), rows(other)
    labels = [main.label, other.label]
    if labels[0] == labels[1]:  # two studies of one name: told apart by their folders
        labels = [str(main.store.root), str(other.store.root)]
    out = []
    for key in [*mine, *(k for k in theirs if k not in mine)]:
        first = mine.get(key) or theirs[key]
        row = {"claim": f"({first.contrast.claim.key})", "contrast": key[0],
               "benchmark": literature.benchmark_label(key[1])}  # fmt: skip
        for label, found in zip(labels, (mine, theirs), strict=True):
            m = found.get(key)
            row[f"Δ, {label}"] = "–" if m is None else _delta(m)
            row[f"verdict, {label}"] = "–" if m is None else m.verdict
        out.append(row)
    return pd.DataFrame(out)


def _delta(m: literature.Measured) -> str:
    from study.analyze.report.tables import signed

    return "–" if m.estimate is None else signed(m.estimate)
