#!/usr/bin/env python3
"""The longest holds of and waits for a process's memory map (the kernel's mmap_lock).

Reads `perf script` of a recording of the mmap_lock tracepoints on stdin:
    perf record -e 'mmap_lock:*' -k CLOCK_MONOTONIC -p PID -o F; perf script -i F | this [FROM TO]
and prints, per thread id, each acquisition's wait (start_locking -> acquire_returned) and hold
(acquire_returned -> released) over the thresholds, within FROM..TO (CLOCK_MONOTONIC seconds,
as `smacs_hostile reloads` prints a phase's start), then the longest of the whole recording.
A thread holding the lock for reading makes every writer wait, and every later reader behind
that writer: on a low-priority thread such a hold lasts as long as the thread waits for a CPU.
"""
import re
import sys

EVENT = re.compile(r"\s*(\S+)\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+mmap_lock:(\w+):.*write=(\w+)")


def spans(lines):
    """(kind, seconds, start, tid, write) for every wait and hold."""
    started, acquired, out = {}, {}, []
    for line in lines:
        m = EVENT.match(line)
        if not m:
            continue
        _, tid, t, event, write = m.groups()
        t = float(t)
        if event == "mmap_lock_start_locking":
            started[tid] = t
        elif event == "mmap_lock_acquire_returned":
            if tid in started:
                out.append(("wait", t - started.pop(tid), t, tid, write))
            acquired[tid] = (t, write)
        elif event == "mmap_lock_released" and tid in acquired:
            at, w = acquired.pop(tid)
            out.append(("hold", t - at, at, tid, w))
    return out


def main():
    lo = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    hi = float(sys.argv[2]) if len(sys.argv) > 2 else float("inf")
    found = spans(sys.stdin)
    limits = {"wait": 0.002, "hold": 0.005}
    inside = [s for s in found if lo <= s[2] <= hi and s[1] > limits[s[0]]]
    print(f"mmap_lock waits over 2 ms and holds over 5 ms in {lo:.3f}..{hi:.3f} s: {len(inside)}")
    for kind, secs, at, tid, write in sorted(inside, key=lambda s: s[2]):
        lock = "write" if write == "true" else "read"
        print(f"  {kind} {secs * 1e3:7.2f} ms at {at:.3f} s  thread {tid} ({lock})")
    for kind in ("hold", "wait"):
        longest = max((s for s in found if s[0] == kind), key=lambda s: s[1], default=None)
        if longest:
            print(f"longest {kind} of the recording: {longest[1] * 1e3:.2f} ms at {longest[2]:.3f} s")


if __name__ == "__main__":
    main()
