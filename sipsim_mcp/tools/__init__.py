"""The tools: one module per area (calls, lines, tags, AI, account and webhooks, insights), each tool declared
with `@tool` beside its handler; the shared input fields and call scanning; and `inventory.py`, which gathers
the declarations every tool is registered from."""
