"""The MCP layer: the server, tool registration, the write gate and its shared state, resources, prompts, the text
rendering of results and the HTTP transport."""
