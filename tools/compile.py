"""Compile apiwatch's hot modules with mypyc, in place (``make compile``), or remove them.

The modules below are plain, strictly typed Python; mypyc turns each into a C extension that
Python imports instead of the ``.py`` beside it (the ``.py`` stays the source of truth, and a
checkout without a C compiler runs it as it is). Detection (the engine, its matchers, the
built-in pack's prebuilt matcher) and the access-log parsing ``scan`` reads with run about
1.3-1.5x faster compiled; see bench/README.md.

A stamp (``src/apiwatch/.compiled.json``) records the digest of each module's source when it was
compiled: ``--check`` exits 1 when a compiled module's source changed since (the test suite
refuses to run on stale machine code), and ``make compile`` compiles again only then.

Usage: ``python tools/compile.py [--check | --remove]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
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
    """Each compiled module's source digest, as the stamp records it."""
    return {name: hashlib.sha256((SRC / name).read_bytes()).hexdigest() for name in MODULES}


def built() -> list[Path]:
    """The extension files a compile left in the source tree."""
    return sorted([*SRC.glob("*__mypyc*.so"), *(path for path in SRC.glob("apiwatch/**/*.so"))])


def stale() -> list[str]:
    """Compiled modules whose source changed since they were compiled (none when not built)."""
    if not built():
        return []
    try:
        recorded = json.loads(STAMP.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return list(MODULES)
    return [name for name, digest in digests().items() if recorded.get(name) != digest]


def remove() -> None:
    """Back to pure Python: the extensions, the stamp and mypyc's build directory go."""
    for path in built():
        path.unlink()
    STAMP.unlink(missing_ok=True)
    shutil.rmtree(SRC / "build", ignore_errors=True)


def compile_modules() -> bool:
    """Compile `MODULES` in place; on failure, remove what was half built and say so."""
    mypyc = Path(sys.executable).with_name("mypyc")
    if not mypyc.exists():
        print("compile: mypyc is not installed (pip install mypy): running pure Python")
        return False
    remove()
    print(f"compile: mypyc on {len(MODULES)} modules (about a minute) ...", flush=True)
    result = subprocess.run(  # noqa: S603 - our own venv's mypyc on our own files
        [str(mypyc), "--config-file", str(SRC.parent / "pyproject.toml"), *MODULES],
        cwd=SRC,
        capture_output=True,
        text=True,
        env={**os.environ, "MYPYC_OPT_LEVEL": os.environ.get("MYPYC_OPT_LEVEL", "3")},
        check=False,
    )
    if result.returncode != 0:
        remove()
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        print(f"{tail}\ncompile: mypyc failed (above): running pure Python, which is slower")
        return False
    STAMP.write_text(json.dumps(digests(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    shutil.rmtree(SRC / "build", ignore_errors=True)
    print(f"compile: {len(built())} extension files built")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if compiled modules are stale")
    mode.add_argument("--remove", action="store_true", help="remove the compiled modules")
    args = parser.parse_args()
    if args.remove:
        remove()
        return 0
    changed = stale()
    if args.check:
        if changed:
            print(f"compiled modules are stale ({', '.join(changed)}): run `make compile`")
        return 1 if changed else 0
    if built() and not changed:
        STAMP.touch()  # for make: nothing newer to compile from
        print("compile: up to date")
        return 0
    compile_modules()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
