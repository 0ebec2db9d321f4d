"""The training code's hyperparameters (``container/mlops_container/hyperparameters.py``, their one home), loaded without
importing the container package (which needs numpy and scikit-learn, not wanted at synth time): the config schema
checks a project's ``pipeline.hyperparameters`` with the very parser the training job runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SPEC_FILE = Path(__file__).resolve().parent.parent / "container" / "mlops_container" / "hyperparameters.py"

_spec = importlib.util.spec_from_file_location("mlops_container_hyperparameters", SPEC_FILE)
training = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = training  # its dataclasses resolve their module by name
_spec.loader.exec_module(training)  # type: ignore[union-attr]
