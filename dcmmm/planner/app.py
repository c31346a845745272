"""The planner page: a Streamlit script over one finished run (docs/design.md,
"Planner page"). `python plan.py run=RUN_DIR serve=true` starts it
(`dcmmm.planner.serve`); it is not meant to be run any other way.

Each browser session reruns this script on every change. The run, the given
plan's Planner and the compiled what-if are shared by all sessions
(`st.cache_resource`); a session holds only its sliders and, after an
upload, its own Planner. A user's mistake is one `st.error` line; anything
else is logged on the server and the page says only that something failed.
"""

import json
import logging
import os
import sys
import time

import numpy as np
import streamlit as st

from dcmmm.errors import ConfigError, DataError
from dcmmm.planner import charts, session
from dcmmm.planner.text import (
    GLOSSARY,
    ORIGINS,
    SCENARIOS,
    column_help,
    fmt,
    intro,
    money,
    range_text,
    table_for_page,
)
from dcmmm.planner.view import sliders, view

logger = logging.getLogger("dcmmm.planner")
ALL = "All regions"


@st.cache_resource(show_spinner="Loading the model (once for everyone using this page)...")
def _page_run(config_text: str) -> session.PageRun:
    return session.open_run(json.loads(config_text))


def _key(c: int) -> str:
    return f"pct_{c}"


def _set_sliders(mult_c, origin: str) -> None:
    for c, m in enumerate(mult_c):
        st.session_state[_key(c)] = float(np.round(100.0 * m, 1))
    st.session_state["origin"] = origin


def _optimise(planner, pspec, scenario: str, total, target) -> None:
    """The Optimise button: the scenario's plan set on the sliders."""
    try:
        mult = session.optimise(planner, pspec, scenario, total, target)
    except (ConfigError, DataError) as err:
        st.session_state["action_error"] = str(err)
        return
    _set_sliders(mult, ORIGINS[scenario])
    st.session_state.pop("action_error", None)


def _by_hand() -> None:
    st.session_state["origin"] = "set by hand on this page"


def _uploaded(run: session.PageRun):
    """The session's Planner: the given plan's, or that of a valid uploaded file
    (a bad file: its one-line message, and the given plan stays)."""
    upload = st.session_state.get("upload")
    if upload is None:
        if st.session_state.pop("upload_id", None) is not None:
            _set_sliders(np.ones(run.fitted.panel.n_channels), "the given plan")
            st.session_state.pop("total", None)
        st.session_state.pop("planner", None)
        st.session_state.pop("upload_error", None)
        return run.given
    if st.session_state.get("upload_id") != upload.file_id:
        st.session_state["upload_id"] = upload.file_id
        st.session_state.pop("planner", None)
        st.session_state.pop("upload_error", None)
        try:
            st.session_state["planner"] = session.read_upload(run, upload.name, upload.getvalue())
            st.session_state.pop("total", None)  # the budget box starts at the file's spend
            _set_sliders(np.ones(run.fitted.panel.n_channels),
                         f"the plan file '{session.safe_name(upload.name)}'")
        except (DataError, ConfigError) as err:
            st.session_state["upload_error"] = (f"The plan file '{session.safe_name(upload.name)}' "
                                                "was not used: "
                                                f"{err}")
    return st.session_state.get("planner", run.given)


def _download(make):
    """A download's deferred data: `make()`, or on failure a line saying so (the
    error logged on the server, never shown)."""
    def data() -> bytes:
        try:
            return make()
        except Exception:  # noqa: BLE001 (logged; the user gets one line)
            logger.exception("planner download failed")
            return b"dcmmm planner: this file could not be made; see the server's log\n"
    return data


def _sidebar(run: session.PageRun, planner, mult_c) -> None:
    side = st.sidebar
    side.header("Plan")
    side.file_uploader(
        "Start from a plan file (optional)", key="upload",
        help=f"A .csv or .parquet file in the run's data format for the weeks after the data "
             f"(as the plan CSV below), up to {run.max_upload_mb} MB. Without one, the plan "
             "copies the same weeks a year earlier.")
    if "upload_error" in st.session_state:
        side.error(st.session_state["upload_error"])
    st.session_state.setdefault("scenario", run.pspec.scenario)
    scenario = side.radio("What should **Optimise** do?", list(SCENARIOS), key="scenario",
                          format_func=SCENARIOS.get)
    given = float(planner.spend_rc.sum())
    st.session_state.setdefault("total", float(round(given)))
    total = target = None
    if scenario in ("fixed", "target_roi"):
        total = side.number_input(
            "Total budget over the plan weeks" if scenario == "fixed" else
            "Spend at most", min_value=0.0, step=float(max(round(given / 100), 1)), format="%.0f",
            key="total", help=f"The given plan spends {money(given)}.")
    if scenario in ("target_roi", "target_mroi"):
        target = side.number_input(
            "Target ROI" if scenario == "target_roi" else "Target marginal ROI",
            min_value=0.0, value=1.0, step=0.1, key=f"target_{scenario}",
            help="In the run's KPI units per unit of money.")
    side.button("Optimise", type="primary", on_click=_optimise,
                args=(planner, run.pspec, scenario, total, target))
    if "action_error" in st.session_state:
        side.error(st.session_state["action_error"])
    side.button("Back to the given plan", on_click=_set_sliders,
                args=(np.ones(len(mult_c)), "the given plan"))
    side.header("Download")
    side.download_button("This plan as a CSV (plan_data.csv)",
                         data=_download(lambda: session.plan_csv(planner, mult_c)),
                         file_name="plan_data.csv", mime="text/csv",
                         help="The run's data format: `plan.py plan.path=plan_data.csv` reads it.")
    side.download_button("A report of this plan (plan.html)",
                         data=_download(lambda: session.plan_html(
                             planner, run.pspec, mult_c,
                             f"dcmmm plan: {run.name}, set on the planner page")),
                         file_name="plan.html", mime="text/html")


def _sliders(run: session.PageRun, planner) -> np.ndarray:
    """One slider per channel (percent of the given plan's spend); returns μ [C]."""
    slide = sliders(planner, run.pspec)
    channels = run.fitted.channels
    spend_c = planner.spend_rc.sum(axis=0)
    mult_c = np.ones(len(channels))
    cols = st.columns(min(len(channels), 5))
    for c, name in enumerate(channels):
        st.session_state.setdefault(_key(c), 100.0)
        box = cols[c % len(cols)]
        low, high = 100.0 * slide.lower[c], 100.0 * slide.upper[c]
        if slide.free[c]:
            inside = float(np.clip(st.session_state[_key(c)], low, high))
            if inside != st.session_state[_key(c)]:  # an uploaded plan's bounds, say
                st.session_state[_key(c)] = inside
            pct = box.slider(name, min_value=low, max_value=high, step=1.0, format="%.0f%%",
                             key=_key(c), on_change=_by_hand,
                             help="Spend on this channel as a share of the given plan's.")
        else:
            pct = 100.0
            box.slider(name, min_value=0.0, max_value=200.0, value=100.0, disabled=True,
                       format="%.0f%%", key=f"fixed_{c}", help="Held at the given plan.")
        mult_c[c] = pct / 100.0
        box.caption(f"{money(spend_c[c])} now → **{money(mult_c[c] * spend_c[c])}**")
    return mult_c


def page() -> None:
    run = _page_run(json.dumps(session.page_config(), sort_keys=True))
    planner = _uploaded(run)
    kpi = run.fitted.panel.kpi_name
    st.title("Media budget planner")
    st.markdown(intro(run, planner))
    st.subheader("1. Set the spend on each channel")
    st.caption(f"The sliders hold: {st.session_state.get('origin', 'the given plan')}. 100% is "
               "the given plan's spend on the channel. Move one, or let **Optimise** (left) set "
               "them all.")
    mult_c = _sliders(run, planner)
    _sidebar(run, planner, mult_c)
    st.subheader("2. What this plan brings")
    regions = [ALL, *run.fitted.panel.regions]
    region = st.selectbox("Regions shown", regions, key="region",
                          help="The numbers and charts below for all regions, or for one.")
    v = view(planner, run.pspec, mult_c, None if region == ALL else region)
    cols = st.columns(4)
    cols[0].metric("Spend over the plan weeks", money(v.spend_planned),
                   f"{v.spend_planned - v.spend_given:+,.0f} vs the given plan",
                   delta_color="off")
    cols[1].metric(f"Extra {kpi} from media", fmt(v.kpi_planned),
                   f"{v.kpi_planned - v.kpi_given:+,.0f} vs the given plan",
                   help=f"The {kpi} that this plan's media bring, over the plan weeks and the "
                        "weeks after while their effect fades.")
    cols[2].metric(f"ROI: {kpi} per unit of money", fmt(v.roi),
                   None if v.roi is None or v.roi_given is None
                   else f"{v.roi - v.roi_given:+.3f} vs the given plan")
    cols[3].metric(f"Expected {kpi} in the plan weeks", fmt(v.weekly["expected"].sum()),
                   help="Everything the model expects, media or not.")
    if v.kpi_planned_lo is not None:
        fits = planner.members.kpi_mean.shape[0]
        level = round(100 * run.fitted.spec.ensemble.interval)
        st.caption(f"The model was fitted {fits} times on resampled data; across those fits "
                   f"({level}% interval) the extra {kpi} ranges "
                   f"{range_text(v.kpi_planned_lo, v.kpi_planned_hi, whole=True)}. The ranges "
                   "below are read the same way.")
    st.dataframe(table_for_page(v.table, kpi), hide_index=True,
                 column_config={name: st.column_config.NumberColumn(format=form, help=words)
                                for name, (form, words) in column_help(kpi).items()})
    st.subheader("3. What each channel's spend brings (response curves)")
    st.caption(f"Each curve is the extra {kpi} a channel brings at each level of its spend, the "
               "other channels as in this plan. Where a curve flattens, more money brings "
               "little more.")
    st.vega_lite_chart(charts.curves_spec(v.curves, kpi, run.fitted.channels), width="content")
    st.subheader(f"4. Expected {kpi} per week")
    st.vega_lite_chart(charts.weekly_spec(v.weekly, kpi), width="stretch")
    with st.expander("What the words mean"):
        st.markdown(GLOSSARY.format(kpi=kpi))


def main() -> None:
    st.set_page_config(page_title="dcmmm planner", layout="wide")
    started, cpu = time.perf_counter(), time.thread_time()
    try:
        page()
    except (DataError, ConfigError) as err:
        st.error(str(err))
    except Exception:  # noqa: BLE001 (a bug: logged for the server, one line for the user)
        logger.exception("planner page failed")
        st.error("Something went wrong on the server; the details are in its log. "
                 "Reload the page to start again.")
    if os.environ.get(session.TIMING):
        print(f"dcmmm planner run: {1e3 * (time.perf_counter() - started):.1f} ms wall, "
              f"{1e3 * (time.thread_time() - cpu):.1f} ms cpu", file=sys.stderr, flush=True)


main()
