"""Benchmark: what one scheduled drift check costs and how soon after its period its metrics are out, against a SageMaker
Model Monitor run on the smallest instance that completes one (figures cited in config/pricing/prices.yaml).

For each traffic level (an hour of ``BENCH_REQUESTS`` single-row requests, default 3,600 and 60,000: 1 and ~17 a second),
capture is written in SageMaker's format by the serving container's own writer, and the check runs in process against
moto's S3 and CloudWatch, as its Lambda functions run it: the planner (lists the hour, writes the manifest) and the analysis
(``mlops_container.check.handle``: download, check, write the five reports, publish the metrics). ``BENCH_RUNS`` (default 3)
rounds, the traffic levels interleaved in each; the medians are priced:

- ours: the planner's and the analysis' GB-seconds at their configured memory, two Lambda requests, the state transitions
  of a one-period run (``config.schema.STATE_TRANSITIONS_PER_RUN``), the S3 requests made (counted), the PutMetricData calls;
- Model Monitor: its smallest completing instance for the billed seconds of a measured hourly run.

Latency from the period's end to its metrics: ours is the configured delay plus the measured run (a Lambda cold start and
S3 over the network are not measured here: they are listed apart); Model Monitor's is its documented 0-20 minutes before
the run plus the run. Run: ``make bench-check``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "container"))
sys.path.insert(0, str(ROOT))

from config.schema import MonitoringConfig  # noqa: E402
from mlops_container import capture, check, data, monitor, preprocess, quality  # noqa: E402

REQUESTS = [int(n) for n in os.environ.get("BENCH_REQUESTS", "3600,60000").split(",")]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PRICES = yaml.safe_load((ROOT / "config" / "pricing" / "prices.yaml").read_text())
COST_GOAL, LATENCY_GOAL_MINUTES = 0.1, 5.0
BUCKET, ENDPOINT = "capture-bucket", "ep"
PLANNER_MB = 256  # mlops_constructs.handler_function's default


def _traffic(root: Path, requests: int, hour: datetime) -> tuple[Path, list[str]]:
    """The training features as the pipeline's baseline job reads them, and an hour of captured requests (rows of them,
    slightly shifted), written by the serving container's capture writer."""
    data.write_table(root / "raw" / "d.csv", data.builtin_dataset())
    preprocess.run(root / "raw", root / "out", target="target", validation_fraction=0.15, test_fraction=0.15, seed=42)
    baseline = data.read_table(root / "out" / "baseline" / "baseline.csv", target=None)
    rng = np.random.default_rng(requests)
    rows = baseline.X[rng.integers(0, len(baseline), requests)] * rng.normal(1, 0.02, (requests, baseline.X.shape[1]))
    folder = root / "capture" / ENDPOINT / "AllTraffic" / hour.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True)
    with (folder / "part.jsonl").open("w") as fh:
        for i, row in enumerate(rows):
            when = hour + timedelta(seconds=3600 * i / requests)
            text = ",".join(f"{v:.6g}" for v in row)
            fh.write(json.dumps(capture.capture_record(text.encode(), "text/csv", b"0.5\n", "text/csv", event_id=str(i), when=when)) + "\n")
    return root / "out" / "baseline", baseline.features


class Counting:
    """A boto3 client whose calls are counted by operation (what S3 and CloudWatch would bill per request)."""

    def __init__(self, client, counts: dict):
        self._client, self._counts = client, counts

    def get_paginator(self, operation: str):
        paginator, counts = self._client.get_paginator(operation), self._counts

        class Counted:
            def paginate(self, **kwargs):
                for page in paginator.paginate(**kwargs):
                    counts[operation] = counts.get(operation, 0) + 1  # each page is a request
                    yield page

        return Counted()

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if callable(attr) and not name.startswith(("exceptions", "meta")):

            def counted(*args, **kwargs):
                self._counts[name] = self._counts.get(name, 0) + 1
                return attr(*args, **kwargs)

            return counted
        return attr


def one_run(requests: int, watched: list[str]) -> dict:
    """One check of one hour of ``requests``: the planner, then the analysis, in moto; their seconds and requests."""
    import boto3
    from moto import mock_aws

    sys.path.insert(0, str(ROOT / "lambda" / "drift_check_plan"))
    import logic  # the planner's own code

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        root = Path(tmp)
        baseline_data, features = _traffic(root, requests, hour)
        monitor.suggest_baseline(baseline_data, root / "baseline")
        raw = boto3.client("s3", region_name="us-east-1")
        raw.create_bucket(Bucket=BUCKET)
        for path in (root / "capture").rglob("*.jsonl"):
            raw.upload_file(str(path), BUCKET, f"{ENDPOINT}/{path.relative_to(root / 'capture').as_posix()}")
        for name in ("statistics.json", "constraints.json"):
            raw.upload_file(str(root / "baseline" / name), BUCKET, f"pipeline/0a1b2c3d/baseline/{name}")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        machine = sfn.create_state_machine(
            name="ep-dq",
            roleArn="arn:aws:iam::123456789012:role/r",
            definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}),
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        started = sfn.describe_execution(executionArn=execution)["startDate"]
        config = MonitoringConfig()
        settings = logic.Settings.from_env(
            {
                "BUCKET": BUCKET,
                "CAPTURE_PREFIX": f"{ENDPOINT}/{ENDPOINT}/AllTraffic/",
                "STATE_KEY": f"monitoring/{ENDPOINT}/state.json",
                "MANIFEST_PREFIX": f"monitoring/{ENDPOINT}/manifests/",
                "PERIOD_HOURS": "1",
                "ANCHOR_HOUR": "0",
                "DELAY_MINUTES": str(config.delay_minutes),
                "MAX_PERIODS": "24",
                "LAMBDA_MAX_BYTES": str(10 * 1024**3),
                "RUNNER": "auto",
            }
        )
        counts: dict[str, int] = {}
        s3 = Counting(raw, counts)
        event = {"action": "periods", "stateMachine": machine, "execution": execution, "startTime": started.isoformat()}
        now = hour + timedelta(hours=1, minutes=config.delay_minutes)
        t0 = time.perf_counter()
        planned = logic.handle(event, s3=s3, sfn=sfn, settings=settings, now=now, log=lambda *a, **k: None)
        plan_seconds = time.perf_counter() - t0
        (period,) = planned["periods"]
        env = check.Environment.from_env(
            {
                "BASELINE_URI": f"s3://{BUCKET}/pipeline/0a1b2c3d/baseline",
                "METRICS_NAMESPACE": "/aws/sagemaker/Endpoint/data-metrics",
                "CHECK_NAME": "ep-dq",
                "CHECK_ENDPOINT": ENDPOINT,
                "KMS_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
                "METRIC_FEATURES": ",".join(watched),
            }
        )
        request = {"format": "capture", "manifest": period["manifest"], "start": period["start"], "end": period["end"]}
        request["output"] = f"s3://{BUCKET}/monitoring/{ENDPOINT}/{period['name']}"
        t0 = time.perf_counter()
        summary = check.handle(request, s3=s3, env=env, tmp=root)
        check_seconds = time.perf_counter() - t0
        metrics = summary["metrics"]
        quality_seconds, quality_counts = _quality_run(raw, logic, settings, env, period, requests, hour)
    sys.modules.pop("logic", None)
    return {
        "plan_seconds": plan_seconds,
        "check_seconds": check_seconds,
        "quality_seconds": quality_seconds,
        "quality_s3_requests": quality_counts,
        "rows": summary["rows"],
        "capture_mb": period["bytes"] / 1e6,
        "s3_requests": counts,
        "metrics": metrics,
        "features": len(features),
    }


def _quality_run(raw, logic, settings, env, period: dict, requests: int, hour: datetime) -> tuple[float, dict]:
    """The same hour's model quality (``mlops_container.quality`` through ``check.check_quality``): every request labelled
    within the hour, in Model Monitor's ground-truth layout; the analysis' seconds and its S3 requests."""
    import dataclasses

    rng = np.random.default_rng(requests + 1)
    labels = "\n".join(quality.label_line(str(i), [int(y)]) for i, y in enumerate(rng.integers(0, 2, requests)))
    key = f"ground-truth/{ENDPOINT}/{hour:%Y/%m/%d/%H}/labels.jsonl"
    raw.put_object(Bucket=BUCKET, Key=key, Body=labels.encode())
    listed = raw.list_objects_v2(Bucket=BUCKET, Prefix=f"{ENDPOINT}/")["Contents"]
    predictions = logic.write_manifest(raw, settings, "q-predictions", BUCKET, [o["Key"] for o in listed])
    labelled = logic.write_manifest(raw, settings, "q-labels", BUCKET, [key])
    quality_env = dataclasses.replace(env, quality=check.QualitySettings("auc", 0.75, 100, 24))
    request = check.Request.parse(
        {
            "format": "quality",
            "manifest": predictions,
            "labels": labelled,
            "start": period["start"],
            "end": period["end"],
            "output": f"s3://{BUCKET}/q/",
        }
    )
    counts: dict[str, int] = {}
    t0 = time.perf_counter()
    check.check_quality(request, s3=Counting(raw, counts), env=quality_env, now=hour + timedelta(hours=25))
    return time.perf_counter() - t0, counts


def price(run: dict) -> dict:
    """What one check costs at the table's prices, by item."""
    from config.schema import STATE_TRANSITIONS_PER_RUN

    use = PRICES["per_use"]
    gb_second = use["lambda_gb_second"]["price"]
    memory_gb = MonitoringConfig().lambda_memory_mb / 1024
    s3 = run["s3_requests"]
    puts = sum(n for op, n in s3.items() if op in ("put_object", "upload_file", "list_objects_v2"))
    gets = sum(n for op, n in s3.items() if op in ("get_object", "download_file"))
    put_metric_calls = -(-run["metrics"] // 20)  # monitor.PUT_METRICS_BATCH a request
    items = {
        "Lambda compute": (max(run["plan_seconds"], 0.001) * PLANNER_MB / 1024 + max(run["check_seconds"], 0.001) * memory_gb) * gb_second,
        "Lambda requests": 2 * use["lambda_request_million"]["price"] / 1e6,
        "Step Functions transitions": STATE_TRANSITIONS_PER_RUN * use["sfn_transition_1k"]["price"] / 1000,
        "S3 requests": puts * use["s3_put_1k"]["price"] / 1000 + gets * use["s3_get_1k"]["price"] / 1000,
        "PutMetricData requests": put_metric_calls * use["cloudwatch_api_1k"]["price"] / 1000,
    }
    return items


def main() -> int:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ[key] = value  # moto's: nothing here reaches AWS
    peer = PRICES["model_monitor_run"]
    peer_cost = PRICES["per_use"]["sagemaker_processing_hour"][peer["instance"]]["price"] * peer["billed_seconds"] / 3600
    runs: dict[int, list[dict]] = {n: [] for n in REQUESTS}
    for i in range(RUNS):
        for n in REQUESTS:
            watched = MonitoringConfig().metric_features or []
            result = one_run(n, watched or ["mean_radius", "worst_area"])
            runs[n].append(result)
            print(
                f"run {i + 1}, {n:,} requests ({result['capture_mb']:.1f} MB of capture): planner {result['plan_seconds']:.3f} s, "
                f"analysis {result['check_seconds']:.3f} s, quality {result['quality_seconds']:.3f} s, {result['metrics']} metrics, "
                f"S3 requests {result['s3_requests']}",
                flush=True,
            )
    delay = MonitoringConfig().delay_minutes
    print(f"\nmedian of {RUNS} rounds, {os.cpu_count()} cores; prices {PRICES['region']} read {PRICES['read_on']} (config/pricing/prices.yaml)")
    print(
        f"Model Monitor: {peer['instance']} (the smallest instance that completed a run: {peer['smaller']}), "
        f"{peer['billed_seconds']} s billed = ${peer_cost:.5f} a run; {peer['start_delay_minutes'][0]}-{peer['start_delay_minutes'][1]} min "
        f"before it starts ({peer['source']})"
    )
    print("| hour of traffic | planner | analysis | cost per check (ours) | ratio to Model Monitor | period end -> metrics (ours) | Model Monitor |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    met = True
    for n, results in runs.items():
        median = {k: statistics.median(r[k] for r in results) for k in ("plan_seconds", "check_seconds", "quality_seconds")}
        items = price({**results[0], **median})
        cost = sum(items.values())
        ratio = cost / peer_cost
        latency = delay + (median["plan_seconds"] + median["check_seconds"]) / 60
        mm = (peer["start_delay_minutes"][0] + peer["billed_seconds"] / 60, peer["start_delay_minutes"][1] + peer["billed_seconds"] / 60)
        met &= ratio <= COST_GOAL and latency <= LATENCY_GOAL_MINUTES
        print(
            f"| {n:,} requests | {median['plan_seconds']:.3f} s | {median['check_seconds']:.3f} s | ${cost:.6f} | {ratio:.3f} "
            f"| {latency:.2f} min | {mm[0]:.1f}-{mm[1]:.1f} min |"
        )
        print("  " + "; ".join(f"{k} ${v:.7f}" for k, v in items.items()))
        print(
            f"  model quality of the same hour (every request labelled): analysis {median['quality_seconds']:.3f} s, "
            f"S3 requests {results[0]['quality_s3_requests']}"
        )
    print(f"goals: cost <= {COST_GOAL:g} of Model Monitor's, metrics <= {LATENCY_GOAL_MINUTES:g} min after the period: {'met' if met else 'NOT met'}")
    print(
        "not measured here: a Lambda cold start of the image and S3 over the network (in process against moto); the delay is "
        f"monitoring.delay_minutes ({delay}); custom metrics bill per month (make cost), the same for both"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
