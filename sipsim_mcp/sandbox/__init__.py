"""A local simulator of the SIPSIM REST API v2 (OAuth token endpoint + ``/api/v2``).

It plays the remote API for tests, demos and the ``sipsim-mcp sandbox`` command, and must stay
independent of the client code in ``sipsim_mcp``::

    with Sandbox(SandboxConfig(seed=7)) as sandbox:
        httpx.post(sandbox.token_url, data={...})
"""

from .config import ALL_SCOPES, ClientSpec, SandboxConfig
from .dataset import SandboxData
from .runner import Sandbox
from .state import Fault, LoggedRequest
from .variants import VARIANTS

__all__ = ["ALL_SCOPES", "VARIANTS", "ClientSpec", "Fault", "LoggedRequest", "Sandbox", "SandboxConfig", "SandboxData"]
