"""Values of the shipped params files (``config/*.yaml``), for tests that must do offline what
the node started with them does (e.g. run the same backend)."""

from __future__ import annotations

from typing import Any

import yaml

from cherry_dev.launch_stub import REPO_ROOT

NODE_KEY = "/**/classifier"


def shipped_parameter(name: str, params_file: str = "threading_ws.yaml") -> Any:
    """The value ``name`` has in ``config/<params_file>`` (KeyError if the file does not set it)."""
    document = yaml.safe_load((REPO_ROOT / "config" / params_file).read_text())
    return document[NODE_KEY]["ros__parameters"][name]


def shipped_backend() -> str:
    """The backend both shipped params files give the node (they agree; checked here)."""
    backends = {
        shipped_parameter("backend", f) for f in ("threading_ws.yaml", "threading_ws_line.yaml")
    }
    if len(backends) != 1:
        raise ValueError(f"the shipped params files disagree on the backend: {sorted(backends)}")
    return backends.pop()
