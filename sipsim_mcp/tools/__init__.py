"""The tools: one module per area (calls, lines, tags, AI, account and webhooks, insights), the shared
input fields and call scanning, and `inventory.py`, the table every tool is registered from."""
