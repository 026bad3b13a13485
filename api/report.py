"""The one-file report of a run: its tearsheet as a self-contained HTML page.

Everything the page needs is inside it: the styles, the chart library (uPlot, from
``web/node_modules``), the drawing code (``api/static/js/tearsheet.js``) and the tearsheet's data,
so the file opens offline, mailed to someone. It refers to nothing outside itself: URLs that are
data (a fee schedule's source) are shown as text and their slashes JSON-escaped, and a library
whose code names a URL is refused rather than inlined. Rendered by ``GET
/api/backtests/{run_id}/tearsheet.html`` and ``thetadesk report``.
"""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from engine import __version__
from engine.results.history import read_summary
from engine.results.runs import market_line, trust_line
from engine.results.tearsheet import read_tearsheet

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
UPLOT_DIR = ROOT / "web" / "node_modules" / "uplot" / "dist"
REPORT_POINTS = 2_000  # instants per curve: as the dashboard's charts at full width
_URL = re.compile(r"https?://", re.IGNORECASE)
_BANNER = re.compile(r"^/\*!.*?\*/\s*", re.DOTALL)  # a minified library's licence banner


class ReportAssetError(RuntimeError):
    """An asset cannot go into a self-contained report (it names a URL or closes the script)."""


def _inline(text: str, name: str) -> str:
    """``text`` ready to sit inside a ``<script>`` or ``<style>`` of the report, or raise."""
    if _URL.search(text) or "</script" in text.lower() or "</style" in text.lower():
        raise ReportAssetError(f"{name} cannot be inlined: it names a URL or closes its tag")
    return text


def _uplot() -> tuple[str, str] | None:
    """uPlot's script (its global ``uPlot``) and styles; None when it is not installed."""
    js, css = UPLOT_DIR / "uPlot.iife.min.js", UPLOT_DIR / "uPlot.min.css"
    if not (js.is_file() and css.is_file()):
        return None
    # the banner names the project's home page; the version stays in the report's own banner
    version = re.search(r"\(v([\d.]+)\)", js.read_text()[:200])
    code = _BANNER.sub("", js.read_text(), count=1)
    label = f"/* uPlot {version.group(1) if version else ''} (MIT licence), inlined */\n"
    return label + _inline(code, js.name), _inline(css.read_text(), css.name)


def _script_json(value: object) -> str:
    """JSON that can sit in a ``<script>`` element and names no URL (``/`` escaped as ``\\/``)."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("/", "\\/")):
        text = text.replace(char, escaped)
    return text


def _flatten(config: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows = []
    for key, value in config.items():
        if isinstance(value, dict):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _as_text(value: object) -> str:
    """A value as the report shows it; a URL without its scheme (the file links nowhere)."""
    return _URL.sub("", "–" if value is None else str(value))


def render_report(data_dir: Path, run_id: str, *, points: int = REPORT_POINTS) -> str:
    """The report of run ``run_id`` as one HTML document.

    Raises RunNotFoundError / RunUnreadableError as the history does, ReportAssetError when an
    asset cannot be inlined.
    """
    summary = read_summary(data_dir, run_id)
    sheet = read_tearsheet(data_dir, run_id, points=points)
    data = summary["data"]
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(default=True)
    )
    env.filters["text"] = _as_text
    uplot = _uplot()
    html = env.get_template("tearsheet_report.html").render(
        run_id=run_id,
        summary=summary,
        sheet=sheet,
        data=data,
        config_rows=_flatten(summary["config"]),
        market=market_line(data),
        trust=trust_line(data),
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        app_css=_inline((STATIC_DIR / "css" / "app.css").read_text(), "app.css"),
        uplot_js=uplot[0] if uplot else None,
        uplot_css=uplot[1] if uplot else "",
        tearsheet_js=_inline((STATIC_DIR / "js" / "tearsheet.js").read_text(), "tearsheet.js"),
        sheet_json=_script_json(sheet),
    )
    if _URL.search(html):  # a template or a value let one through: never ship it
        raise ReportAssetError(f"the report of run {run_id} would name a URL")
    return html
