"""Entry point of the MCP bundle (manifest.json): runs the server from the unpacked bundle. Being started here
is how the server knows its user is a bundle user (who fixes a setup in the extension's settings)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sipsim_mcp.app.cli import main

if __name__ == "__main__":
    main(bundle=True)
