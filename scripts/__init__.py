"""Command-line tools around dcmmm, run from the repository root as
`python -m scripts.<name>` (dcmmm itself is the installed package)."""
