"""The loop end to end against moto_server on 127.0.0.1, with the rendered dev stack's own
settings: every job runs with its job definition's command (``Ref::`` parameters resolved as
AWS Batch does) and environment, and nothing else of the test's; the bucket and table names, the
alarm, its rule's event pattern and the target's input come from the recorded plan. What
AWS itself would do in between is played by the test and nothing more: CloudWatch's alarm
evaluation (the alarm's own statistic, period, comparison and threshold), the state change
event CloudWatch sends (the documented shape), EventBridge's match of the rule's pattern and
its input transformer, and Batch's parameter substitution.

Curated data with a shifted feature -> drift score above the threshold -> alarm -> training
run -> candidate registered -> promoted -> the scoring job uses the new version; the no-drift
case changes nothing; a candidate not better by the margin waits for approval; bad data
fails with nothing registered.

Three of the jobs run as real subprocesses (``python -m <module> <command>``): the first
training run, the scoring run that serves the promoted version and the failing training
run, which prove the process-level behaviour (the image's command line, exit codes 0 and 1,
the JSON lines flushed to stdout). The others call the same ``main(argv, environ)`` in this
process with the same argv and environment and clients for the same moto server: a
subprocess of the training image spends ~5 s importing scikit-learn and building boto3
sessions before it does anything, and the loop runs ten jobs. ``python -m stacks models``
runs in-process too (``stacks.cli.main``; its own tests are in tests/test_models_cli.py).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from test_training_support import customers, jsonl

from services.batch_inference.__main__ import main as scoring_main
from services.training.__main__ import main as training_main
from stacks.cli import main as stacks_main
from stacks.offline import PROJECT_DIR, Plan

pytestmark = pytest.mark.subprocess

REGION = "eu-west-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@pytest.fixture
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 on a free port; stopped at teardown. Yields its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        yield url
    finally:
        # The server keeps moto's state in this process: leave nothing to the next test.
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))
        server.stop()


def resource(plan: Plan, typ: str, name: str) -> dict[str, Any]:
    (found,) = [
        r for r in plan.in_region(REGION) if r["type"] == typ and r["name"] == f"{REGION}-{name}"
    ]
    return found


class Stack:
    """What the rendered dev stack says about the loop in its primary region."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.curated = resource(plan, "aws:s3/bucket:Bucket", "lake-curated")["id"]
        self.models = resource(plan, "aws:s3/bucket:Bucket", "lake-models")["id"]
        self.alarm = resource(plan, "aws:cloudwatch/metricAlarm:MetricAlarm", "training-drift")
        self.rule = resource(plan, "aws:cloudwatch/eventRule:EventRule", "training-retrain")
        self.target = resource(
            plan, "aws:cloudwatch/eventTarget:EventTarget", "training-retrain-submit"
        )

    def job(self, name: str) -> tuple[list[str], dict[str, str], dict[str, str]]:
        """Command, environment and parameter defaults of a job definition."""
        definition = resource(
            self.plan, "aws:batch/jobDefinition:JobDefinition", f"{name}-definition"
        )
        properties = json.loads(definition["inputs"]["containerProperties"])
        environment = {e["name"]: e["value"] for e in properties["environment"]}
        return (
            properties["command"],
            environment,
            dict(definition["inputs"].get("parameters") or {}),
        )


def substitute(command: list[str], parameters: Mapping[str, str]) -> list[str]:
    """AWS Batch's ``Ref::name`` substitution; unknown references stay as they are."""
    return [parameters.get(arg[5:], arg) if arg.startswith("Ref::") else arg for arg in command]


def submit(
    loop: Mapping[str, Any],
    job: str,
    module: str,
    run_id: str,
    parameters: Mapping[str, str] | None = None,
    *,
    process: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run one job as AWS Batch would: its command and environment, nothing else.

    ``process``: as ``python -m <module>`` in a subprocess (whose environment is only that);
    otherwise the module's ``main(argv, environ)`` in this process with that same environment
    and the loop's clients for the moto server (what the subprocess builds from
    ``AWS_ENDPOINT_URL``)."""
    stack: Stack = loop["stack"]
    command, environment, defaults = stack.job(job)
    env = {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": loop["endpoint"],
        "AWS_BATCH_JOB_ID": run_id,
        **environment,
    }
    argv = substitute(command, {**defaults, **(parameters or {})})
    if process:
        return subprocess.run(
            [sys.executable, "-m", module, *argv],
            env={
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": str(PROJECT_DIR),
                "NO_PROXY": "127.0.0.1,localhost",
                **env,
            },
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=300,
        )
    out, err = io.StringIO(), io.StringIO()
    if module == "services.training":
        clients = {name: loop[name] for name in ("s3", "dynamodb", "cloudwatch")}
        code = training_main(argv, env, out, err, clients=clients)
    else:
        assert module == "services.batch_inference", module
        code = scoring_main(argv, env, out, err, s3=loop["s3"], dynamodb=loop["dynamodb"])
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def models_cli(
    loop: Mapping[str, Any], monkeypatch: pytest.MonkeyPatch, *argv: str
) -> subprocess.CompletedProcess[str]:
    """``python -m stacks models <action> test ... --project-dir <project>``, in-process with
    the environment a reviewer's shell would have."""
    for name, value in {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": loop["endpoint"],
        "USER": "reviewer",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    args = ["models", *argv[:1], "test", *argv[1:], "--project-dir", str(loop["project"])]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = stacks_main(args)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def evaluate_alarm(cloudwatch: Any, alarm: Mapping[str, Any]) -> tuple[str, str]:
    """CloudWatch's evaluation of the alarm over its latest period: (previous, new) state."""
    inputs = alarm["inputs"]
    name = alarm["id"]
    now = datetime.now(UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace=inputs["namespace"],
        MetricName=inputs["metricName"],
        Dimensions=[{"Name": k, "Value": v} for k, v in inputs["dimensions"].items()],
        StartTime=now - timedelta(seconds=inputs["period"]),
        EndTime=now + timedelta(seconds=60),
        Period=inputs["period"],
        Statistics=[inputs["statistic"]],
    )["Datapoints"]
    previous = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"]
    if not points:
        assert inputs["treatMissingData"] == "ignore"
        return previous, previous  # missing data keeps the state
    value = max(p[inputs["statistic"]] for p in points)
    assert inputs["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
    state = "ALARM" if value >= inputs["threshold"] else "OK"
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"value {value}")
    return previous, state


def matches(pattern: Any, event: Any) -> bool:
    """EventBridge matching for the pattern forms the stack uses (values lists, nesting)."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(
            k in event and matches(v, event[k]) for k, v in pattern.items()
        )
    values = event if isinstance(event, list) else [event]
    return any(v in pattern for v in values)


def retrain_parameters(stack: Stack, event: Mapping[str, Any]) -> dict[str, str]:
    """The rule target's input transformer applied to the event: the run's parameters."""
    transformer = stack.target["inputs"]["inputTransformer"]
    text = transformer["inputTemplate"]
    for name, path in transformer["inputPaths"].items():
        value: Any = event
        for part in path.removeprefix("$.").split("."):
            value = value[part]
        text = text.replace(f"<{name}>", str(value))
    return json.loads(text)["Parameters"]


@pytest.fixture
def loop(moto_server: str, dev_plan: Plan, project_with, stack_config) -> Iterator[dict[str, Any]]:
    stack = Stack(dev_plan)
    clients = {
        name: boto3.client(
            name,
            endpoint_url=moto_server,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        for name in ("s3", "dynamodb", "cloudwatch")
    }
    for bucket in (stack.curated, stack.models):
        clients["s3"].create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
    table = resource(dev_plan, "aws:dynamodb/table:Table", "model-registry-table")["inputs"]
    clients["dynamodb"].create_table(
        TableName=table["name"],
        KeySchema=[
            {"AttributeName": "model", "KeyType": "HASH"},
            {"AttributeName": "version", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in table["attributes"]
        ],
        BillingMode=table["billingMode"],
    )
    alarm = stack.alarm["inputs"]
    clients["cloudwatch"].put_metric_alarm(
        AlarmName=stack.alarm["id"],
        Namespace=alarm["namespace"],
        MetricName=alarm["metricName"],
        Dimensions=[{"Name": k, "Value": v} for k, v in alarm["dimensions"].items()],
        Statistic=alarm["statistic"],
        Period=alarm["period"],
        EvaluationPeriods=alarm["evaluationPeriods"],
        Threshold=alarm["threshold"],
        ComparisonOperator=alarm["comparisonOperator"],
        TreatMissingData=alarm["treatMissingData"],
        AlarmActions=alarm["alarmActions"],
    )
    yield {
        "stack": stack,
        "endpoint": moto_server,
        "table": table["name"],
        "project": project_with(stack_config("dev")),
        **clients,
    }


def put(loop: dict[str, Any], key: str, body: bytes) -> None:
    loop["s3"].put_object(Bucket=loop["stack"].curated, Key=key, Body=body)


def versions(loop: dict[str, Any]) -> dict[int, str]:
    from services.training.registry import Registry

    return {
        i["version"]: i["stage"]
        for i in Registry(loop["dynamodb"], loop["table"], "churn").versions()
    }


def drift_check(loop: dict[str, Any], run_id: str) -> tuple[str, str, dict[str, Any]]:
    """A scheduled drift run, then CloudWatch's evaluation of the alarm and the event."""
    done = submit(loop, "training-drift", "services.training", run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    previous, state = evaluate_alarm(loop["cloudwatch"], loop["stack"].alarm)
    described = loop["cloudwatch"].describe_alarms(AlarmNames=[loop["stack"].alarm["id"]])[
        "MetricAlarms"
    ][0]
    event = {
        "version": "0",
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "account": "123456789012",
        "time": "2024-05-01T06:00:00Z",
        "region": REGION,
        "resources": [described["AlarmArn"]],
        "detail": {
            "alarmName": described["AlarmName"],
            "state": {"value": state},
            "previousState": {"value": previous},
        },
    }
    return previous, state, event


def score(
    loop: dict[str, Any], run_id: str, *, process: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    done = submit(loop, "jobs-churn-scoring", "services.batch_inference", run_id, process=process)
    assert done.returncode == 0, done.stdout + done.stderr
    _, _, parameters = loop["stack"].job("jobs-churn-scoring")
    folder = f"{parameters['write_prefix']}/run_id={run_id}/"
    s3, bucket = loop["s3"], loop["stack"].models
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{folder}_SUCCESS")["Body"].read())
    lines = s3.get_object(Bucket=bucket, Key=f"{folder}part-00000.jsonl")["Body"].read().decode()
    return manifest, [json.loads(line) for line in lines.splitlines()]


def test_drift_retrains_registers_promotes_and_serves_the_new_version(
    loop: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = loop["stack"]
    pattern = json.loads(stack.rule["inputs"]["eventPattern"])
    # Bootstrap: the first version is trained by hand and approved by a human.
    put(
        loop,
        "customers/labelled/batch.jsonl",
        jsonl(customers(800, seed=1, weights=(-6, 0, 0.002))),
    )
    first = submit(loop, "training-train", "services.training", "train-1", process=True)
    assert first.returncode == 0, first.stdout + first.stderr
    assert versions(loop) == {1: "candidate"}
    approved = models_cli(loop, monkeypatch, "approve", "1")
    assert approved.returncode == 0, approved.stderr
    assert versions(loop) == {1: "approved"}

    # No drift: today's customers look like the training data; nothing changes.
    put(loop, "customers/daily/today.jsonl", jsonl(customers(400, seed=2, labelled=False)))
    previous, state, event = drift_check(loop, "drift-1")
    assert state == "OK" and not matches(pattern, event)
    assert versions(loop) == {1: "approved"}
    manifest, lines = score(loop, "score-1")
    assert manifest["model"]["version"] == 1 and {line["model_version"] for line in lines} == {1}

    # Drift: customers got 15 years older, and age now explains churn.
    put(
        loop,
        "customers/daily/today.jsonl",
        jsonl(customers(400, seed=3, age_shift=15, labelled=False)),
    )
    put(
        loop,
        "customers/labelled/batch.jsonl",
        jsonl(customers(800, seed=4, age_shift=15, weights=(-11, 0.2, 0))),
    )
    previous, state, event = drift_check(loop, "drift-2")
    assert (previous, state) == ("OK", "ALARM") and matches(pattern, event)
    report = json.loads(
        loop["s3"].get_object(Bucket=stack.models, Key="drift/churn/drift-2.json")["Body"].read()
    )
    assert (
        report["drifted"] == ["age"] and report["max_score"] >= stack.alarm["inputs"]["threshold"]
    )
    parameters = retrain_parameters(stack, event)
    assert re.fullmatch(r"drift alarm .+ at 2024-05-01T06:00:00Z", parameters["reason"])
    retrained = submit(loop, "training-train", "services.training", "train-2", parameters)
    assert retrained.returncode == 0, retrained.stdout + retrained.stderr
    assert versions(loop) == {2: "approved", 1: "retired"}
    manifest, lines = score(loop, "score-2", process=True)
    assert manifest["model"]["version"] == 2 and {line["model_version"] for line in lines} == {2}

    # The next check compares with the new version's baseline: the data fits it again.
    # (Its alarm evaluation is not played here: CloudWatch would still see drift-2's score in
    # the same 5-minute period; a day later only this check's score.)
    done = submit(loop, "training-drift", "services.training", "drift-3")
    assert done.returncode == 0
    report = json.loads(
        loop["s3"].get_object(Bucket=stack.models, Key="drift/churn/drift-3.json")["Body"].read()
    )
    assert report["version"] == 2 and report["drifted"] == []
    assert report["max_score"] < stack.alarm["inputs"]["threshold"]

    # A candidate that is not better by the margin waits for a human; serving is unchanged.
    held = submit(loop, "training-train", "services.training", "train-3")
    assert held.returncode == 0
    assert versions(loop) == {3: "candidate", 2: "approved", 1: "retired"}
    assert score(loop, "score-3")[0]["model"]["version"] == 2
    listing = models_cli(loop, monkeypatch, "list")
    assert "held for approval: not better by the margin" in listing.stdout

    # Bad data fails clearly, registers nothing and takes no version number.
    put(
        loop,
        "customers/labelled/broken.jsonl",
        b'{"id": "x", "features": {"age": NaN, "income": 1}, "label": 1}\n',
    )
    broken = submit(loop, "training-train", "services.training", "train-4", process=True)
    assert broken.returncode == 1
    failure = json.loads(broken.stdout.splitlines()[-1])
    assert (
        failure["event"] == "run_failed"
        and "broken.jsonl line 1: NaN is not allowed" in failure["message"]
    )
    assert versions(loop) == {3: "candidate", 2: "approved", 1: "retired"}
    counter = loop["dynamodb"].get_item(
        TableName=loop["table"], Key={"model": {"S": "churn"}, "version": {"N": "0"}}
    )
    assert counter["Item"]["next_version"]["N"] == "3"
