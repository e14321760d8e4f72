"""System metrics: a sampler thread records CPU and memory use while the cell works."""

from __future__ import annotations

import time

from conftest import run_notebook

import jupyter_tracker as jt
from jupyter_tracker.system_metrics import SystemMetricsSampler


def _busy(seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        sum(i * i for i in range(1000))


def test_metrics_are_sampled_while_a_busy_loop_runs(store_dir):
    with jt.start_run() as run, SystemMetricsSampler(run, interval=0.2) as sampler:
        _busy(1.5)
    assert sampler.samples >= 3
    history = jt.get_metric_history(run.run_id, "system/process_cpu_percent")
    assert history.step.tolist() == list(range(sampler.samples))
    assert history.value.max() > 50  # the busy loop keeps one core busy
    metrics = jt.get_run(run.run_id).metrics
    assert metrics["system/process_rss_mb"] > 1 and 0 < metrics["system/memory_percent"] <= 100
    assert {"system/cpu_percent", "system/disk_read_mb", "system/network_sent_mb"} <= set(metrics)


def test_track_system_samples_a_cell_and_stops_with_it(store_dir, tmp_path):
    notebook = run_notebook([
        "%load_ext jupyter_tracker",
        "%%track --system --system-interval 0.2 -n busy\nimport time\nend = time.time() + 1.2\n"
        "while time.time() < end:\n    sum(range(1000))",
        "import threading\nprint([t.name for t in threading.enumerate() if 'system-metrics' in t.name])",
    ], tmp_path, store_dir)
    (run_id,) = jt.search_runs().run_id
    assert len(jt.get_metric_history(run_id, "system/cpu_percent")) >= 3
    assert notebook.cells[2].outputs[0]["text"].strip() == "[]", "the sampler outlived its cell"


def test_the_sampler_thread_does_not_outlive_the_block(store_dir):
    import threading

    with jt.start_run() as run, SystemMetricsSampler(run, interval=0.1):
        pass
    assert not [t for t in threading.enumerate() if "system-metrics" in t.name]


def test_config_turns_system_metrics_on_for_every_tracked_cell(store_dir, tmp_path):
    run_notebook([
        "%load_ext jupyter_tracker",
        "%config TrackerConfig.system_metrics = True\n%config TrackerConfig.system_metrics_interval = 0.2",
        "%%track -n configured\nimport time\nend = time.time() + 1.0\nwhile time.time() < end:\n    sum(range(1000))",
        "%config TrackerConfig.system_metrics = False",
        "%%track -n plain\nx = 1",
    ], tmp_path, store_dir)
    runs = jt.search_runs().set_index("run_name")
    assert len(jt.get_metric_history(runs.loc["configured", "run_id"], "system/cpu_percent")) >= 3
    assert not any(key.startswith("system/") for key in jt.get_run(runs.loc["plain", "run_id"]).metrics)
