"""``python -m mrframe`` is the ``mrframe`` command."""

from mrframe.cli import main

main()
