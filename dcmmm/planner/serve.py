"""Starting the planner page: `python plan.py run=RUN_DIR serve=true`
(docs/design.md, "Planner page").

Streamlit runs `dcmmm/planner/app.py` with settings that keep the page
private and offline: it binds `page.host` (127.0.0.1: this machine only),
runs headless (no browser opened), sends no usage statistics, shows no error
details or tracebacks, takes uploads up to `page.max_upload_mb`, and never
watches or reruns source files. The run directory and the plan settings go
to the page in one environment variable and cannot be changed from it.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dcmmm.config import check_plan_config, plan_spec
from dcmmm.config_keys import read
from dcmmm.errors import ConfigError
from dcmmm.planner.session import DEFAULT_UPLOAD_MB, ENV
from dcmmm.planning.run import check_spend

APP = Path(__file__).with_name("app.py")
HOST, PORT = "127.0.0.1", 8501
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def page_settings(cfg: dict) -> tuple[str, int, int]:
    """(host, port, max_upload_mb) of the `page` group."""
    return (read(cfg, "page.host", HOST), read(cfg, "page.port", PORT),
            read(cfg, "page.max_upload_mb", DEFAULT_UPLOAD_MB))


def command(cfg: dict) -> tuple[list[str], dict]:
    """(argv, environment) of the Streamlit server of the config `cfg`
    (conf/plan.yaml's). Checks the config and the run first: ConfigError."""
    check_plan_config(cfg)
    run_dir = Path(read(cfg, "run")).resolve()
    if not run_dir.is_dir():
        raise ConfigError(f"run '{run_dir}' is not a directory: give a finished run (train.py's "
                          "output directory)")
    check_spend(run_dir)
    _, path = plan_spec(cfg)
    host, port, max_mb = page_settings(cfg)
    page = {**cfg, "run": str(run_dir),
            "plan": {**cfg.get("plan", {}), "path": str(Path(path).resolve()) if path else None},
            "page": {"host": host, "port": port, "max_upload_mb": max_mb}}
    argv = [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.maxUploadSize", str(max_mb), "--client.showErrorDetails", "none",
            "--client.toolbarMode", "minimal", "--server.fileWatcherType", "none",
            "--server.runOnSave", "false", "--global.developmentMode", "false",
            "--theme.base", "light",
            # a full garbage collection after every run costs ~200 ms with JAX's heap
            "--runner.postScriptGC", "false"]
    # one XLA thread: a page's computations are a few ms each, and the CPU
    # backend's worker pool would spin on the cores the sessions share
    xla = f"{os.environ.get('XLA_FLAGS', '')} {XLA_ONE_THREAD}".strip()
    return argv, {**os.environ, ENV: json.dumps(page, sort_keys=True), "XLA_FLAGS": xla}


def serve(cfg: dict) -> None:
    """Become the page's server (this process is replaced: Ctrl-C stops it)."""
    argv, env = command(cfg)
    host, port, _ = page_settings(cfg)
    print(f"dcmmm planner: http://{host}:{port} (run {read(cfg, 'run')}); Ctrl-C stops it",
          flush=True)
    os.execve(argv[0], argv, env)


def free_port(host: str = HOST) -> int:
    """A port nobody listens on now (for tests and scripts)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def start(cfg: dict, timeout: float = 180.0, **popen) -> tuple[subprocess.Popen, str]:
    """Start the page's server in the background and wait until it answers:
    (the process, its URL). For tests, scripts and benchmarks; RuntimeError
    when it does not come up."""
    argv, env = command(cfg)
    host, port, _ = page_settings(cfg)
    proc = subprocess.Popen(argv, env=env, **popen)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the planner's server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError(f"the planner's server did not answer at {url} in {timeout:.0f} s")
