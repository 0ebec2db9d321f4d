"""The container's contract (``container/mlops_container/contract.py``), loaded without importing the
container package (which needs numpy and scikit-learn, not wanted at synth time)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

CONTRACT_FILE = Path(__file__).resolve().parent.parent / "container" / "mlops_container" / "contract.py"

_spec = importlib.util.spec_from_file_location("mlops_container_contract", CONTRACT_FILE)
contract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(contract)  # type: ignore[union-attr]
