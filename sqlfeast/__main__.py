"""`python -m sqlfeast` runs the command line."""

from sqlfeast.cli import main

main()
