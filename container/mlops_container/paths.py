"""SageMaker's filesystem contract, rooted at ``$MLOPS_ML_ROOT`` (default ``/opt/ml``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ML_ROOT_ENV = "MLOPS_ML_ROOT"
DEFAULT_ML_ROOT = "/opt/ml"


def ml_root() -> Path:
    return Path(os.environ.get(ML_ROOT_ENV, DEFAULT_ML_ROOT))


@dataclass(frozen=True)
class TrainingPaths:
    """What a SageMaker training job mounts: config and channels in, model and failure out."""

    root: Path

    @classmethod
    def from_env(cls) -> TrainingPaths:
        return cls(ml_root())

    @property
    def hyperparameters(self) -> Path:
        return self.root / "input" / "config" / "hyperparameters.json"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"


@dataclass(frozen=True)
class ProcessingPaths:
    """Where the platform's processing jobs mount their inputs and outputs (under ``/opt/ml/processing``)."""

    root: Path

    @classmethod
    def from_env(cls) -> ProcessingPaths:
        return cls.under(ml_root())

    @classmethod
    def under(cls, root: Path) -> ProcessingPaths:
        """The processing mounts below an ``/opt/ml`` stand-in ``root``."""
        return cls(root / "processing")

    def input(self, name: str) -> Path:
        return self.root / "input" / name

    def output(self, name: str) -> Path:
        return self.root / "output" / name

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def test(self) -> Path:
        return self.root / "test"

    @property
    def evaluation(self) -> Path:
        return self.root / "evaluation"

    @property
    def baseline(self) -> Path:
        return self.root / "baseline"

    @property
    def scored_baseline(self) -> Path:
        return self.root / "scored-baseline"


@dataclass(frozen=True)
class MonitoringJobPaths:
    """What a monitoring job (Model Monitor's container contract) reads and writes outside its mounts: the job's
    configuration, its outcome message, and the metrics SageMaker publishes to CloudWatch for it
    (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-cloudwatch.html)."""

    root: Path

    @property
    def job_config(self) -> Path:
        return self.root / "config" / "processingjobconfig.json"

    @property
    def message(self) -> Path:
        return self.root / "output" / "message"

    @property
    def cloudwatch_metrics(self) -> Path:
        return self.root / "output" / "metrics" / "cloudwatch" / "cloudwatch_metrics.jsonl"
