"""A screenshot of the planner page on a finished run (experiments/planner/page.png).

    python -m scripts.screenshot_planner RUN_DIR [--out experiments/planner/page.png]

Starts the page's server on a free loopback port, opens it in headless
Chromium (/usr/bin/chromium), presses Optimise (the best split of the given
budget) so that the sliders, the points on the curves and the two weekly
lines show a plan that differs from the given one, opens "What the words
mean", and saves the whole page as a PNG of at most 256 colours.
"""

import argparse
import io
import subprocess
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTH = 1400


def screenshot(run_dir: str, out: Path) -> int:
    """Save the page's screenshot at `out`; returns its size in bytes."""
    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    from dcmmm.planner.serve import free_port, start

    proc, url = start({"run": str(run_dir), "page": {"port": free_port()}},
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page(viewport={"width": WIDTH, "height": 1000})
            page.goto(url)
            spend = page.locator('[data-testid="stMetricValue"]').first
            spend.wait_for(timeout=180_000)
            sliders = page.locator('[data-testid="stSlider"] input[type="range"]')
            page.get_by_role("button", name="Optimise").click()
            expect(sliders.first).not_to_have_value("100", timeout=120_000)
            page.get_by_text("What the words mean").click()
            page.wait_for_timeout(4000)  # the charts drawn
            height = page.evaluate(
                "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
            page.set_viewport_size({"width": WIDTH, "height": height + 40})
            page.wait_for_timeout(2000)
            png = page.screenshot(full_page=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, optimize=True)
    return out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--out", type=Path, default=Path("experiments/planner/page.png"))
    args = parser.parse_args()
    size = screenshot(args.run_dir, args.out)
    print(f"{args.out}: {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
