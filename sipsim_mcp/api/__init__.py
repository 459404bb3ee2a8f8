"""The SIPSIM API layer: settings, the OAuth token flow, the HTTP client, the endpoint table and the typed models of
what SIPSIM sends. Knows nothing of MCP."""
