"""The go/no-go report: `read_report` reads what the database held at a moment
(data.py, through console/store/report_reads.py), and the renderers write it as
Markdown (markdown.py) or as one self-contained HTML file with inline SVG charts
(html.py, svg.py), pure functions of that one `ReportData`."""
from .data import ReportData, parse_moment, read_report
from .html import render_html
from .markdown import render_markdown
from .text import md

RENDERERS = {"md": render_markdown, "html": render_html}

__all__ = ["RENDERERS", "ReportData", "md", "parse_moment", "read_report", "render_html", "render_markdown"]
