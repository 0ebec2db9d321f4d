"""``mlops label FILE``: labels checked against the event ids of the periods the drift check reported on, then written in Model Monitor's ground-truth layout
(https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-model-quality-merge.html) where the quality check reads
them, against moto's S3 and SSM. The command's every call is one ``work.PERMISSIONS`` lists (the sandbox grants those)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from mlops_cli import cli, work
from moto import mock_aws

NS, BUCKET, ENDPOINT = "/mlops/dev", "capture-bucket", "mlops-dev-churn"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
NOW = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)


@pytest.fixture
def world(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        s3, ssm = boto3.client("s3"), boto3.client("ssm")
        s3.create_bucket(Bucket=BUCKET)
        for name, value in {
            f"{NS}/projects/churn/endpoint/name": ENDPOINT,
            f"{NS}/projects/churn/endpoint/monitoring-reports-uri": f"s3://{BUCKET}/monitoring/{ENDPOINT}",
            f"{NS}/sandboxes/alice/churn/key-arn": KEY_ARN,
        }.items():
            ssm.put_parameter(Name=name, Value=value, Type="String")
        calls: list[tuple[str, str]] = []
        clients = {name: boto3.client(name) for name in ("ssm", "s3")}
        for client in clients.values():
            client.meta.events.register("before-call", lambda model, **_: calls.append((model.service_model.service_name, model.name)))
        yield {"s3": s3, "clients": clients, "calls": calls}


def checked(world, hours_ago: int, ids: list[str]) -> None:
    """A period the drift check reported on, with its event ids (as ``mlops_container.check`` writes them)."""
    start = (NOW - timedelta(hours=hours_ago)).replace(minute=0)
    body = {"start": f"{start:%Y-%m-%dT%H:%M:%SZ}", "end": f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}", "ids": ids}
    world["s3"].put_object(Bucket=BUCKET, Key=f"monitoring/{ENDPOINT}/{start:%Y%m%dT%H%M%SZ}/event-ids.json", Body=json.dumps(body).encode())


def mlops(world, *argv: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = cli.execute(
        ["--namespace", NS, "--project", "churn", "--user", "alice", *argv], clients=world["clients"], out=lines.append, now=lambda: NOW
    )
    return code, lines


def labels_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return path


def uploaded(world) -> list[tuple[str, list[dict]]]:
    listed = world["s3"].list_objects_v2(Bucket=BUCKET, Prefix="ground-truth/").get("Contents", [])
    return [
        (o["Key"], [json.loads(line) for line in world["s3"].get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read().decode().splitlines()])
        for o in listed
    ]


def test_labels_of_captured_predictions_land_in_the_documented_layout_under_the_hour(world, tmp_path):
    checked(world, 1, ["ev-1", "ev-2"])
    checked(world, 30, ["ev-3", "order-4"])  # order-4: the InferenceId a caller sent, listed in its place
    code, lines = mlops(world, "label", str(labels_file(tmp_path, "event_id,label\nev-1,1\nev-2,0\nev-3,1;0\norder-4,1\n")))
    assert code == 0 and "4 labels uploaded" in lines[-2]
    ((key, records),) = uploaded(world)
    assert key.startswith(f"ground-truth/{ENDPOINT}/2026/12/01/12/30-00-") and key.endswith(".jsonl")
    assert records[0] == {"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": "ev-1"}, "eventVersion": "0"}
    assert [r["groundTruthData"]["data"] for r in records] == ["1", "0", "1,0", "1"]
    assert records[3]["eventMetadata"]["eventId"] == "order-4"  # the caller's InferenceId, which the check matches first
    head = world["s3"].head_object(Bucket=BUCKET, Key=key)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KEY_ARN)
    assert {work.PERMISSIONS[c] for c in world["calls"]} <= set(work.PERMISSIONS.values())  # KeyError: a call not declared


def test_the_labels_read_back_are_the_quality_checks_own():
    """What the command writes is what the check parses (mlops_container.quality), ids and values."""
    from mlops_container import quality

    line = json.dumps({"groundTruthData": {"data": "1,0", "encoding": "CSV"}, "eventMetadata": {"eventId": "ev-3"}, "eventVersion": "0"})
    assert quality.parse_label(line) == ("ev-3", [1.0, 0.0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,label\nev-1,1\n", "the first line must be the header event_id,label"),
        ("", "found nothing"),
        ("event_id,label\n", "no labels after the header"),
        ("event_id,label\nev-1,yes\n", "line 2: label 'yes' of ev-1 is not 0 or 1"),
        ("event_id,label\nev-1,2\nev-2,1\n", "line 2: label '2' of ev-1 is not 0 or 1"),
        ("event_id,label\nev-1,1\nev-1,0\n", "line 3: ev-1 is labelled again (first on line 2)"),
        ("event_id,label\nev-1\n", "line 2: expected an event id and a label"),
        ("event_id,label\n,1\n", "line 2: expected an event id and a label"),
        (
            "event_id,label\nev-1,1\nunknown-id,0\n",
            "1 of 2 event ids are not among those mlops-dev-churn captured in the 1 periods checked in the last 48 h: unknown-id",
        ),
    ],
)
def test_bad_or_unknown_labels_are_refused_and_nothing_is_uploaded(world, tmp_path, text, message):
    checked(world, 2, ["ev-1"])
    world["s3"].put_object(Bucket=BUCKET, Key=f"monitoring/{ENDPOINT}/manifests/x.json", Body=b"[]")  # not a period
    with pytest.raises(work.UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        mlops(world, "label", str(labels_file(tmp_path, text)))
    assert uploaded(world) == []


def test_an_id_older_than_the_window_is_unknown_until_the_window_reaches_it(world, tmp_path):
    checked(world, 80, ["ev-old"])  # beyond 48 h (and the day a daily period may start before its traffic)
    path = labels_file(tmp_path, "event_id,label\nev-old,1\n")
    with pytest.raises(work.UsageError, match="--hours reaches older ones"):
        mlops(world, "label", str(path))
    assert mlops(world, "label", str(path), "--hours", "72")[0] == 0
    with pytest.raises(work.UsageError, match="--hours 0 is not between 1 and 2160"):
        mlops(world, "label", str(path), "--hours", "0")


def test_a_project_without_an_endpoint_is_told_so(world, tmp_path):
    world["clients"]["ssm"].delete_parameter(Name=f"{NS}/projects/churn/endpoint/name")
    with pytest.raises(work.UsageError, match="project churn has no endpoint in /mlops/dev"):
        mlops(world, "label", str(labels_file(tmp_path, "event_id,label\nev-1,1\n")))


def test_main_exits_2_with_the_reason(world, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_clients", lambda region: world["clients"])
    code = cli.main(["--namespace", NS, "--project", "churn", "--user", "alice", "label", str(tmp_path / "missing.csv")])
    assert code == 2 and "cannot read it as UTF-8 text" in capsys.readouterr().err


def test_the_periods_event_ids_are_what_the_check_writes():
    """The drift check lists a period's ids (inferenceId first, else eventId) in its window only: what the command reads."""
    from mlops_container import capture, quality

    inside, before = NOW.replace(minute=10), NOW.replace(minute=10) - timedelta(hours=1)

    def record(event_id: str, when: datetime, inference_id: str | None = None) -> str:
        r = capture.capture_record(b"1", "text/csv", b"0.5", "text/csv", event_id=event_id, when=when)
        if inference_id:
            r["eventMetadata"]["inferenceId"] = inference_id
        return json.dumps(r)

    lines = [record("ev-1", inside), record("ev-2", inside, "order-2"), record("ev-0", before), "not json"]
    start = NOW.replace(minute=0)
    assert quality.event_ids([("k", lines)], start, start + timedelta(hours=1)) == ["ev-1", "order-2"]


def test_every_problem_of_a_file_is_reported_at_once_by_line(world, tmp_path):
    rows = "\n".join([f"bad-{i},maybe" for i in range(12)] + ["ok,1", "", "ok,0"])
    with pytest.raises(work.UsageError) as info:
        mlops(world, "label", str(labels_file(tmp_path, "event_id,label\n" + rows + "\n")))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'labels.csv'}: line 2: label 'maybe' of bad-0 is not 0 or 1 (the model is a binary classifier); line 3: ")
    assert message.endswith("line 11: label 'maybe' of bad-9 is not 0 or 1 (the model is a binary classifier) (and 3 more): nothing was uploaded")
    with pytest.raises(work.UsageError) as info:
        mlops(world, "label", str(labels_file(tmp_path, "id,value\n")))
    assert str(info.value) == f"{tmp_path / 'labels.csv'}: the first line must be the header event_id,label (found id,value)"
    with pytest.raises(work.UsageError) as info:
        mlops(world, "label", str(labels_file(tmp_path, "event_id,label\na,1,2\n,1\n")))
    assert str(info.value).endswith(
        "line 2: expected an event id and a label, found 'a,1,2'; line 3: expected an event id and a label, found ',1': nothing was uploaded"
    )


def test_the_window_and_the_unknown_ids_exactly(world, tmp_path):
    checked(world, 1, ["ev-1"])
    path = labels_file(tmp_path, "event_id,label\n" + "\n".join(f"nope-{i},1" for i in range(12)) + "\n")
    with pytest.raises(work.UsageError) as info:
        mlops(world, "label", str(path))
    assert str(info.value) == (
        "12 of 12 event ids are not among those mlops-dev-churn captured in the 1 periods checked in the last 48 h: "
        + ", ".join(f"nope-{i}" for i in range(10))
        + " (and 2 more). Use the capture's eventId (or the InferenceId your caller sent); a prediction's id is known once its "
        "period is checked (minutes after it ends); --hours reaches older ones. Nothing was uploaded"
    )
    ok = labels_file(tmp_path, "event_id,label\nev-1,1\n")
    for hours in ("1", "2160"):
        assert mlops(world, "label", str(ok), "--hours", hours)[0] == 0
    for hours in ("0", "2161"):
        with pytest.raises(work.UsageError) as info:
            mlops(world, "label", str(ok), "--hours", hours)
        assert str(info.value) == f"--hours {hours} is not between 1 and 2160 (90 days)"
    keys = [key for key, _ in uploaded(world)]
    assert len(keys) == 2 and all(re.fullmatch(rf"ground-truth/{ENDPOINT}/2026/12/01/12/30-00-[0-9a-f]{{8}}\.jsonl", k) for k in keys)
    head = world["s3"].head_object(Bucket=BUCKET, Key=keys[0])
    assert head["ContentType"] == "application/jsonlines"


def test_a_period_counts_once_and_a_broken_list_of_ids_is_named(world, tmp_path):
    checked(world, 2, ["ev-1"])
    checked(world, 3, ["ev-2"])
    world["s3"].put_object(Bucket=BUCKET, Key=f"monitoring/{ENDPOINT}/20261201T080000Z/summary.json", Body=b"{}")  # a period without ids
    checked(world, 1, ["ev-3"])
    ids, periods = work.captured_ids(world["clients"]["s3"], BUCKET, f"monitoring/{ENDPOINT}/", now=NOW, hours=48)
    assert (ids, periods) == ({"ev-1", "ev-2", "ev-3"}, 3)  # the period without a list is passed over, not the end
    world["s3"].put_object(Bucket=BUCKET, Key=f"monitoring/{ENDPOINT}/20261201T070000Z/event-ids.json", Body=b"[]")
    with pytest.raises(work.UsageError) as info:
        work.captured_ids(world["clients"]["s3"], BUCKET, f"monitoring/{ENDPOINT}/", now=NOW, hours=48)
    assert str(info.value) == f"s3://{BUCKET}/monitoring/{ENDPOINT}/20261201T070000Z/event-ids.json is not the check's list of event ids"
    edge = NOW - timedelta(hours=48 + 24)  # the oldest period start the window reaches
    world["s3"].delete_object(Bucket=BUCKET, Key=f"monitoring/{ENDPOINT}/20261201T070000Z/event-ids.json")
    world["s3"].put_object(
        Bucket=BUCKET, Key=f"monitoring/{ENDPOINT}/{edge:%Y%m%dT%H%M%SZ}/event-ids.json", Body=json.dumps({"ids": ["ev-edge"]}).encode()
    )
    assert "ev-edge" in work.captured_ids(world["clients"]["s3"], BUCKET, f"monitoring/{ENDPOINT}/", now=NOW, hours=48)[0]
    older = edge - timedelta(hours=1)
    world["s3"].put_object(
        Bucket=BUCKET, Key=f"monitoring/{ENDPOINT}/{older:%Y%m%dT%H%M%SZ}/event-ids.json", Body=json.dumps({"ids": ["ev-old"]}).encode()
    )
    assert "ev-old" not in work.captured_ids(world["clients"]["s3"], BUCKET, f"monitoring/{ENDPOINT}/", now=NOW, hours=48)[0]


def test_a_file_is_read_to_its_end_past_a_repeated_id_and_exactly_ten_problems_say_no_more():
    """``read_label_file`` alone (found by `make mutate`: stopping at the first repeated id, and "(and 0 more)" at exactly
    MAX_SHOWN problems, both survived)."""
    from pathlib import Path
    from tempfile import TemporaryDirectory

    with TemporaryDirectory() as folder:
        path = Path(folder) / "labels.csv"
        path.write_text("event_id,label\na,1\na,0\nb,2\n  ,  \n")
        with pytest.raises(work.UsageError) as info:
            work.read_label_file(path)
        assert str(info.value) == (
            f"{path}: line 3: a is labelled again (first on line 2); line 4: label '2' of b is not 0 or 1 (the model is a binary "
            "classifier): nothing was uploaded"
        )
        path.write_text("event_id,label\n" + "".join(f"e{i},x\n" for i in range(work.MAX_SHOWN)))
        with pytest.raises(work.UsageError) as info:
            work.read_label_file(path)
        assert str(info.value).endswith(
            f"line {work.MAX_SHOWN + 1}: label 'x' of e{work.MAX_SHOWN - 1} is not 0 or 1 (the model is a binary classifier): nothing was uploaded"
        )
