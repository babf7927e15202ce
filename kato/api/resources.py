"""Process and host figures for the monitoring endpoints, read from /proc and statvfs (no extra dependency)."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Resources:
    cpu_percent: float
    memory_percent: float
    memory_bytes: int
    disk_percent: float
    open_files: int
    load_average_1m: float


class ResourceSampler:
    """CPU use of this process since the previous sample, memory and disk use now.

    A sample is reused for `min_interval` seconds: health checks may arrive many times a second, and CPU use
    measured over a few milliseconds is the health check's own (a load balancer polling fast would read
    "degraded"), while reading /proc and statvfs each time cost ~0.15 ms per check.
    """

    def __init__(self, data_dir: Path, min_interval: float = 1.0) -> None:
        self._data_dir = data_dir
        self._min_interval = min_interval
        self._last = (time.monotonic(), self._cpu_seconds())
        self._cached: Resources | None = None

    @staticmethod
    def _cpu_seconds() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    @staticmethod
    def _rss_bytes() -> int:
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    @staticmethod
    def _total_memory() -> int:
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            return 0

    def _disk_percent(self) -> float:
        try:
            st = os.statvfs(self._data_dir if self._data_dir.exists() else "/")
        except OSError:
            return 0.0
        total = st.f_blocks * st.f_frsize
        free = st.f_bavail * st.f_frsize
        return round(100.0 * (total - free) / total, 2) if total else 0.0

    @staticmethod
    def _open_files() -> int:
        try:
            return len(os.listdir("/proc/self/fd"))
        except OSError:
            return 0

    def sample(self) -> Resources:
        now = time.monotonic()
        last_time, last_cpu = self._last
        if self._cached is not None and now - last_time < self._min_interval:
            return self._cached
        cpu = self._cpu_seconds()
        self._last = (now, cpu)
        elapsed = now - last_time
        cpu_percent = round(100.0 * (cpu - last_cpu) / elapsed, 2) if elapsed > 0 else 0.0
        rss, total = self._rss_bytes(), self._total_memory()
        self._cached = Resources(
            cpu_percent=cpu_percent,
            memory_percent=round(100.0 * rss / total, 2) if total else 0.0,
            memory_bytes=rss,
            disk_percent=self._disk_percent(),
            open_files=self._open_files(),
            load_average_1m=os.getloadavg()[0],
        )
        return self._cached
