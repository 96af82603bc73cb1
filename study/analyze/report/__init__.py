"""The generated report of a study: `report.html` (self-contained) and `report.md` + `figures/`.

Everything comes from the study folder: the run tables (`study.store.results.load_table`), the saved
vectors (PCA overlays), `study.json` (the reproduce command) and each run's `metrics.json`
(provenance). Only the tables and figures whose data exist are made. `build` assembles,
`tables` formats the analysis tables, `render` writes Markdown and HTML.
"""

from study.analyze.report.build import EDGE_TITLE, ReportOptions, build_report
from study.analyze.report.render import FigureEntry, Report, Table

__all__ = ["EDGE_TITLE", "FigureEntry", "Report", "ReportOptions", "Table", "build_report"]
