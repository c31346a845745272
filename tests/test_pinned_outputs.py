"""Every numeric output of three small runs equals the values pinned before a refactor.

The oracle is tests/pinned/ (recorded by `python -m tests.pinned_runs` at the
commit named in tests/pinned_runs.py), or the set recorded for this CPU kind
under tests/pinned/machines/ (`pinned_runs.machine_kind`: float32 sums round
differently on another CPU, see tests/pinned_runs.py). Equality is to 1e-6 of each column's
largest magnitude (float32 arithmetic, written with 9 significant digits).
Columns (and JSON keys) that outputs gained after the recording are not
pinned; every pinned column must still be there, in the same order.
"""

import numpy as np
import pandas as pd
import pytest

from tests.pinned_runs import PINNED, RUNS, run


@pytest.mark.parametrize("name", sorted(RUNS))
def test_numeric_outputs_equal_pinned(name, tmp_path):
    got = run(name, tmp_path / name)
    files = sorted(p.name.removesuffix(".gz") for p in (PINNED / name).glob("*.gz"))
    assert sorted(got) == files
    for file in files:
        want = pd.read_csv(PINNED / name / f"{file}.gz")
        have = got[file]
        if list(want.columns) == ["key", "value"]:  # a JSON file: keys gained are not pinned
            assert set(want["key"]) <= set(have["key"]), f"{file}: pinned keys missing"
            have = have.set_index("key").loc[want["key"]].reset_index()
        assert [c for c in have.columns if c in want.columns] == list(want.columns), file
        assert len(have) == len(want), file
        for col in want.columns:
            w, h = want[col], have[col]
            if pd.api.types.is_numeric_dtype(w) and not pd.api.types.is_bool_dtype(w):
                w, h = w.to_numpy(float), h.to_numpy(float)
                assert np.array_equal(np.isnan(w), np.isnan(h)), f"{file}:{col} NaNs differ"
                scale = max(np.nanmax(np.abs(w), initial=0.0), 1e-12)
                np.testing.assert_allclose(h, w, rtol=1e-6, atol=1e-6 * scale,
                                           equal_nan=True, err_msg=f"{name} {file}:{col}")
            else:
                assert h.astype(str).tolist() == w.astype(str).tolist(), f"{file}:{col}"
