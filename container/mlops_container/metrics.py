"""Binary-classification metrics, and the quality gate that decides whether a model is registered."""

from __future__ import annotations

import math

import numpy as np

from mlops_container.contract import CLASSIFICATION_METRICS  # noqa: F401 (the metrics evaluations report)

# The metrics every evaluation reports; the gate reads one of them. Same names as the platform
# config's ``evaluation.metric``; rmse/mae/r2 belong to regression models, which this image does not train.
HIGHER_IS_BETTER = {"auc": True, "accuracy": True, "f1": True, "precision": True, "recall": True, "r2": True, "rmse": False, "mae": False}


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, *, threshold: float = 0.5) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

    predicted = (scores >= threshold).astype(np.int64)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "auc": float(roc_auc_score(y_true, scores)) if both_classes else math.nan,
        "accuracy": float(accuracy_score(y_true, predicted)),
        "f1": float(f1_score(y_true, predicted, zero_division=0)),
        "precision": float(precision_score(y_true, predicted, zero_division=0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0)),
    }


def gate(metrics: dict[str, float], metric: str, threshold: float) -> tuple[bool, str]:
    """The quality gate: ``metric >= threshold`` when higher is better, ``<=`` otherwise.

    Returns (passed, one-line verdict naming metric, value and threshold). A missing or NaN metric fails.
    """
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric '{metric}'; allowed: {', '.join(HIGHER_IS_BETTER)}")
    value = metrics.get(metric)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False, f"{metric} is missing from the evaluation: the gate fails"
    higher = HIGHER_IS_BETTER[metric]
    passed = value >= threshold if higher else value <= threshold
    relation = ">=" if higher else "<="
    verdict = "passed" if passed else "failed"
    return passed, f"quality gate {verdict}: {metric} = {value:.4f}, required {relation} {threshold}"
