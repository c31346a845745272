"""Render a report.html to a PNG with headless Chromium, to check the page by eye.

    python -m scripts.screenshot_report RUN_DIR/report.html report.png

Exits 2 with a message when /usr/bin/chromium is absent (install it with
`apt-get install chromium`). The browser gets a throw-away profile and no
network features; the report itself loads nothing external.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")


def screenshot(html_path: Path, png_path: Path, width: int = 1400, height: int = 4000,
               timeout: float = 120.0) -> None:
    """Write a `width` × `height` screenshot of `html_path` to `png_path`."""
    png_path = png_path.resolve()
    with tempfile.TemporaryDirectory() as profile:
        cmd = [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", f"--screenshot={png_path}",
               f"--window-size={width},{height}", html_path.resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not png_path.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {done.returncode}): "
                           f"{done.stderr.strip()[-500:]}")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: screenshot_report.py PATH.html OUT.png", file=sys.stderr)
        return 2
    html_path, png_path = Path(argv[0]), Path(argv[1])
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} not found: install chromium to render screenshots", file=sys.stderr)
        return 2
    if not html_path.exists():
        print(f"no such file: {html_path}", file=sys.stderr)
        return 2
    screenshot(html_path, png_path)
    print(png_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
