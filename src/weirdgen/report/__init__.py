"""Reports of a run: tables, summary.md, a self-contained report.html, figures, terminal tables."""

from weirdgen.report.terminal import TerminalTables, render_table
from weirdgen.report.write import ReportPaths, write_report

__all__ = ["ReportPaths", "TerminalTables", "render_table", "write_report"]
