"""What `pip install apiwatch` (the sensor alone) installs and costs at import, against the full
command line (`apiwatch[cli]`) measured in the same run.

The project is built into a wheel once; each variant is installed from it into a fresh venv
(pip from this interpreter, `--python` pointing at the venv; the dependencies from the package
index as configured). For each: the size of the venv's site-packages (every file, bytecode
included), the distributions in it, whether click, rich, pySigma or Pygments (httpx's CLI) came
along, and the import time of `apiwatch.sensor` (`python -X importtime`, its cumulative figure:
the median and the best of --imports runs after one warm-up, the installs taking turns so that a
busy machine slows them alike). Ratios are against the `[cli]` install; for scale, the last line
is what `import apiwatch.cli` (the command line) costs in the `[cli]` install.

    .venv/bin/python bench/slim_install.py [--imports 9] [--server]

Reports only, exits 0 whatever the figures say. Needs the package index pip is set up with
(about 10 s per variant with a warm pip cache).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI_LIBRARIES = ("click", "rich", "sigma", "pygments")
"""Import names that must not come with the sensor alone (pygments: httpx's `cli` extra)."""


@dataclass
class Install:
    variant: str
    python: Path
    bytes: int
    distributions: int
    cli_libraries: tuple[str, ...]
    seconds: float
    import_ms: list[float]


def _run(*command: str | Path) -> str:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{done.stderr}")
    return done.stdout


def _wheel(into: Path) -> Path:
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
         "-w", into, ROOT)  # fmt: skip
    return next(into.glob("apiwatch-*.whl"))


def _site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def _size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def _import_ms(python: Path, module: str = "apiwatch.sensor") -> float:
    """The cumulative import time of ``module`` in a fresh interpreter, in ms."""
    done = subprocess.run([str(python), "-X", "importtime", "-c", f"import {module}"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    line = next(text for text in done.stderr.splitlines() if text.endswith(f"| {module}"))
    return int(line.split("|")[1]) / 1000


def _time_imports(installs: list[Install], runs: int) -> None:
    """``runs`` timings per install after a warm-up, the installs taking turns."""
    for round_ in range(runs + 1):
        for one in installs:
            taken = _import_ms(one.python)
            if round_:
                one.import_ms.append(taken)


def _install(wheel: Path, extra: str, where: Path) -> Install:
    venv = where / (extra or "base")
    started = time.perf_counter()
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    target = f"{wheel}[{extra}]" if extra else str(wheel)
    _run(sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q",
         "--disable-pip-version-check", target)  # fmt: skip
    seconds = time.perf_counter() - started
    site = _site_packages(venv)
    present = tuple(name for name in CLI_LIBRARIES if (site / name).is_dir())
    return Install(
        variant=f"apiwatch[{extra}]" if extra else "apiwatch",
        python=venv / "bin" / "python",
        bytes=_size(site),
        distributions=len(list(site.glob("*.dist-info"))),
        cli_libraries=present,
        seconds=seconds,
        import_ms=[],
    )


def _report(installs: list[Install], baseline: Install, cli_ms: float) -> None:
    base_median = statistics.median(baseline.import_ms)
    print(f"{'install':<18} {'site-packages':>13} {'ratio':>6} {'dists':>5} "
          f"{'import apiwatch.sensor median (best)':>36} {'ratio':>6}  cli libraries")  # fmt: skip
    for one in installs:
        size = f"{one.bytes / 1e6:.1f} MB"
        median = statistics.median(one.import_ms)
        imported = f"{median:.1f} ms ({min(one.import_ms):.1f} ms)"
        print(f"{one.variant:<18} {size:>13} {one.bytes / baseline.bytes:>6.2f} "
              f"{one.distributions:>5} {imported:>36} {median / base_median:>6.2f}  "
              f"{', '.join(one.cli_libraries) or 'none'}")  # fmt: skip
    print(f"for scale: import apiwatch.cli in {baseline.variant}: {cli_ms:.1f} ms (median), "
          f"{cli_ms / base_median:.2f} x the sensor's")  # fmt: skip
    print(f"(ratios against {baseline.variant}, measured in this run; installs took "
          f"{', '.join(f'{one.seconds:.0f} s' for one in installs)})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imports", type=int, default=9, help="import timings per install")
    parser.add_argument("--server", action="store_true", help="also measure apiwatch[server]")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="apiwatch-slim-") as scratch:
        where = Path(scratch)
        wheel = _wheel(where / "wheel")
        print(f"python {sys.version.split()[0]} on {os.uname().sysname}; wheel {wheel.name}")
        extras = ["", "cli", *(["server"] if options.server else [])]
        installs = [_install(wheel, extra, where) for extra in extras]
        _time_imports(installs, options.imports)
        cli = installs[1]
        _import_ms(cli.python, "apiwatch.cli")  # warm-up
        cli_ms = statistics.median(
            _import_ms(cli.python, "apiwatch.cli") for _ in range(options.imports)
        )
        _report(installs, baseline=cli, cli_ms=cli_ms)


if __name__ == "__main__":
    main()
