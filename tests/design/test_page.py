"""design.html's words and table (dcmmm.design.page)."""

import math

from dcmmm.design.page import _sentence, table_of_tests


def a_test(**change):
    test = {"channel": "social", "treatment": ["r1", "r2"], "start": "2024-07-01",
            "end": "2024-10-14", "measure_end": "2024-10-21", "weeks": 16, "cooldown_weeks": 1,
            "weeks_why": "design.weeks", "expected_lift": 78251.0, "expected_lift_lo": 43642.0,
            "expected_lift_hi": 317999.0, "lift_se": 15716.0, "relative_se": 0.2008,
            "power": 0.9987, "roi": 1.483, "roi_sd_now": 3.068, "roi_sd_after": 0.2964,
            "interval_shrinkage": 0.9, "evaluated_on": ["2023-03-27", "2023-08-21"],
            "balance": {"smd": 0.021, "corr": 0.912}}
    return {**test, **change}


def test_the_sentence_counts_weeks_and_names_what_the_roi_column_holds():
    text = _sentence(a_test(), 0.95)
    assert "for 16 weeks, 2024-07-01 to 2024-10-14" in text
    assert "a cool-down of 1 week for" in text and "1 weeks" not in text
    assert "the channel's ROI interval should shrink by 90%" in text
    one = _sentence(a_test(weeks=1, cooldown_weeks=2, treatment=["r1"]), 0.95)
    assert "off in 1 region for 1 week, " in one and "a cool-down of 2 weeks" in one
    assert text.startswith("Switch social off in 2 regions for 16 weeks")
    # without spend design.json's roi holds the incremental KPI: the page says so
    without = _sentence(a_test(), 0.95, has_spend=False)
    assert "incremental KPI interval should shrink" in without and "ROI" not in without


def test_the_table_holds_one_formatted_row_per_test():
    table = table_of_tests([a_test(), a_test(channel="search", power=0.76, relative_se=0.38)], True)
    assert list(table["channel"]) == ["social", "search"]
    assert list(table["power"]) == ["100%", "76%"] and list(table["se / lift"]) == ["20%", "38%"]
    assert table["members"][0] == "43,642–317,999"
    assert table["ROI sd: now → after"][0] == "3.068 → 0.2964"
    assert table["balance: smd, corr"][0] == "0.02, 0.91"
    no_spend = table_of_tests([a_test(expected_lift_lo=math.nan)], False)
    assert "incremental KPI" in no_spend.columns and "ROI" not in no_spend.columns
    mixed = table_of_tests([a_test(), a_test(expected_lift_lo=math.nan)], True)
    assert list(mixed["members"]) == ["43,642–317,999", ""]  # a test without a range
    # a single fit has no ensemble range and, without a profile, no sd: no empty columns
    single = table_of_tests([a_test(expected_lift_lo=math.nan, roi_sd_now=math.nan,
                                    roi_sd_after=math.nan)], False)
    assert "members" not in single.columns and not any("sd" in c for c in single.columns)
    assert list(single.columns)[-1] == "balance: smd, corr"


def test_the_console_summary_names_what_the_sd_is_of_and_drops_it_when_there_is_none():
    from dcmmm.design.summary import design_summary, test_rows

    def record(*tests):
        return {"tests": list(tests), "why": "extrapolated", "control": ["r3", "r4"],
                "settings": {"power": 0.8, "precision": 0.5, "min_power": 0.5}}

    with_roi = a_test(level=0.95, roi_is="roi")
    assert test_rows([with_roi])["ROI sd now -> after"][0] == "3.07 -> 0.296"
    text = " ".join(design_summary(record(with_roi)).split())
    assert "ROI sd: what the run knows of the ROI now and after the test." in text
    assert "se/lift: how precisely the test measures the ROI;" in text
    # a run without spend and without an ensemble (the DMA panel's default): no sd to shrink
    effect = a_test(level=0.95, roi_is="incremental_kpi", roi=4.0e9, roi_sd_now=math.nan,
                    roi_sd_after=math.nan)
    assert list(test_rows([effect]).columns)[-1] == "power"
    text = " ".join(design_summary(record(effect)).split())
    assert "measures the channel's effect (incremental KPI);" in text and "ROI" not in text
    assert ("No effect sd before and after: the run has no interval on the channel's effect "
            "(incremental KPI); model.ensemble_size=9 gives one.") in text
    # design.json written before roi_is: ROI, as it was
    old = {k: v for k, v in with_roi.items() if k != "roi_is"}
    assert "ROI sd now -> after" in test_rows([old])
