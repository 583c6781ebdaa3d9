"""An adversarial, labelled corpus written without reading the detection rules, and its scorer.

`generate(seed, fmt)` gives a two-hour log (nginx combined lines or ECS NDJSON) with ground
truth; `score` runs the real ``apiwatch scan --json`` over it; ``python -m
tests.adversarial.report`` prints the measures. See README.md in this directory.
"""

from tests.adversarial.generator import Corpus, generate

__all__ = ["Corpus", "generate"]
