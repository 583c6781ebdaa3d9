"""The figures `sensor_overhead.py` prints: per-run measurements, medians, tables and goals."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from _load import LoadResult

VARIANTS = {
    "bare": "bare app",
    "null": "sensor, null output",
    "file": "sensor, file output",
    "logging": "sensor, stdlib logging",
}
GOAL_ADDED_US = 10.0
GOAL_P99_RATIO = 1.2
GOAL_RSS_GROWTH_MB = 2.0
NOISY_CPUS = 0.1  # other processes using more than this share of a CPU make figures noisy


@dataclass
class Measured:
    """One load run against one server, with the server's CPU time per request it served."""

    load: LoadResult
    cpu_us: float  # server CPU (user + system, all threads) per completed request
    others: float  # CPUs' worth of user time other processes used meanwhile (noise indicator)


Runs = dict[str, list[Measured]]  # variant -> rounds


@dataclass
class Summary:
    """A variant's rounds: the median of each figure, and the spread of req/s."""

    rps: float
    spread: float  # (max - min) / median of req/s over the rounds
    p50_us: float
    p99_us: float
    cpu_us: float
    errors: int

    @classmethod
    def of(cls, runs: list[Measured]) -> Summary:
        rates = [run.load.rps for run in runs]
        median = statistics.median(rates)
        return cls(
            rps=median,
            spread=(max(rates) - min(rates)) / median if median else 0.0,
            p50_us=statistics.median(run.load.p50_us for run in runs),
            p99_us=statistics.median(run.load.p99_us for run in runs),
            cpu_us=statistics.median(run.cpu_us for run in runs),
            errors=sum(run.load.errors for run in runs),
        )

    def added_us(self, bare: Summary) -> float:
        """Microseconds per request added, from throughput at saturation."""
        return 1e6 / self.rps - 1e6 / bare.rps

    def added_cpu_us(self, bare: Summary) -> float:
        """Microseconds per request added, from the server's own CPU time (robust to noise)."""
        return self.cpu_us - bare.cpu_us


@dataclass
class SoakResult:
    samples: list[tuple[int, float]]  # (requests so far, RSS MiB)
    requests: int
    seconds: float
    errors: int
    stopped_by_time: bool
    stats: dict[str, object] = field(default_factory=dict)
    log_bytes: int = 0
    completed: int = 0  # responses the load generator counted, warm-up included

    def growth_mb(self) -> float | None:
        """MiB from the 10% sample to the last one (None when the soak stopped before 10%)."""
        if len(self.samples) < 3:
            return None
        return self.samples[-1][1] - self.samples[1][1]


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def throughput_table(title: str, runs: Runs) -> list[str]:
    bare = Summary.of(runs["bare"])
    lines = [
        title,
        f"  {'variant':<22}{'req/s':>9}{'spread':>8}{'p50 us':>8}{'p99 us':>8}"
        f"{'req/s':>7}{'p99':>6}{'added us':>10}{'CPU us':>8}{'added CPU':>11}{'errors':>8}",
        f"  {'':<22}{'':>9}{'':>8}{'':>8}{'':>8}"
        f"{'ratio':>7}{'ratio':>6}{'(req/s)':>10}{'/req':>8}{'us/req':>11}",
    ]
    for variant, label in VARIANTS.items():
        s = Summary.of(runs[variant])
        added = "-" if variant == "bare" else f"{s.added_us(bare):+.1f}"
        added_cpu = "-" if variant == "bare" else f"{s.added_cpu_us(bare):+.1f}"
        lines.append(
            f"  {label:<22}{s.rps:>9,.0f}{s.spread:>8.1%}{s.p50_us:>8,.0f}{s.p99_us:>8,.0f}"
            f"{s.rps / bare.rps:>7.2f}{s.p99_us / bare.p99_us:>6.2f}{added:>10}"
            f"{s.cpu_us:>8.1f}{added_cpu:>11}{s.errors:>8}"
        )
    return lines


def paced_table(title: str, runs: Runs) -> list[str]:
    bare = Summary.of(runs["bare"])
    lines = [
        title,
        f"  {'variant':<22}{'req/s':>9}{'p50 us':>8}{'p99 us':>8}{'p50 ratio':>11}"
        f"{'p99 ratio':>11}{'errors':>8}",
    ]
    for variant, label in VARIANTS.items():
        s = Summary.of(runs[variant])
        lines.append(
            f"  {label:<22}{s.rps:>9,.0f}{s.p50_us:>8,.0f}{s.p99_us:>8,.0f}"
            f"{s.p50_us / bare.p50_us:>11.2f}{s.p99_us / bare.p99_us:>11.2f}{s.errors:>8}"
        )
    return lines


def _others(phases: list[Runs]) -> list[float]:
    return [run.others for runs in phases for rounds in runs.values() for run in rounds]


def is_noisy(phases: list[Runs]) -> bool:
    """Whether other processes used enough CPU during the runs to disturb timings."""
    return max(_others(phases), default=0.0) > NOISY_CPUS


def noise_lines(phases: list[Runs]) -> list[str]:
    others = _others(phases)
    worst, median = max(others, default=0.0), statistics.median(others) if others else 0.0
    line = f"Other processes' CPU use during the runs: median {median:.2f}, worst {worst:.2f} CPUs"
    if not is_noisy(phases):
        return [line + " (quiet machine)"]
    return [
        line + ": the machine was shared,",
        "  so req/s and latencies are noisy; the server CPU-time columns are the robust figures.",
    ]


def stats_line(label: str, stats: dict[str, object], completed: int, log_bytes: int) -> str:
    emitted = stats.get("emitted", 0)
    text = (
        f"  {label:<22} {emitted:,} events emitted, {completed:,} responses counted; "
        f"errors {stats.get('errors', '?')}, output errors {stats.get('output_errors', '?')}; "
        f"gc collections by generation {stats.get('gc_collections', '?')}"
    )
    if log_bytes and isinstance(emitted, int) and emitted:
        text += f"; {log_bytes / emitted:.0f} bytes per logged event"
    return text


def soak_lines(result: SoakResult, count: int, seconds: float) -> list[str]:
    bound = "the time bound" if result.stopped_by_time else "the count"
    lines = [
        f"Soak: sensor, file output, GET /users/{{id}}: {result.requests:,} requests in "
        f"{result.seconds:.0f} s ({result.requests / result.seconds:,.0f} req/s), stopped by "
        f"{bound} ({count:,} requests or {seconds:g} s); errors {result.errors}",
    ]
    for requests, rss in result.samples:
        share = f"{requests / count:.0%}" if requests else "after warm-up"
        lines.append(f"  RSS at {requests:>10,} requests ({share:>13}): {rss:7.1f} MiB")
    lines.append(stats_line("sensor counters:", result.stats, result.completed, result.log_bytes))
    return lines


def goal_lines(
    saturated: Runs, paced: Runs, soaked: SoakResult | None, *, noisy: bool = False
) -> list[str]:
    """The goals as PASS/FAIL; on a shared machine the timing-based verdicts say so."""
    bare, bare_paced = Summary.of(saturated["bare"]), Summary.of(paced["bare"])
    timed = " (unreliable: shared machine)" if noisy else ""
    lines = ["Goals (GET /ping; the production-like variant is 'sensor, file output'):"]
    for variant in ("null", "file", "logging"):
        s, p = Summary.of(saturated[variant]), Summary.of(paced[variant])
        added, added_cpu = s.added_us(bare), s.added_cpu_us(bare)
        sat, fixed = s.p99_us / bare.p99_us, p.p99_us / bare_paced.p99_us
        lines += [
            f"  {VARIANTS[variant]}:",
            f"    added per request, server CPU time {added_cpu:+7.1f} us "
            f"(goal <= {GOAL_ADDED_US:g} us)  {_verdict(added_cpu <= GOAL_ADDED_US)}",
            f"    added per request, from req/s      {added:+7.1f} us "
            f"(goal <= {GOAL_ADDED_US:g} us)  {_verdict(added <= GOAL_ADDED_US)}{timed}",
            f"    p99 at saturation                  {sat:7.2f} x bare "
            f"(goal <= {GOAL_P99_RATIO:g} x)  {_verdict(sat <= GOAL_P99_RATIO)}{timed}",
            f"    p99 at the same fixed load         {fixed:7.2f} x bare "
            f"(goal <= {GOAL_P99_RATIO:g} x)  {_verdict(fixed <= GOAL_P99_RATIO)}{timed}",
        ]
    if soaked is not None:
        growth = soaked.growth_mb()
        if growth is None:
            lines.append("  memory: the soak stopped before 10%, too short to judge")
        else:
            lines.append(
                f"  memory flat: RSS {growth:+.1f} MiB from 10% to {soaked.requests:,} requests "
                f"(goal <= {GOAL_RSS_GROWTH_MB:g} MiB)  {_verdict(growth <= GOAL_RSS_GROWTH_MB)}"
            )
    return lines
