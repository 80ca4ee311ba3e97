"""Where the test suite's time goes, in CPU seconds: the suite in one process, each test charged with the
machine's CPU time (every core's user and system time, from /proc/stat) from its setup to its teardown, so
the Ray workers, sweeps and servers it starts are counted too. Run it on an otherwise idle machine.

A test's wall time says little on a machine whose cores are all busy (as they are when the suite runs on two
workers); its CPU seconds are what it costs wherever it runs, and what grows on a slower CPU. A test that
waits (a server's outage, a training budget in seconds) shows fewer CPU seconds than wall seconds.

    python benchmarks/suite_cpu.py                       # the whole suite
    python benchmarks/suite_cpu.py --top 40 tests/sweeps # one folder, more rows
    python benchmarks/suite_cpu.py --json costs.json     # every test's figures, to compare runs

Prints the CPU model, the totals, the modules that cost most and the tests that cost most. Module-scoped
fixtures are charged to the first test that uses them, and their teardown to the last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict

import pytest

from machine import cpu_model  # benchmarks/, the script's own folder

TICK = os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU seconds every core has spent on user and system work since boot (not idle, waiting on I/O, or
    stolen by the hypervisor)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
    return (user + nice + system + irq + softirq) / TICK


class Meter:
    """A pytest plugin: each test's node id, CPU seconds and wall seconds, setup and teardown included."""

    def __init__(self):
        self.rows: list[dict] = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        cpu, wall = busy_seconds(), time.perf_counter()
        yield
        self.rows.append({"test": item.nodeid, "cpu_s": busy_seconds() - cpu, "wall_s": time.perf_counter() - wall})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=20, help="how many modules and tests to list (default 20)")
    parser.add_argument("--json", help="write every test's figures to this file")
    args, pytest_args = parser.parse_known_args(argv)
    meter = Meter()
    start_cpu, start = busy_seconds(), time.perf_counter()
    # one process: the machine's CPU time while a test runs is that test's alone
    code = pytest.main(["-n", "0", "-p", "no:cacheprovider", "-q", *pytest_args], plugins=[meter])
    cpu, wall = busy_seconds() - start_cpu, time.perf_counter() - start
    rows, machine = meter.rows, cpu_model()
    modules: dict[str, dict] = defaultdict(lambda: {"cpu_s": 0.0, "wall_s": 0.0, "tests": 0})
    for r in rows:
        m = modules[r["test"].split("::")[0]]
        m["cpu_s"] += r["cpu_s"]
        m["wall_s"] += r["wall_s"]
        m["tests"] += 1
    print(f"\nCPU: {machine}")
    print(f"{len(rows)} tests (pytest exit code {code}): {wall:.0f} s of wall time, {cpu:.0f} CPU seconds "
          f"({cpu / wall / (os.cpu_count() or 1):.0%} of the machine's cores)")
    print(f"\nthe {args.top} modules that cost most:\n{'CPU s':>8} {'wall s':>8} {'tests':>6}  module")
    for name, m in sorted(modules.items(), key=lambda kv: -kv[1]["cpu_s"])[: args.top]:
        print(f"{m['cpu_s']:8.1f} {m['wall_s']:8.1f} {m['tests']:6d}  {name}")
    print(f"\nthe {args.top} tests that cost most:\n{'CPU s':>8} {'wall s':>8}  test")
    for r in sorted(rows, key=lambda r: -r["cpu_s"])[: args.top]:
        print(f"{r['cpu_s']:8.1f} {r['wall_s']:8.1f}  {r['test']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": machine, "wall_s": wall, "cpu_s": cpu, "tests": rows}, f, indent=1)
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
