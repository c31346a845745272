"""Smoke test of scripts/benchmark.py: one tiny grid point, the CSV row and the plot."""

import pandas as pd

from scripts import benchmark as bench


def test_benchmark_point_and_plot(tmp_path):
    row = bench.measure_point(regions=4, weeks=60, hidden=4, steps=2, calls=1)
    assert set(bench.COLUMNS) == set(row)
    assert row["steps_per_s"] > 0 and row["compile_s"] > 0
    assert row["region_weeks_per_s"] == row["steps_per_s"] * 4 * 60
    assert row["channels"] == 5 and row["peak_rss_mb"] > 0
    frame = pd.DataFrame([row, dict(row, regions=8)], columns=bench.COLUMNS)
    bench.plot(frame, tmp_path / "benchmark.png")
    assert (tmp_path / "benchmark.png").stat().st_size > 0
