"""What the benchmark reads about a server's processes from /proc: the process
tree, peak memory, and CPU time split between event loops and other threads.

The CPU split is what explains a rate: two shared cores give 2 s of CPU per
second, so the CPU a request costs (server and load generator together)
bounds the requests per second, and the cores left idle show how much of
the bound a server reached (docs/performance.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def vm_hwm_kb(pid: int) -> int:
    """The process's peak resident set size, or 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds (user + system) of a process tree's threads."""

    loops: float = 0.0  # each process's main thread: a worker's event loop
    others: float = 0.0  # every other thread: SQLite writers, the executor's threads

    def __sub__(self, earlier: CpuTimes) -> CpuTimes:
        return CpuTimes(self.loops - earlier.loops, self.others - earlier.others)


def cpu_times(root: int) -> CpuTimes:
    """The CPU used so far by every thread of `root`'s tree, still running."""
    loops = others = 0.0
    for pid in process_tree(root):
        for task in Path(f"/proc/{pid}/task").glob("*/stat"):
            seconds = _thread_seconds(task)
            if task.parent.name == str(pid):
                loops += seconds
            else:
                others += seconds
    return CpuTimes(loops, others)


def _thread_seconds(stat: Path) -> float:
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # the thread ended since it was listed
    # utime and stime: fields 14 and 15 of stat(5), 12 and 13 after the name.
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND
