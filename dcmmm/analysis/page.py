"""The HTML building blocks of dcmmm's self-contained pages (report.html,
plan.html): the styles, tables, embedded figures and the page itself.

Figures are drawn with matplotlib's object API (`matplotlib.figure.Figure`,
no global backend) and embedded as base64 PNGs; styles are inline. A page
loads no external resource, so it can be mailed or archived as one file.
"""

import base64
import html
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3",
           "#8c8c8c", "#ccb974", "#64b5cd")
CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; color: #222; line-height: 1.4; padding: 0 1em; }
h1 { border-bottom: 2px solid #4c72b0; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: right; }
th { background: #f2f4f8; }
td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; height: auto; display: block; margin: .8em 0; }
.note { color: #666; font-style: italic; }
.summary { background: #f2f4f8; padding: .6em 1em; border-radius: 4px; display: inline-block; }
.scroll { overflow-x: auto; max-width: 100%; }
.answer { background: #f7f9fc; border: 1px solid #dde6f3; border-radius: 6px; padding: .2em 1.2em 1em; }
.answer h3 { margin: 1em 0 .3em; font-size: 1.05em; }
.answer p, .answer ul { margin: .3em 0; }
.good { color: #2e7d32; font-weight: 600; }
.warn { color: #b26a00; font-weight: 600; }
.bad { color: #c62828; font-weight: 600; }
"""


def png(fig: Figure) -> str:
    """<img> tag with the figure as an embedded base64 PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def fmt(value) -> str:
    """A number for a table: NaN/None as an empty cell, 4 significant digits."""
    if value is None or (isinstance(value, float | np.floating) and not np.isfinite(value)):
        return ""
    if isinstance(value, float | np.floating):
        a = abs(value)
        return f"{value:,.0f}" if a >= 1e4 else f"{value:.4g}"
    return html.escape(str(value))


def table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    # a table wider than the page scrolls inside its own box, never the page
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>'
            f"</table></div>")


def time_axis(dates: pd.Series) -> np.ndarray:
    """Dates as datetimes when they parse as such, else as numbers (week ids)."""
    values = pd.Series(dates)
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        return numeric.to_numpy()
    parsed = pd.to_datetime(values, errors="coerce")
    if parsed.notna().all():
        return parsed.to_numpy()
    return np.arange(len(values))


def paragraph(text: str, cls: str | None = None) -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<p{attr}>{html.escape(text)}</p>"


def html_page(title: str, sections) -> str:
    """One self-contained HTML page: the title and (heading, HTML) sections,
    with the report's styles inline."""
    body = "".join(f"<h2>{html.escape(name)}</h2>\n{content}\n" for name, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n"
            f"<body><h1>{html.escape(title)}</h1>\n{body}</body></html>\n")
