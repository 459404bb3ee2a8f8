"""The state layer: what the server keeps beyond one request, in a store every process can share (see
`store.py`). Below the tools, so that tools may keep state too."""

from .store import MEMORY_URL, StateStore, StoreUnavailable, open_store, state_directory

__all__ = ["MEMORY_URL", "StateStore", "StoreUnavailable", "open_store", "state_directory"]
