"""Write (or check) `apiwatch.detect._pack`, the built-in pack's matcher generated ahead of time.

``python -m apiwatch.detect._prebuild`` writes it; ``--check`` exits 1 when the file on disk is not
what the built-in pack generates now (``make pack-matcher`` writes it, ``make lint`` checks it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from apiwatch.detect.engine import Engine
from apiwatch.detect.loader import builtin_dir, load_rules
from apiwatch.detect.matcher import generate, module_source

__all__ = ["PACK_MODULE", "builtin_source", "main"]

PACK_MODULE = Path(__file__).with_name("_pack.py")


def builtin_source() -> str:
    """The module `apiwatch.detect._pack` should hold for the built-in pack."""
    engine = Engine(load_rules([builtin_dir()]))
    return module_source(generate([rule.tree for rule in engine.detections]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the file; exit 1 if stale")
    args = parser.parse_args(argv)
    wanted = builtin_source()
    current = PACK_MODULE.read_text(encoding="utf-8") if PACK_MODULE.exists() else ""
    if args.check:
        if current != wanted:
            print(f"{PACK_MODULE} is stale: run `make pack-matcher`", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        PACK_MODULE.write_text(wanted, encoding="utf-8")
        print(f"wrote {PACK_MODULE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
