"""``python -m apiwatch``: the same as the ``apiwatch`` command."""

from apiwatch.cli import main

main()
