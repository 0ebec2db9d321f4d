"""Stops this Studio JupyterLab app once it has been idle for IDLE_MINUTES.

Runs inside the app (started by the Studio lifecycle configuration, every few minutes). Idle means:
no kernel is busy, and neither kernels, terminals nor the browser have shown activity for the
configured minutes, as reported by the Jupyter server's own REST API. Stopping the app keeps the
space and its storage; only the compute is released.
Standard library only: it runs in whatever image the user picked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone

METADATA = "/opt/ml/metadata/resource-metadata.json"
BASE_URL = os.environ.get("JUPYTER_BASE_URL", "http://localhost:8888/jupyterlab/default")


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def idle_minutes(status: dict, kernels: list[dict], terminals: list[dict], now: datetime) -> float:
    """Minutes since the last activity; 0 while any kernel is busy."""
    if any(k.get("execution_state") == "busy" for k in kernels):
        return 0.0
    stamps = [status.get("last_activity")] + [k.get("last_activity") for k in kernels]
    stamps += [t.get("last_activity") for t in terminals]
    latest = max((_parse(s) for s in stamps if s), default=None)
    if latest is None:
        return 0.0
    return max(0.0, (now - latest).total_seconds() / 60)


def _get(path: str) -> object:
    with urllib.request.urlopen(f"{BASE_URL}{path}", timeout=10) as response:  # noqa: S310 (localhost)
        return json.load(response)


def main() -> int:
    limit = float(os.environ["IDLE_MINUTES"])
    try:
        idle = idle_minutes(_get("/api/status"), _get("/api/kernels"), _get("/api/terminals"), datetime.now(timezone.utc))
    except OSError as exc:
        print(f"idle-check: Jupyter server not reachable yet ({exc}); will retry", file=sys.stderr)
        return 0
    print(f"idle-check: idle for {idle:.1f} of {limit:.0f} minutes")
    if idle < limit:
        return 0
    with open(METADATA, encoding="utf-8") as fh:
        meta = json.load(fh)
    command = [
        "aws", "sagemaker", "delete-app",
        "--domain-id", meta["DomainId"],
        "--space-name", meta["SpaceName"],
        "--app-type", meta.get("AppType", "JupyterLab"),
        "--app-name", meta["ResourceName"],
    ]
    print("idle-check: stopping the app:", " ".join(command))
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
