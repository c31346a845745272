"""Forward planning: the weeks after a fitted model's data (docs/design.md,
"Decisions", forward planning).

Modules: `spec` (PlanSpec, the bounds), `horizon` (the model over the plan's
window and a plan's KPI, pure JAX), `optimise` (projected gradient ascent,
one budget or many vmapped), `planner` (Planner: evaluate and optimise plans
of one fitted model), `tables` (plan.csv, plan_weekly.csv, the summary;
`plan`, the Python API), `report` (plan.html), `run` (what `plan.py` runs).
The plan's weeks themselves are read by `dcmmm.data.future`.
"""
