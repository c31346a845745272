"""Write a synthetic panel and its ground truth.

    python -m scripts.make_synthetic --scenario geo --seed 0 --out data/synthetic/geo_0

writes ``data/synthetic/geo_0.csv`` (long format: ``date, region, sales``,
activity per channel, ``<channel>_spend``, ``price, promo``) and
``data/synthetic/geo_0.truth.json`` (per-channel adstock, Hill, β, edges and
true incremental KPI / ROI from counterfactual re-simulation; see
``dcmmm.data.synthetic.truth``), then prints the data-config keys to use.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from dcmmm.data.synthetic import SCENARIOS, data_keys, scenario, simulate
from dcmmm.errors import ConfigError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="geo", help=f"one of {', '.join(SCENARIOS)}")
    p.add_argument("--seed", type=int, default=0, help="draws parameters, spend, controls, noise")
    p.add_argument(
        "--out", required=True, help="output prefix; writes <out>.csv and <out>.truth.json"
    )
    p.add_argument("--n-regions", type=int, default=None, help="override the scenario's regions")
    p.add_argument("--n-weeks", type=int, default=None, help="override the scenario's weeks")
    p.add_argument(
        "--noise-sd", type=float, default=None, help="KPI noise sd relative to region mean"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        cfg = scenario(args.scenario)
        overrides = {
            k: v
            for k, v in (
                ("n_regions", args.n_regions),
                ("n_weeks", args.n_weeks),
                ("noise_sd", args.noise_sd),
            )
            if v is not None
        }
        if overrides:
            cfg = dataclasses.replace(cfg, **overrides)
        frame, truth, _ = simulate(cfg, args.seed)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path = out.parent / f"{out.name}.csv"
    json_path = out.parent / f"{out.name}.truth.json"
    frame.to_csv(csv_path, index=False, date_format="%Y-%m-%d")
    json_path.write_text(json.dumps(truth, indent=2) + "\n")
    keys = data_keys(cfg)
    print(f"wrote {csv_path} ({len(frame)} rows) and {json_path}")
    print("data keys:", json.dumps({"path": str(csv_path), **keys}))
    overrides_line = " ".join(
        f"data.{k}={'null' if v is None else ('[' + ','.join(v) + ']' if isinstance(v, list) else v)}"
        for k, v in {"path": str(csv_path), **keys}.items()
    )
    print("hydra overrides:", overrides_line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
