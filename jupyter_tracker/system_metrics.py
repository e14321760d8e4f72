"""System metrics: a background thread samples CPU, memory, disk and network use (and GPUs via NVML
when available) into the run's metrics under ``system/``.

Opt-in (``%%track --system`` or ``with SystemMetricsSampler(run):``). The thread wakes every
``interval`` seconds, reads counters with psutil and logs one batch of metrics; the training loop
pays nothing but the GIL for those few microseconds.
"""

from __future__ import annotations

import os
import threading
import warnings
from typing import Any

DEFAULT_INTERVAL_S = 10.0
_MB = 1024 * 1024


class SystemMetricsSampler:
    """Samples system use into ``run`` every ``interval`` seconds until ``stop()``.

    Metrics: ``system/cpu_percent`` (machine), ``system/process_cpu_percent``,
    ``system/memory_percent``, ``system/memory_used_mb``, ``system/process_rss_mb``,
    ``system/disk_read_mb``/``disk_write_mb`` and ``system/network_sent_mb``/``received_mb`` (since the
    sampler started), ``system/gpu_<i>_utilization_percent`` and ``system/gpu_<i>_memory_used_mb``.
    """

    def __init__(self, run, interval: float = DEFAULT_INTERVAL_S) -> None:
        import psutil

        if not isinstance(interval, (int, float)) or isinstance(interval, bool) or interval <= 0:
            from .errors import InvalidValueError

            raise InvalidValueError(f"the system metrics interval is a positive number of seconds, not {interval!r}")
        self.run = run
        self.interval = float(interval)
        self.samples = 0
        self._psutil = psutil
        self._process = psutil.Process(os.getpid())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._disk0 = self._disk_counters()
        self._net0 = self._net_counters()
        self._gpus = _nvml_handles()
        # The first cpu_percent call only sets the reference point.
        psutil.cpu_percent(None)
        self._process.cpu_percent(None)

    def _disk_counters(self):
        try:
            return self._psutil.disk_io_counters()
        except (OSError, RuntimeError):
            return None

    def _net_counters(self):
        try:
            return self._psutil.net_io_counters()
        except (OSError, RuntimeError):
            return None

    def sample(self) -> dict[str, float]:
        """Read the counters once and return the metrics (without logging them)."""
        psutil = self._psutil
        memory = psutil.virtual_memory()
        metrics: dict[str, float] = {
            "system/cpu_percent": psutil.cpu_percent(None),
            "system/process_cpu_percent": self._process.cpu_percent(None),
            "system/memory_percent": memory.percent,
            "system/memory_used_mb": (memory.total - memory.available) / _MB,
            "system/process_rss_mb": self._process.memory_info().rss / _MB,
        }
        disk = self._disk_counters()
        if disk is not None and self._disk0 is not None:
            metrics["system/disk_read_mb"] = (disk.read_bytes - self._disk0.read_bytes) / _MB
            metrics["system/disk_write_mb"] = (disk.write_bytes - self._disk0.write_bytes) / _MB
        net = self._net_counters()
        if net is not None and self._net0 is not None:
            metrics["system/network_sent_mb"] = (net.bytes_sent - self._net0.bytes_sent) / _MB
            metrics["system/network_received_mb"] = (net.bytes_recv - self._net0.bytes_recv) / _MB
        metrics.update(_gpu_metrics(self._gpus))
        return metrics

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._log_once()

    def _log_once(self) -> None:
        if not self.run.active:
            self._stop.set()
            return
        try:
            self.run.log_metrics(self.sample(), step=self.samples)
            self.samples += 1
        except Exception as exc:  # noqa: BLE001 - a sampler must never disturb the run it watches
            self._stop.set()
            warnings.warn(f"system metrics sampling stopped: {type(exc).__name__}: {exc}", RuntimeWarning,
                          stacklevel=2)

    def start(self) -> SystemMetricsSampler:
        self._thread = threading.Thread(target=self._loop, name="jupyter_tracker-system-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling; takes one last sample so even a short run has one point."""
        if self._stop.is_set() and self._thread is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
            self._thread = None
        if self.run.active:
            try:
                self.run.log_metrics(self.sample(), step=self.samples)
                self.samples += 1
            except Exception as exc:  # noqa: BLE001
                warnings.warn(f"system metrics: last sample failed: {exc}", RuntimeWarning, stacklevel=2)

    def __enter__(self) -> SystemMetricsSampler:
        return self.start()

    def __exit__(self, *exc_info: Any) -> bool:
        self.stop()
        return False


def _nvml_handles() -> list:
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    except Exception:  # noqa: BLE001 - NVML present but no driver or GPU: no GPU metrics
        return []


def _gpu_metrics(handles: list) -> dict[str, float]:
    if not handles:
        return {}
    import pynvml

    metrics = {}
    for index, handle in enumerate(handles):
        try:
            utilization = pynvml.nvmlDeviceGetUtilizationRates(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        except pynvml.NVMLError:
            continue
        metrics[f"system/gpu_{index}_utilization_percent"] = float(utilization.gpu)
        metrics[f"system/gpu_{index}_memory_used_mb"] = memory.used / _MB
    return metrics
