"""What the benchmarks share: interleaved timing, and what the machine was doing meanwhile."""

import os
import statistics
import time


def interleaved(functions, repeats):
    """Wall-clock seconds of each function, interleaved after one warm-up run each.

    The order rotates every repetition (A B C, B C A, C A B, ...): whichever runs right after
    another is measurably faster here, and rotating gives every one each position equally often.
    """
    for f in functions:
        f()
    times = [[] for _ in functions]
    for rep in range(repeats):
        for i in range(len(functions)):
            which = (rep + i) % len(functions)
            start = time.perf_counter()
            functions[which]()
            times[which].append(time.perf_counter() - start)
    return times


def cpu_seconds():
    """(busy seconds of all CPUs, CPU seconds of this process, wall-clock seconds), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    except OSError:
        return None
    own = os.times()
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    return busy, own.user + own.system, time.perf_counter()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown model"


def load_average():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def fmt(times):
    return f"{statistics.median(times):.4f} ({min(times):.4f}-{max(times):.4f})"


def report_load(cpu_before):
    """Print the load average and how much CPU time other processes took since `cpu_before`
    (a `cpu_seconds()` reading), with a warning when it was more than 5%."""
    print(f"load average after: {load_average()}")
    if cpu_before is not None:
        busy, own, wall = (after - before for after, before in zip(cpu_seconds(), cpu_before, strict=True))
        others = max(busy - own, 0.0) / (wall * os.cpu_count())
        print(f"CPU time used by everything but this benchmark while it ran: {100 * others:.0f}% (from /proc/stat)")
        if others > 0.05:
            print("warning: other processes were busy during the measurements; the figures may be unreliable")
