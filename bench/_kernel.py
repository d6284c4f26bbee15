"""Run a benchmark's code in a real ipykernel (python3 kernelspec) and bring back a JSON value."""

from __future__ import annotations

import ast
import json
import os
from typing import Any


def in_kernel(code: str, expression: str, env: dict[str, str] | None = None) -> Any:
    """Execute ``code`` in a fresh kernel, then return the JSON text ``expression`` names, parsed."""
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env={**os.environ, **(env or {})})
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(code, timeout=3600, user_expressions={"r": expression},
                                           output_hook=lambda msg: None)
        content = reply["content"]
        if content["status"] != "ok":
            raise RuntimeError(f"kernel run failed: {content.get('ename')}: {content.get('evalue')}")
        return json.loads(ast.literal_eval(content["user_expressions"]["r"]["data"]["text/plain"]))
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
