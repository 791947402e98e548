"""Read a process's peak RSS and CPU time from /proc (Linux); report a baseline script's run."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import orjson

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    peak_rss_mb: float
    cpu_s: float


def usage(pid: int) -> Usage:
    peak_kb = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak_kb = int(line.split()[1])
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    return Usage(peak_kb / 1024, cpu)


def report(rows: int, started: float) -> None:
    """Print a bench script's result line: rows, seconds since ``started`` (monotonic), its own usage."""
    elapsed = time.monotonic() - started
    me = usage(os.getpid())
    print(orjson.dumps({"rows": rows, "seconds": elapsed, "peak_rss_mb": me.peak_rss_mb, "cpu_s": me.cpu_s}).decode())
