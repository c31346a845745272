"""The planner page: a Streamlit app over one finished run (docs/design.md,
"Planner page"), started by `python plan.py run=RUN_DIR serve=true`.

Modules: `view` (the numbers of one plan: plan.csv's table, response curves,
the weekly KPI; pure), `session` (the run opened once, uploads, optimise,
downloads; no Streamlit), `text` (the page's words), `charts` (Altair),
`app` (the Streamlit script), `serve` (the server's command line).
"""
