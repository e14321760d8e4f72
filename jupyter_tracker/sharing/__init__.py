"""Sharing runs: bundles (export/import), a self-contained HTML report of a run, notebook diffs,
and push/pull to an MLflow tracking server. Each submodule imports its heavy libraries lazily."""
