"""The training code's hyperparameters, in one place: each model type (``model_type``) and the settings it takes, with
their kinds, ranges and defaults, and the parser that types SageMaker's strings and names what is wrong.

Standard library only, on purpose: the CDK app's configuration schema loads this very file (``config.hyperparameters``,
without importing the container package) and runs ``parse`` on a project's ``pipeline.hyperparameters`` at synth, so a
misspelt model type or setting fails there, naming the value and the choices, instead of failing a paid training job.
The training job runs the same ``parse`` (``mlops_container.model.parse_hyperparameters``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class HyperparameterError(ValueError):
    """A hyperparameter is unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class Setting:
    """One setting: ``int`` in ``[low, high]``; ``float`` in ``(low, high]``; ``optional_int``: an ``int`` or none."""

    kind: str
    low: float
    high: float
    default: Any

    def parse(self, name: str, value: object) -> Any:
        text = str(value).strip()
        if self.kind == "optional_int" and text.lower() in ("none", ""):
            return None
        if self.kind in ("int", "optional_int"):
            try:
                number: Any = int(text)
            except ValueError:
                raise HyperparameterError(f"hyperparameter {name}={value!r}: must be an integer") from None
            if not self.low <= number <= self.high:
                raise HyperparameterError(f"hyperparameter {name}={value!r}: must be between {self.low} and {self.high}")
            return number
        try:
            number = float(text)
        except ValueError:
            raise HyperparameterError(f"hyperparameter {name}={value!r}: must be a number") from None
        if not self.low < number <= self.high:
            raise HyperparameterError(f"hyperparameter {name}={value!r}: must be in ({float(self.low)}, {float(self.high)}]")
        return number


# model_type -> {setting: Setting}; the scikit-learn estimator each builds is mlops_container.model.build_estimator's
FAMILIES: dict[str, dict[str, Setting]] = {
    "logistic_regression": {
        "C": Setting("float", 0.0, 1e6, 1.0),
        "max_iter": Setting("int", 10, 100_000, 1000),
    },
    "random_forest": {
        "n_estimators": Setting("int", 1, 5000, 200),
        "max_depth": Setting("optional_int", 1, 100, None),
        "min_samples_leaf": Setting("int", 1, 10_000, 1),
    },
    "gradient_boosting": {
        "learning_rate": Setting("float", 0.0, 1.0, 0.1),
        "max_iter": Setting("int", 1, 10_000, 200),
        "max_depth": Setting("optional_int", 1, 100, None),
        "l2_regularization": Setting("float", -1e-12, 1e6, 0.0),
    },
}
COMMON = {"random_state": Setting("int", 0, 2**31 - 1, 42)}
DEFAULT_FAMILY = "gradient_boosting"


def parse(raw: dict[str, Any]) -> tuple[str, dict[str, Any], int]:
    """``(model_type, settings, random_state)`` from SageMaker's string map (or a config's values): every setting of the
    model type, given or its default. Keys SageMaker adds (``sagemaker_*``) and ``_``-prefixed ones are ignored."""
    values = {k: v for k, v in raw.items() if not k.startswith("sagemaker_") and not k.startswith("_")}
    family = str(values.pop("model_type", DEFAULT_FAMILY)).strip()
    if family not in FAMILIES:
        raise HyperparameterError(f"hyperparameter model_type={family!r}: must be one of {', '.join(FAMILIES)}")
    known = {**FAMILIES[family], **COMMON}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise HyperparameterError(f"unknown hyperparameter(s) {', '.join(unknown)} for model_type={family}; allowed: {', '.join(sorted(known))}")
    parsed = {name: (setting.parse(name, values[name]) if name in values else setting.default) for name, setting in known.items()}
    return family, parsed, parsed.pop("random_state")
