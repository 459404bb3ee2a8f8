"""sipsim-mcp: a Model Context Protocol server for the SIPSIM telephony API."""

__version__ = "0.1.0"
