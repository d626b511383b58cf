"""Reports: one self-contained HTML page per run with its metrics, training curves and pictures.

    vaekit report runs/digits            # -> runs/digits/report.html
    vaekit.report.make_report(run)       # the same in Python
"""

from vaekit.report.page import make_report, render_report
from vaekit.report.svg import bar_chart, line_chart, scatter

__all__ = ["bar_chart", "line_chart", "make_report", "render_report", "scatter"]
