"""`python -m sipsim_mcp` runs the command line."""

from .app.cli import main

main()
