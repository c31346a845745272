"""A bounded load test of the planner page on loopback (issue 19).

    python -m scripts.planner_load RUN_DIR [--sessions 5] [--moves 10] [--limit 1.0] [--browser]

Starts the page's server on a free 127.0.0.1 port and opens `--sessions`
sessions at once; in every session a slider moves `--moves` times (1% of a
channel's spend, alternately up and down; session i moves channel i mod C),
all sessions concurrently, each move sent when the previous one was
answered.

- Default: each session is a client of Streamlit's own websocket protocol
  (`/_stcore/stream`, the messages the browser sends): a move is the
  browser's rerun request with the slider's new value, and it is answered
  when the server has sent the whole new page (its `script_finished`). The
  latency is the server's answer as a browser receives it, without the
  browser's drawing, which happens on each user's own machine.
- `--browser`: each session is a headless Chromium page; a move is a key
  press on the slider, answered when the page's spend figure shows the new
  plan. The 5 browsers' drawing (Vega charts, in software) then shares the
  server's CPU cores.

Prints one JSON line: the latencies' median and maximum, each session's
maximum, the error messages the pages showed, whether the server logged a
failure, and `ok` (every move answered within `--limit` seconds, no error).
Exit code 1 when not ok.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SPEND = '[data-testid="stMetricValue"]'  # the first metric: the plan's spend


async def _session(browser, url: str, index: int, moves: int, timeout: float) -> dict:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    await page.goto(url)
    await page.locator(SPEND).first.wait_for(timeout=timeout * 1000)
    sliders = page.locator('[data-testid="stSlider"] input[type="range"]:not([disabled])')
    thumb = sliders.nth(index % await sliders.count())
    await thumb.focus()
    latencies = []
    for k in range(moves):
        before = (await page.locator(SPEND).first.inner_text()).strip()
        started = time.perf_counter()
        await thumb.press("ArrowRight" if k % 2 == 0 else "ArrowLeft")
        await page.wait_for_function(
            """([selector, before]) => {
                 const e = document.querySelector(selector);
                 return e && e.innerText.trim() !== before;
               }""", arg=[SPEND, before], timeout=timeout * 1000, polling=10)
        latencies.append(time.perf_counter() - started)
        await page.wait_for_timeout(200)
    errors = await page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]'
                                ).all_inner_texts()
    await context.close()
    return {"session": index, "latencies": latencies, "errors": errors}


def _messages(raw: bytes):
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    msg = ForwardMsg()
    msg.ParseFromString(raw)
    return msg


async def _until_finished(ws, timeout: float) -> tuple[dict, list[str]]:
    """Read a run's messages up to its end: ({slider label: widget id}, the
    texts of its error elements)."""
    sliders, errors = {}, []
    while True:
        msg = _messages(await asyncio.wait_for(ws.recv(), timeout))
        kind = msg.WhichOneof("type")
        if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            which = element.WhichOneof("type")
            if which == "slider" and not element.slider.disabled:
                sliders[element.slider.label] = element.slider.id
            elif which == "alert" and element.alert.format == element.alert.ERROR:
                errors.append(element.alert.body)
            elif which == "exception":
                errors.append(element.exception.message)
        if kind == "script_finished":
            return sliders, errors


async def _protocol_session(url: str, index: int, moves: int, timeout: float,
                            ready: asyncio.Barrier) -> dict:
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg

    def rerun(widget: str | None = None, value: float | None = None) -> bytes:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        if widget is not None:
            state = msg.rerun_script.widget_states.widgets.add()
            state.id = widget
            state.double_array_value.data.append(value)
        return msg.SerializeToString()

    stream = url.replace("http://", "ws://") + "/_stcore/stream"
    async with websockets.connect(stream, subprotocols=["streamlit"], max_size=None) as ws:
        await ws.send(rerun())
        sliders, errors = await _until_finished(ws, timeout)
        widget = list(sliders.values())[index % len(sliders)]
        await ready.wait()  # every session has its page: the moves start together
        latencies = []
        for k in range(moves):
            started = time.perf_counter()
            await ws.send(rerun(widget, 101.0 if k % 2 == 0 else 100.0))
            errors += (await _until_finished(ws, timeout))[1]
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.2)
    return {"session": index, "latencies": latencies, "errors": errors}


async def _load(url: str, sessions: int, moves: int, timeout: float, browser: bool = False,
                pid: int | None = None) -> tuple[list[dict], float | None]:
    """(each session's result, the server's CPU seconds over the moves; None with
    `browser`)."""
    if not browser:
        ready = asyncio.Barrier(sessions + 1)
        work = asyncio.gather(*(_protocol_session(url, i, moves, timeout, ready)
                                for i in range(sessions)))
        await ready.wait()
        cpu = _cpu_seconds(pid) if pid else 0.0
        results = await work
        return results, (_cpu_seconds(pid) - cpu if pid else None)
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            return await asyncio.gather(*(_session(browser, url, i, moves, timeout)
                                          for i in range(sessions))), None
        finally:
            await browser.close()


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_test(run_dir: str, sessions: int = 5, moves: int = 10, limit: float = 1.0,
              timeout: float = 180.0, browser: bool = False) -> dict:
    """Run the load test on the finished run `run_dir` (see the module's doc)."""
    from dcmmm.planner.serve import free_port, start
    from dcmmm.planner.session import TIMING

    with tempfile.TemporaryDirectory(prefix="dcmmm-load-") as tmp:
        log = Path(tmp) / "server.log"
        os.environ[TIMING] = "1"  # the server prints each run's time
        with log.open("w") as out:
            proc, url = start({"run": str(run_dir), "page": {"port": free_port()}}, stdout=out,
                              stderr=subprocess.STDOUT)
        try:
            results, cpu = asyncio.run(_load(url, sessions, moves, timeout, browser, proc.pid))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        text = log.read_text()
        server_failed = "planner page failed" in text or "Traceback" in text
        runs = [[float(x) for x in re.findall(r"([0-9.]+) ms", line)]
                for line in text.splitlines() if line.startswith("dcmmm planner run:")]
    every = [t for r in results for t in r["latencies"]]
    errors = [e for r in results for e in r["errors"]]
    return {"run": str(run_dir), "client": "browser" if browser else "protocol",
            "sessions": sessions, "moves": moves, "limit_s": limit,
            "answered": len(every), "median_s": statistics.median(every), "max_s": max(every),
            "per_session_max_s": [max(r["latencies"]) for r in results],
            "server_run_ms": {"median_wall": statistics.median(r[0] for r in runs[sessions:]),
                              "max_wall": max(r[0] for r in runs[sessions:]),
                              "median_script_thread_cpu": statistics.median(
                                  r[1] for r in runs[sessions:]),
                              "process_cpu_per_move": None if cpu is None
                              else 1e3 * cpu / (sessions * moves)},
            "errors": errors, "server_failed": server_failed, "cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0],
            "ok": len(every) == sessions * moves and max(every) <= limit and not errors
            and not server_failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--moves", type=int, default=10)
    parser.add_argument("--limit", type=float, default=1.0, help="seconds per answer")
    parser.add_argument("--browser", action="store_true", help="headless Chromium sessions")
    args = parser.parse_args()
    out = load_test(args.run_dir, args.sessions, args.moves, args.limit, browser=args.browser)
    print(json.dumps(out))
    sys.exit(0 if out["ok"] else 1)


if __name__ == "__main__":
    main()
