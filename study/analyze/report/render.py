"""What a report holds (`Report`) and its two renderings: Markdown (figures linked) and a
self-contained HTML page (figures inlined as base64 PNG)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from study.analyze.analysis import EdgeWarning
from study.analyze.report.tables import fmt_number

NO_COMMAND = "(not recorded in study.json)"


@dataclass
class Table:
    title: str
    frame: pd.DataFrame
    note: str = ""


@dataclass
class FigureEntry:
    title: str
    path: Path  # the PNG, under <out>/figures/
    caption: str = ""


@dataclass
class Report:
    name: str
    html_path: Path
    markdown_path: Path
    summary: list[str] = field(default_factory=list)  # one line each: runs, trainers, sweep
    command: str = NO_COMMAND  # the command that reproduces the study
    tables: list[Table] = field(default_factory=list)
    figures: list[FigureEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    conclusions: list[str] = field(default_factory=list)  # significant effects, in words
    edge_warnings: list[EdgeWarning] = field(default_factory=list)
    provenance: pd.DataFrame = field(default_factory=pd.DataFrame)

    def contents(self) -> list[str]:
        return [t.title for t in self.tables] + [f.title for f in self.figures]


# -- Markdown: user text is text, never markup --------------------------------------------------
# Corpus paths, study names, words, error messages and provenance reach report.md; it copied raw
# HTML and Markdown from them (the HTML report escapes them). Every piece of text is escaped:
# inline markup characters get a backslash (CommonMark allows one before any ASCII punctuation),
# &, < and > become entities, line breaks become spaces, and a start that would open a block (a
# heading, quote, list, setext underline) is escaped too.
_INLINE = re.compile(r"([\\`*_\[\]!|~])")  # "(" only matters after "]", escaped
_BLOCK_START = re.compile(r"^(#{1,6}(?=\s|$)|[+-](?=\s|$)|-{3,}|=+\s*$)")
_ORDERED_START = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")
_LINE_BREAKS = re.compile(r"[\r\n]+")


def md_text(value: Any) -> str:
    """`value` as Markdown that shows exactly its text (on one line, leading blanks dropped)."""
    text = _LINE_BREAKS.sub(" ", str(value)).lstrip()
    text = _INLINE.sub(r"\\\1", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _BLOCK_START.sub(r"\\\1", text)
    return _ORDERED_START.sub(r"\1\\\2", text)


def code_block(text: str) -> list[str]:
    """A fenced code block that no line of `text` can close (a longer fence than any run of
    backticks in it)."""
    runs = [len(r) for r in re.findall(r"`+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return [fence, *re.split(r"\r\n|\r|\n", text), fence]  # Markdown's line endings only


def markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_(empty)_"

    def cell(value: Any) -> str:
        return md_text(fmt_number(value) if isinstance(value, float) else value)

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def render_markdown(report: Report) -> str:
    md = md_text
    lines = [f"# Study report: {md(report.name)}", ""]
    lines += [f"- {md(line)}" for line in report.summary]
    lines += ["", "## Reproduce", "", *code_block(report.command), ""]
    lines += ["## Contents", "", "Tables: " + "; ".join(md(t.title) for t in report.tables)]
    lines += ["", "Figures: " + "; ".join(md(f.title) for f in report.figures), ""]
    if report.warnings:
        lines += ["## Warnings", ""] + [f"- ⚠ {md(w)}" for w in report.warnings] + [""]
    if report.conclusions:
        lines += ["## Conclusions", ""] + [f"- {md(c)}" for c in report.conclusions] + [""]
    for table in report.tables:
        lines += [f"## {md(table.title)}", ""]
        if table.note:
            lines += [md(table.note), ""]
        if not table.frame.empty:
            lines += [markdown_table(table.frame), ""]
    for figure in report.figures:
        relative = figure.path.relative_to(report.markdown_path.parent).as_posix()
        lines += [f"## {md(figure.title)}", ""]
        if figure.caption:
            lines += [md(figure.caption), ""]
        lines += [f"![{md(figure.title)}](<{quote(relative)}>)", ""]
    lines += ["## Provenance", "", markdown_table(report.provenance), ""]
    return "\n".join(lines)


CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f2f2f2; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
/* a table wider than the page (many metric columns) scrolls inside its own box */
.table-scroll { max-width: 100%; overflow-x: auto; margin: 0.5em 0 1.5em; }
.table-scroll table { margin: 0; }
img { max-width: 100%; border: 1px solid #eee; }
.warn { color: #a00; }
figcaption { color: #555; font-size: 0.9em; margin-bottom: 2em; }
"""


def render_html(report: Report) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Study report: {esc(report.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>Study report: {esc(report.name)}</h1><ul>",
        *[f"<li>{esc(line)}</li>" for line in report.summary],
        "</ul><h2>Reproduce</h2>",
        f"<pre>{esc(report.command)}</pre>",
        "<h2>Contents</h2><ul>",
        *[f'<li><a href="#{anchor(t)}">{esc(t)}</a></li>' for t in report.contents()],
        "</ul>",
    ]
    if report.warnings:
        parts.append("<h2>Warnings</h2><ul>")
        parts += [f'<li class="warn">⚠ {esc(w)}</li>' for w in report.warnings]
        parts.append("</ul>")
    if report.conclusions:
        parts.append("<h2>Conclusions</h2><ul>")
        parts += [f"<li>{esc(c)}</li>" for c in report.conclusions]
        parts.append("</ul>")
    for table in report.tables:
        parts.append(f'<h2 id="{anchor(table.title)}">{esc(table.title)}</h2>')
        if table.note:
            parts.append(f"<p>{esc(table.note)}</p>")
        if not table.frame.empty:
            parts.append(
                _scrolling(table.frame.to_html(index=False, escape=True, na_rep="–", border=0))
            )
    for figure in report.figures:
        data = base64.b64encode(figure.path.read_bytes()).decode()
        parts += [
            f'<h2 id="{anchor(figure.title)}">{esc(figure.title)}</h2><figure>',
            f'<img alt="{esc(figure.title)}" src="data:image/png;base64,{data}">',
            f"<figcaption>{esc(figure.caption)}</figcaption></figure>",
        ]
    provenance = report.provenance.to_html(index=False, escape=True, border=0)
    parts += ["<h2>Provenance</h2>", _scrolling(provenance)]
    parts.append("</body></html>")
    return "\n".join(parts)


def _scrolling(table_html: str) -> str:
    return f'<div class="table-scroll">{table_html}</div>'


def anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
