"""``python -m emo_safe.cli``."""

from emo_safe.cli import main

main()
