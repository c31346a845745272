"""Pages measured in headless Chromium, as a reader's browser lays them out.

Playwright drives Debian's /usr/bin/chromium (`apt-get install chromium`;
.ci/run installs it). `playwright install` is never used: it downloads its own
browsers. Tests that need the browser skip only where /usr/bin/chromium is
absent.
"""

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason="needs /usr/bin/chromium (apt-get install chromium)")

# Per table: its width and the right edge of what a reader sees of it, i.e.
# clipped by the nearest ancestor that scrolls sideways (a table wider than
# its section scrolls inside it and never pushes the page wider).
MEASURE = """() => {
  const tables = Array.from(document.querySelectorAll('table')).map(t => {
    let right = t.getBoundingClientRect().right;
    for (let e = t.parentElement; e; e = e.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(e).overflowX)) {
        right = Math.min(right, e.getBoundingClientRect().right);
        break;
      }
    }
    return {width: t.getBoundingClientRect().width, visible_right: right};
  });
  return {page: document.documentElement.clientWidth,
          scroll_width: document.documentElement.scrollWidth, tables: tables};
}"""


def measure(pages: list[Path], width: int = 1300, css: str | None = None) -> list[dict]:
    """Each page laid out in a `width` px wide window (with `css` added, if given):
    `page` (its width), `scroll_width` (wider than `page` when the page scrolls
    sideways) and per table its `width` and `visible_right` (px)."""
    from playwright.sync_api import sync_playwright

    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            view = browser.new_page(viewport={"width": width, "height": 900})
            for page in pages:
                view.goto(Path(page).resolve().as_uri())
                if css:
                    view.add_style_tag(content=css)
                out.append(view.evaluate(MEASURE))
        finally:
            browser.close()
    return out


def past_the_page(layout: dict) -> list[dict]:
    """The tables of a measured page that a reader sees running past its right edge."""
    return [t for t in layout["tables"] if t["visible_right"] > layout["page"] + 0.5]
