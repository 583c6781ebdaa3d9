"""What a decision lookup costs the request path: `DecisionCache.ip` with 100,000 active decisions.

Builds 100,000 active decisions the way a sync would (``DecisionCache.replace`` on the wire form):
80,000 banned addresses (70,000 IPv4, 10,000 IPv6) and 20,000 ranges (17,000 IPv4 of every prefix
length from /16 to /31, most of them /24, and 3,000 IPv6 from /32 to /64). Then times lookups of
canonical client addresses, set by set:

- ``exact hit`` (a banned address), ``range hit v4`` / ``range hit v6`` (inside a banned range);
- ``miss v4`` (random addresses), ``miss v6``, and ``miss near ranges``: addresses inside the /16
  of some banned range but in none, so the /16-/23 lengths are probed one by one (hard misses);
- ``realistic mix``: 90% benign (v4 and v6), 5% banned addresses, 5% inside banned ranges;
- ``cold``: 50,000 distinct addresses, more than the parse cache holds (every lookup parses);
- ``no decisions``: an empty cache, the cost every request pays when nothing is banned.

Each is compared with a baseline measured in the same run on the same strings: a plain
``dict.get`` on a dict of the 80,000 banned address strings (the least any lookup can cost). Each
round times one pass of the cache and one of the baseline, interleaved; the median round is
reported, as this thread's CPU time (preemption by other processes does not count). The process
is pinned to one CPU. The goal (≤ 2 µs per lookup, judged on the slowest set) is printed as
MET / NOT MET and never changes the exit status.
Usage: ``.venv/bin/python bench/decision_lookup.py [--quick] [--cpu N]``.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from apiwatch.sensor._decisions import DecisionCache, WireDecision, steady_time

GOAL_NS = 2000.0
REPO = Path(__file__).resolve().parent.parent
V4_LENGTHS = [*range(16, 24), *[24] * 9, *range(25, 32)]  # /16 to /31, /24 the most common
V6_LENGTHS = [32, 40, 48, 48, 56, 64, 64, 64]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--cpu", type=int, help="the CPU to pin to (default: the first allowed)")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


# -- the decisions ---------------------------------------------------------------------------


class Population:
    """100,000 decisions, and the addresses each lookup set is drawn from."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.banned_v4 = _distinct(70_000, lambda: _v4(rng.getrandbits(32)))
        self.banned_v6 = _distinct(10_000, lambda: _v6((0x2001_0DB8 << 96) | rng.getrandbits(96)))
        self.v4_ranges = [self._v4_range() for _ in range(17_000)]
        self.v6_ranges = [self._v6_range() for _ in range(3_000)]

    def _v4_range(self) -> ipaddress.IPv4Network:
        length = self.rng.choice(V4_LENGTHS)
        return ipaddress.IPv4Network((self.rng.getrandbits(32), length), strict=False)

    def _v6_range(self) -> ipaddress.IPv6Network:
        length = self.rng.choice(V6_LENGTHS)
        address = (0x2A00 << 112) | self.rng.getrandbits(112)
        return ipaddress.IPv6Network((address, length), strict=False)

    def wire(self) -> list[WireDecision]:
        values = [
            *(("Ip", a) for a in self.banned_v4),
            *(("Ip", a) for a in self.banned_v6),
            *(("Range", str(n)) for n in self.v4_ranges),
            *(("Range", str(n)) for n in self.v6_ranges),
        ]
        return [
            WireDecision(id=i, type="ban", scope=scope, value=value, duration="4h")
            for i, (scope, value) in enumerate(values, 1)
        ]

    def inside(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
        host_bits = network.max_prefixlen - network.prefixlen
        number = int(network.network_address) | self.rng.getrandbits(host_bits)
        return _v4(number) if network.version == 4 else _v6(number)

    def near_miss(self, covered: set[int], inside: Callable[[str], bool]) -> str:
        """An address in the /16 of some banned v4 range, but in no range and not banned."""
        while True:
            top = self.rng.choice(self.v4_ranges).network_address
            address = _v4((int(top) & 0xFFFF0000) | self.rng.getrandbits(16))
            if not inside(address) and address not in self.banned_v4:
                covered.add(int(top) >> 16)
                return address


def _distinct(count: int, make: Callable[[], str]) -> set[str]:
    found: set[str] = set()
    while len(found) < count:
        found.add(make())
    return found


def _v4(number: int) -> str:
    return str(ipaddress.IPv4Address(number))


def _v6(number: int) -> str:
    return str(ipaddress.IPv6Address(number))


def lookup_sets(pop: Population, cache: DecisionCache, now: float) -> dict[str, list[str]]:
    rng, size = pop.rng, 10_000
    v4_list, v6_list = list(pop.banned_v4), list(pop.banned_v6)
    in_v4 = [pop.inside(rng.choice(pop.v4_ranges)) for _ in range(size)]
    in_v6 = [pop.inside(rng.choice(pop.v6_ranges)) for _ in range(size)]

    def is_hit(address: str) -> bool:
        return cache.ip(address, now) is not None

    miss_v4 = [a for a in (_v4(rng.getrandbits(32)) for _ in range(size * 2)) if not is_hit(a)]
    miss_v6 = [_v6((0x2600 << 112) | rng.getrandbits(112)) for _ in range(size)]
    near = [pop.near_miss(set(), is_hit) for _ in range(size)]
    mix = [
        *rng.sample(miss_v4, int(size * 0.8)),
        *rng.sample(miss_v6, int(size * 0.1)),
        *rng.sample(v4_list, int(size * 0.04)),
        *rng.sample(v6_list, int(size * 0.01)),
        *rng.sample(in_v4, int(size * 0.04)),
        *rng.sample(in_v6, int(size * 0.01)),
    ]
    rng.shuffle(mix)
    cold = [_v4(rng.getrandbits(32)) for _ in range(50_000)]
    return {
        "exact hit": rng.sample(v4_list, size // 2) + rng.sample(v6_list, size // 2),
        "range hit v4": in_v4,
        "range hit v6": in_v6,
        "miss v4": miss_v4[:size],
        "miss v6": miss_v6,
        "miss near ranges": near,
        "realistic mix": mix,
        "cold (50k distinct)": cold,
    }


# -- timing ----------------------------------------------------------------------------------


# This thread's CPU time, not wall time: being preempted by other processes on a shared machine
# does not inflate it (their use of the shared caches still can; the header says how busy it was).


def time_pass(lookup: Callable[[str, float], object], addresses: list[str], now: float) -> float:
    started = time.thread_time_ns()
    for address in addresses:
        lookup(address, now)
    return (time.thread_time_ns() - started) / len(addresses)


def time_baseline(get: Callable[[str], object], addresses: list[str]) -> float:
    started = time.thread_time_ns()
    for address in addresses:
        get(address)
    return (time.thread_time_ns() - started) / len(addresses)


def measure(
    cache: DecisionCache,
    baseline: dict[str, object],
    addresses: list[str],
    now: float,
    rounds: int,
) -> tuple[float, float, float]:
    """(median ns per lookup, best ns, median baseline ns) over interleaved rounds."""
    ours, base = [], []
    for _ in range(rounds):
        ours.append(time_pass(cache.ip, addresses, now))
        base.append(time_baseline(baseline.get, addresses))
    return statistics.median(ours), min(ours), statistics.median(base)


# -- report ----------------------------------------------------------------------------------


def _git(*args: str) -> str:
    out = subprocess.run(
        ["git", "--no-optional-locks", "-C", str(REPO), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() if out.returncode == 0 else "?"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (user, nice, system, irq) so far."""
    fields = Path("/proc/stat").read_text(encoding="ascii").split("\n", 1)[0].split()
    return sum(int(fields[i]) for i in (1, 2, 3, 6, 7)) / os.sysconf("SC_CLK_TCK")


def header(cpu: int | None) -> None:
    dirty = _git("status", "--porcelain", "--", "src").splitlines()
    print("apiwatch decision lookup benchmark")
    print(f"  date       {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(f"  python     {platform.python_implementation()} {platform.python_version()}")
    print(f"  cpu        {_cpu_model()} x {os.cpu_count()}; pinned to CPU {cpu}")
    print(f"  load avg   {' '.join(Path('/proc/loadavg').read_text(encoding='ascii').split()[:3])}")
    print(f"  src        {_git('rev-parse', '--short', 'HEAD')}", end="")
    print(f" + {len(dirty)} uncommitted file(s) under src/" if dirty else " (clean)", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0))
    cpu = args.cpu if args.cpu is not None else cpus[-1]
    os.sched_setaffinity(0, {cpu})
    header(cpu)
    rounds = 5 if args.quick else 15
    pop = Population(random.Random(args.seed))  # noqa: S311 - a reproducible population
    wire = pop.wire()
    cache = DecisionCache()
    now = steady_time()
    started = time.perf_counter()
    cache.replace(wire, now)
    built = time.perf_counter() - started
    v4_lengths = sorted({n.prefixlen for n in pop.v4_ranges})
    print(
        f"  decisions  {len(cache):,} active ({len(pop.banned_v4):,} IPv4 + {len(pop.banned_v6):,}"
        f" IPv6 addresses, {len(pop.v4_ranges):,} IPv4 ranges /{v4_lengths[0]}-/{v4_lengths[-1]},"
        f" {len(pop.v6_ranges):,} IPv6 ranges); startup sync applied in {built * 1000:.0f} ms"
    )
    print(f"  rounds     {rounds} per set, cache and baseline interleaved; median reported\n")
    sets = lookup_sets(pop, cache, now)
    baseline: dict[str, object] = dict.fromkeys(pop.banned_v4, True)
    gc.collect()
    wall, busy, ours = time.monotonic(), _busy_seconds(), time.process_time()
    rows = []
    for name, addresses in sets.items():
        hits = sum(cache.ip(a, now) is not None for a in addresses)
        median, best, base = measure(cache, baseline, addresses, now, rounds)
        rows.append((name, len(addresses), hits, median, best, base))
    empty = DecisionCache()
    median, best, base = measure(empty, baseline, sets["realistic mix"], now, rounds)
    rows.append(("no decisions", len(sets["realistic mix"]), 0, median, best, base))
    elapsed = time.monotonic() - wall
    others = max(0.0, _busy_seconds() - busy - (time.process_time() - ours)) / elapsed
    note = " (busy machine: shared caches inflate the figures)" if others > 0.1 else ""
    print(f"Timed as this thread's CPU time; other processes used {others:.2f} CPUs{note}.")
    title = f"{'set':<22}{'lookups':>9}{'hits':>8}{'ns/lookup':>11}{'best':>8}"
    print(f"{title}{'dict.get ns':>13}{'ratio':>8}{'added ns':>10}")
    for name, count, hits, median, best, base in rows:
        print(
            f"{name:<22}{count:>9,}{hits:>8,}{median:>11,.0f}{best:>8,.0f}"
            f"{base:>13,.0f}{median / base:>8.1f}{median - base:>10,.0f}"
        )
    worst_name, *_, worst, _, _ = max(rows, key=lambda row: row[3])
    verdict = "MET" if worst <= GOAL_NS else "NOT MET"
    print(f"\nGoal: lookup <= {GOAL_NS / 1000:g} us with 100,000 active decisions, on one core")
    print(f"  slowest set: {worst_name}, {worst:,.0f} ns per lookup -> {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
