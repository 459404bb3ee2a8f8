"""`python -m sipsim_mcp` runs the command line."""

from .cli import main

main()
