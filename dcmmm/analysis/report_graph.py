"""The channel graph's part of report.html: its layers, figure and section."""

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dcmmm.analysis.page import PALETTE, note, png, table


def graph_layers(dag: pd.DataFrame) -> dict:
    """{channel: layer} of the channels in `dag` (parent, child): a layer is the
    longest path from a channel without parents, so every edge points right."""
    nodes = list(dict.fromkeys([*dag["parent"].astype(str), *dag["child"].astype(str)]))
    parents = {n: set() for n in nodes}
    for p, c in zip(dag["parent"].astype(str), dag["child"].astype(str)):
        parents[c].add(p)
    layer: dict = {}
    while len(layer) < len(nodes):  # the graph is acyclic (threshold_graph)
        for n in nodes:
            if n not in layer and parents[n] <= set(layer):
                layer[n] = max((layer[p] + 1 for p in parents[n]), default=0)
    return layer


def graph_figure(dag: pd.DataFrame) -> str:
    """The kept edges left to right in topological order: arrow width for the
    weight, each arrow labelled with its weight and stability."""
    layer = graph_layers(dag)
    columns: dict = {}
    for n, k in layer.items():
        columns.setdefault(k, []).append(n)
    pos = {}
    for k, members in columns.items():
        for i, n in enumerate(members):
            pos[n] = (2.2 * k, -(i - (len(members) - 1) / 2))
    height = max(len(m) for m in columns.values())
    fig = Figure(figsize=(2.6 + 2.4 * len(columns), 1.0 + 1.1 * height))
    ax = fig.subplots()
    stable = "stability" in dag
    for row in dag.itertuples(index=False):
        (x0, y0), (x1, y1) = pos[str(row.parent)], pos[str(row.child)]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(
            arrowstyle="-|>", color="#555", lw=1 + 5 * min(abs(float(row.weight)), 1.0),
            shrinkA=30, shrinkB=30, mutation_scale=18))
        label = f"w {float(row.weight):.2f}"
        if stable and np.isfinite(float(row.stability)):
            label += f"\nin {100 * float(row.stability):.0f}% of refits"
        ax.text(0.5 * (x0 + x1), 0.5 * (y0 + y1), label, fontsize=8, ha="center", va="center",
                bbox=dict(boxstyle="round", fc="white", ec="#ccc"))
    for n, (x, y) in pos.items():
        ax.text(x, y, n, ha="center", va="center", fontsize=10,
                bbox=dict(boxstyle="round,pad=0.5", fc="#dde6f3", ec=PALETTE[0]))
    xs = [x for x, _ in pos.values()]
    ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
    ax.set_ylim(-height / 2 - 0.2, height / 2 + 0.2)
    ax.axis("off")
    return png(fig)


def graph_section(dag: pd.DataFrame, channels: pd.DataFrame) -> str:
    """The channel graph: what an edge means, the figure and the edge table, or
    why there is none."""
    intro = note("An edge parent → child says that the parent's activity drives the child's "
                 "(e.g. TV drives searches): switching the parent off also removes the "
                 "child activity it drove, and the KPI that activity brought counts for the "
                 "parent (kpi_mediated, KPI units, all weeks). Weight w: child activity per "
                 "unit of parent activity (both in units of their mean). An edge is kept only "
                 "when it is found in most bootstrap refits (stability).")
    if len(dag) == 0:
        return intro + note("No edge is kept: every channel's effect is its own (no mediated "
                            "effects).")
    edges = dag.copy()
    if "kpi_mediated" in edges and "incremental_total" in channels:
        total = channels.set_index("channel")["incremental_total"]
        edges["share_of_parent_total"] = [
            m / total.get(p, np.nan) if total.get(p, 0) > 0 else np.nan
            for p, m in zip(edges["parent"], edges["kpi_mediated"])]
    alone = sorted(set(channels["channel"].astype(str)) - set(graph_layers(dag)))
    return (intro + graph_figure(dag) + table(edges)
            + (note("Channels without edges: " + ", ".join(alone)) if alone else ""))
