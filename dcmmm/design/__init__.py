"""Designing the experiment the data need: geo lift tests for the channels
whose ROI the data cannot tell (`python design.py run=RUN_DIR`).

Modules: `groups` (balanced treatment regions), `power` (the test's
estimator, its standard error and power), `expected` (what the fitted model
expects a test to show), `propose` (the design), `page` (design.html),
`run` (design.py's main: a run directory in, design files out).
"""
