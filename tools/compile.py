"""Compile apiwatch's hot modules with mypyc, in place (``make compile``), or remove them.

The modules below are plain, strictly typed Python; mypyc turns each into a C extension that
Python imports instead of the ``.py`` beside it (the ``.py`` stays the source of truth, and a
checkout without a C compiler runs it as it is). Detection (the engine, its matchers, the
built-in pack's prebuilt matcher) runs about 1.5x faster compiled, ``scan`` about 1.3x; see
bench/README.md.

A stamp (``src/apiwatch/.compiled.json``) records the digest of each module's source when it was
compiled, and the Python it was compiled for: ``--check`` exits 1 when a compiled module's
source changed since, when the list of modules or the Python changed, or when an extension is
left that the list no longer names (the test suite refuses to run on stale machine code), and
``make compile`` compiles again only then. When compiling is not possible (no C compiler, no
``Python.h``) or fails, the stamp says why and make leaves the checkout on pure Python until a
source changes (``make pure``, then ``make compile``, tries again at once). Before checking out
an older commit (``git bisect``), run ``make pure``: the compiled files are not tracked, and an
older tree has no guard against them.

Usage: ``python tools/compile.py [--check | --remove | --pure-copy DEST]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
STAMP = SRC / "apiwatch" / ".compiled.json"
MODULES = [
    f"apiwatch/detect/{name}.py"
    for name in (
        "behaviour",
        "correlate",
        "derived",
        "engine",
        "extensions",
        "fields",
        "findings",
        "incidents",
        "matcher",
        "_pack",
        "profiles",
        "replay",
        "rules",
        "steady",
        "synthetic",
    )
] + [
    "apiwatch/model/address.py",
    "apiwatch/model/request_line.py",
    "apiwatch/model/text.py",
    "apiwatch/sources/_text.py",
    "apiwatch/sources/accesslog.py",
    "apiwatch/sources/formats.py",
    "apiwatch/sources/logins.py",
]


def digests() -> dict[str, str]:
    """Each compiled module's source digest, and the Python the extensions are for."""
    found = {name: hashlib.sha256((SRC / name).read_bytes()).hexdigest() for name in MODULES}
    return {**found, _ABI: str(sysconfig.get_config_var("EXT_SUFFIX"))}


_ABI = "(python)"


def built() -> list[Path]:
    """The extension files a compile left in the source tree."""
    return sorted([*SRC.glob("*__mypyc*.so"), *SRC.glob("apiwatch/**/*.so")])


def stale() -> list[str]:
    """What makes the compiled modules stale: changed sources, another list of modules or
    another Python, or an extension of a module the list does not name (none when not built)."""
    extensions = built()
    if not extensions:
        return []
    try:
        recorded = json.loads(STAMP.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return list(MODULES)
    now = digests()
    changed = [
        name for name in sorted(now.keys() | recorded.keys()) if recorded.get(name) != now.get(name)
    ]
    named = {str(Path(name).with_suffix("")) for name in MODULES}
    strays = [
        str(path.relative_to(SRC))
        for path in extensions
        if path.parent != SRC and str(path.relative_to(SRC)).split(".")[0] not in named
    ]
    return changed + strays


def remove() -> None:
    """Back to pure Python: the extensions, the stamp and mypyc's build directory go."""
    for path in built():
        path.unlink()
    STAMP.unlink(missing_ok=True)
    shutil.rmtree(SRC / "build", ignore_errors=True)


def pure_copy(dest: Path) -> None:
    """A copy of the ``apiwatch`` package as pure Python, without the compiled modules, their
    stamp or byte code, at ``dest``/apiwatch; ``dest`` is then what to put on PYTHONPATH."""
    shutil.copytree(
        SRC / "apiwatch",
        dest / "apiwatch",
        ignore=shutil.ignore_patterns("*.so", "__pycache__", STAMP.name),
    )


def _cannot_compile() -> str | None:
    """Why this machine cannot compile the modules, or None."""
    if not Path(sys.executable).with_name("mypyc").exists():
        return "mypyc is not installed (pip install mypy)"
    include = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not include.exists():
        return f"Python's headers are missing ({include}; Debian: python3-dev)"
    compiler = str(sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        return f"no C compiler ({compiler}; Debian: gcc)"
    return None


def _stay_pure(reason: str) -> bool:
    """Remove what a compile left, and stamp the reason (so make does not retry it until a
    source changes); the checkout runs pure Python."""
    remove()
    STAMP.write_text(json.dumps({"pure": reason}) + "\n", encoding="utf-8")
    print(f"compile: {reason}: running pure Python, which is slower")
    return False


def compile_modules() -> bool:
    """Compile `MODULES` in place; on failure, remove what was half built and say so."""
    reason = _cannot_compile()
    if reason is not None:
        return _stay_pure(reason)
    remove()
    print(f"compile: mypyc on {len(MODULES)} modules (about a minute) ...", flush=True)
    mypyc = Path(sys.executable).with_name("mypyc")
    result = subprocess.run(  # noqa: S603 - our own venv's mypyc on our own files
        [str(mypyc), "--config-file", str(SRC.parent / "pyproject.toml"), *MODULES],
        cwd=SRC,
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYC_OPT_LEVEL": os.environ.get("MYPYC_OPT_LEVEL", "3")},
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        print(tail)
        return _stay_pure("mypyc failed (above)")
    STAMP.write_text(json.dumps(digests(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    shutil.rmtree(SRC / "build", ignore_errors=True)
    print(f"compile: {len(built())} extension files built")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if compiled modules are stale")
    mode.add_argument("--remove", action="store_true", help="remove the compiled modules")
    mode.add_argument(
        "--pure-copy",
        metavar="DEST",
        type=Path,
        help="copy the package without its compiled modules to DEST/apiwatch (for PYTHONPATH)",
    )
    args = parser.parse_args()
    if args.remove:
        remove()
        return 0
    if args.pure_copy:
        pure_copy(args.pure_copy)
        return 0
    changed = stale()
    if args.check:
        if changed:
            print(f"compiled modules are stale ({', '.join(changed)}): run `make compile`")
        return 1 if changed else 0
    if not changed and built():
        STAMP.touch()  # for make: nothing newer to compile from
        print("compile: up to date")
        return 0
    compile_modules()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
