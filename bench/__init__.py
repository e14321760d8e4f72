"""The benchmark: jupyter_tracker side by side with MLflow, W&B (offline), Aim and Trackio.

``python -m bench`` runs every workload for every installed peer, each measurement in fresh
processes, and writes ``bench/results/latest.json`` and ``latest.md``. See bench/README.md.
"""
