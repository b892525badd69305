#!/usr/bin/env python3
"""measured.py LOAD_JSON CMD...: runs CMD and writes LOAD_JSON with its exit status, wall time, its
own CPU time and the CPU time other processes used meanwhile (from /proc/stat), so a benchmark run
says how much the machine's other load may have depressed it. Exits with CMD's status."""
import json
import os
import resource
import subprocess
import sys
import time


def busy_ticks():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return sum(v) - v[3] - v[4]  # all but idle and iowait


def main():
    hz = os.sysconf("SC_CLK_TCK")
    b0, t0 = busy_ticks(), time.time()
    rc = subprocess.call(sys.argv[2:])
    wall, b1 = time.time() - t0, busy_ticks()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = ru.ru_utime + ru.ru_stime
    other = max(0.0, (b1 - b0) / hz - own)
    with open(sys.argv[1], "w") as f:
        json.dump({"rc": rc, "wall_s": round(wall, 3), "own_cpu_s": round(own, 3),
                   "other_cpu_s": round(other, 3),
                   "other_load_cores": round(other / wall, 3) if wall else None}, f)
    sys.exit(rc)


if __name__ == "__main__":
    main()
