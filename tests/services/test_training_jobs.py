"""The training and drift jobs (services/training) against moto: what they write, register,
publish and refuse; and the drift measures themselves."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto_support import fresh_mock_aws
from test_training_support import (
    CURATED,
    DAILY,
    LABELLED,
    MODEL,
    MODELS,
    NAMESPACE,
    TABLE,
    create_registry_table,
    customers,
    job_environment,
    jsonl,
    keys_under,
    registry_items,
    run_job,
)

from services.batch_inference.models import parse_model_artefact
from services.training import stats
from services.training.__main__ import main as training_main
from services.training.registry import Registry


@pytest.fixture
def aws(aws_env: None) -> Iterator[dict[str, Any]]:
    """moto S3 (curated and models zones), DynamoDB (the registry) and CloudWatch."""
    with fresh_mock_aws():
        clients = {
            name: boto3.client(name, region_name="us-east-1")
            for name in ("s3", "dynamodb", "cloudwatch")
        }
        clients["s3"].create_bucket(Bucket=CURATED)
        clients["s3"].create_bucket(Bucket=MODELS)
        create_registry_table(clients["dynamodb"])
        yield clients


def put(aws: dict[str, Any], key: str, body: bytes) -> None:
    aws["s3"].put_object(Bucket=CURATED, Key=key, Body=body)


def train(aws: dict[str, Any], *extra: str) -> tuple[int, list[dict[str, Any]], str]:
    return run_job(["train", "--run-id", "run-1", *extra], job_environment("train"), aws)


def drift(aws: dict[str, Any], *extra: str) -> tuple[int, list[dict[str, Any]], str]:
    return run_job(["drift", "--run-id", "check-1", *extra], job_environment("drift"), aws)


def approve(aws: dict[str, Any], version: int) -> None:
    Registry(aws["dynamodb"], TABLE, MODEL).approve(version, "test", datetime.now(UTC), "test")


def metric_values(aws: dict[str, Any], name: str) -> list[float]:
    stats_ = aws["cloudwatch"].get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName=name,
        Dimensions=[{"Name": "Model", "Value": MODEL}],
        StartTime=datetime(2000, 1, 1, tzinfo=UTC),
        EndTime=datetime(2100, 1, 1, tzinfo=UTC),
        Period=60,
        Statistics=["Maximum"],
    )
    return [point["Maximum"] for point in stats_["Datapoints"]]


# --------------------------------------------------------------------------- training


def test_a_first_training_run_registers_a_candidate_with_its_artefacts_and_lineage(aws) -> None:
    put(aws, f"{LABELLED}/2024-05-01.jsonl", jsonl(customers(600, seed=1)))
    code, logs, _ = train(aws)
    assert code == 0, logs
    registry = Registry(aws["dynamodb"], TABLE, MODEL)
    (item,) = registry.versions()
    assert item["version"] == 1 and item["stage"] == "candidate"
    assert item["decision"].startswith("held for approval: no approved version")
    assert set(item["metrics"]) == {"auc", "log_loss"} and 0.5 < item["metrics"]["auc"] <= 1
    assert item["data_window"]["records"] == 600 and item["data_window"]["prefix"] == f"{LABELLED}/"
    assert item["image"].endswith("@sha256:abc") and item["code_digest"].startswith("sha256:")
    assert item["features"] == ["age", "income"]
    assert keys_under(aws["s3"], MODELS, "registry/") == [
        "registry/churn/v1/baseline.json",
        "registry/churn/v1/metrics.json",
        "registry/churn/v1/model.json",
    ]
    # The model is in the batch inference job's format: that job can score with it.
    body = aws["s3"].get_object(Bucket=MODELS, Key="registry/churn/v1/model.json")["Body"].read()
    model = parse_model_artefact(body, "s3://m/model.json", "x", {})
    assert model.link == "logistic" and set(model.coefficients) == {"age", "income"}
    # The baseline beside it: per feature count, mean, std, quantiles and histogram bins.
    baseline = json.loads(
        aws["s3"].get_object(Bucket=MODELS, Key="registry/churn/v1/baseline.json")["Body"].read()
    )
    age = baseline["features"]["age"]
    assert age["count"] == 480 and 35 < age["mean"] < 45 and 7 < age["std"] < 13
    assert len(age["quantiles"]["values"]) == 101
    assert abs(sum(age["histogram"]["proportions"]) - 1) < 1e-9
    assert metric_values(aws, "CandidateAwaitingApproval") == [1.0]


def test_a_better_candidate_is_promoted_and_the_serving_version_retired(aws) -> None:
    # v1 learned that income explains churn; in the new data only age does.
    put(aws, f"{LABELLED}/a.jsonl", jsonl(customers(600, seed=1, weights=(-6, 0, 0.002))))
    assert train(aws)[0] == 0
    approve(aws, 1)
    put(
        aws,
        f"{LABELLED}/a.jsonl",
        jsonl(customers(600, seed=2, age_shift=15, weights=(-11, 0.2, 0))),
    )
    code, logs, _ = train(aws)
    assert code == 0, logs
    items = {i["version"]: i for i in Registry(aws["dynamodb"], TABLE, MODEL).versions()}
    assert items[2]["stage"] == "approved" and items[1]["stage"] == "retired"
    assert items[2]["decision"].startswith("promoted automatically: auc")
    # Both models were evaluated on the same held-out records.
    assert items[2]["serving"]["version"] == 1
    assert items[2]["metrics"]["auc"] >= items[2]["serving"]["metrics"]["auc"] + 0.01
    assert items[1]["reason"] == "replaced by version 2"
    assert metric_values(aws, "CandidateAwaitingApproval")[-1] in (0.0, 1.0)


def test_a_candidate_not_better_by_the_margin_waits_for_a_human(aws) -> None:
    put(aws, f"{LABELLED}/a.jsonl", jsonl(customers(600, seed=1)))
    assert train(aws)[0] == 0
    approve(aws, 1)
    code, logs, _ = train(aws, "--margin", "0.5")
    assert code == 0
    items = {i["version"]: i for i in Registry(aws["dynamodb"], TABLE, MODEL).versions()}
    assert items[1]["stage"] == "approved" and items[2]["stage"] == "candidate"
    assert "not better by the margin" in items[2]["decision"]
    held = [line for line in logs if line["event"] == "candidate_awaiting_approval"]
    assert "python -m stacks models approve" in held[0]["message"]


@pytest.mark.parametrize(
    "objects, message",
    [
        ({}, "the window is empty: no input objects"),
        ({"a.jsonl": b"\n\n"}, "hold no records"),
        (
            {
                "a.jsonl": jsonl(
                    [
                        {"id": 1, "features": {"age": 1, "income": 2}, "label": 1},
                        {"id": 2, "features": {"age": 3}, "label": 0},
                    ]
                )
            },
            "line 2: feature(s) missing: income",
        ),
        (
            {"a.jsonl": b'{"id": 1, "features": {"age": NaN, "income": 2}, "label": 1}\n'},
            "line 1: NaN is not allowed",
        ),
        (
            {"a.jsonl": b'{"id": 1, "features": {"age": 1e400, "income": 2}, "label": 1}\n'},
            "features.age is not a finite number",
        ),
        (
            {"a.jsonl": b'{"id": 1, "features": {"age": 1, "income": 2}, "label": 2}\n'},
            "field 'label' must be 0 or 1",
        ),
        ({"a.jsonl": jsonl(customers(50, seed=3))}, "fewer than the 100 needed"),
    ],
    ids=["empty-window", "no-records", "missing-feature", "nan", "overflow", "label", "too-few"],
)
def test_bad_data_fails_clearly_and_registers_nothing(aws, objects, message) -> None:
    for name, body in objects.items():
        put(aws, f"{LABELLED}/{name}", body)
    code, logs, _ = train(aws)
    assert code == 1
    failure = logs[-1]
    assert failure["event"] == "run_failed" and failure["error"] == "data_error"
    assert message in failure["message"]
    assert registry_items(aws["dynamodb"]) == []  # not even a version number was taken
    assert keys_under(aws["s3"], MODELS, "") == []
    assert metric_values(aws, "CandidateAwaitingApproval") == []


def test_objects_outside_the_window_are_not_read(aws) -> None:
    put(aws, f"{LABELLED}/a.jsonl", jsonl(customers(600, seed=1)))
    out = io.StringIO()
    ninety_one_days_later = datetime.now(UTC) + timedelta(days=91)
    code = training_main(
        ["train", "--run-id", "r"],
        job_environment("train"),
        out,
        io.StringIO(),
        clients=aws,
        now=lambda: ninety_one_days_later,
    )
    assert code == 1 and "the window is empty: no input objects" in out.getvalue()
    assert registry_items(aws["dynamodb"]) == []


def test_usage_errors_name_the_option(aws) -> None:
    code, logs, err = run_job(["train"], {}, aws)
    assert code == 2
    assert "--data-bucket is required (or set TRAINING_DATA_BUCKET)" in err
    assert "--run-id is required" in err
    code, _, err = run_job(
        ["drift", "--run-id", "x", "--measure", "chi2"], job_environment("drift"), aws
    )
    assert code == 2 and "--measure: 'chi2' is not one of psi, ks" in err


# --------------------------------------------------------------------------- drift


def test_drift_without_a_serving_model_compares_nothing_and_publishes_nothing(aws) -> None:
    put(aws, f"{DAILY}/a.jsonl", jsonl(customers(200, seed=5, labelled=False)))
    code, logs, _ = drift(aws)
    assert code == 0
    assert any(line["event"] == "no_serving_model" for line in logs)
    assert metric_values(aws, "MaxDriftScore") == []


@pytest.mark.parametrize("measure, threshold", [("psi", 0.2), ("ks", 0.1)])
def test_drift_publishes_per_feature_scores_and_flags_a_shifted_feature(
    aws, measure, threshold
) -> None:
    put(aws, f"{LABELLED}/a.jsonl", jsonl(customers(1000, seed=1)))
    assert train(aws)[0] == 0
    approve(aws, 1)
    put(aws, f"{DAILY}/same.jsonl", jsonl(customers(500, seed=7, labelled=False)))
    code, logs, _ = drift(aws, "--measure", measure, "--threshold", str(threshold))
    assert code == 0
    checked = [line for line in logs if line["event"] == "drift_checked"][0]
    assert checked["drifted"] == [] and checked["max_score"] < threshold
    put(aws, f"{DAILY}/same.jsonl", jsonl(customers(500, seed=8, age_shift=15, labelled=False)))
    code, logs, _ = run_job(
        ["drift", "--run-id", "check-2", "--measure", measure, "--threshold", str(threshold)],
        job_environment("drift"),
        aws,
    )
    checked = [line for line in logs if line["event"] == "drift_checked"][0]
    assert checked["drifted"] == ["age"] and checked["scores"]["income"] < threshold
    assert sorted(metric_values(aws, "MaxDriftScore"))[-1] == pytest.approx(checked["max_score"])
    per_feature = aws["cloudwatch"].list_metrics(Namespace=NAMESPACE, MetricName="DriftScore")
    features = {
        d["Value"]
        for m in per_feature["Metrics"]
        for d in m["Dimensions"]
        if d["Name"] == "Feature"
    }
    assert features == {"age", "income"}
    report = json.loads(
        aws["s3"].get_object(Bucket=MODELS, Key="drift/churn/check-2.json")["Body"].read()
    )
    assert report["version"] == 1 and report["drifted"] == ["age"] and report["measure"] == measure


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"id": 1, "features": {"age": 40}}\n', "feature(s) missing: income"),
        (b'{"id": 1, "features": {"age": Infinity, "income": 1}}\n', "Infinity is not allowed"),
    ],
)
def test_drift_on_bad_data_fails_and_publishes_nothing(aws, body, message) -> None:
    put(aws, f"{LABELLED}/a.jsonl", jsonl(customers(300, seed=1)))
    assert train(aws)[0] == 0
    approve(aws, 1)
    put(aws, f"{DAILY}/bad.jsonl", body)
    code, logs, _ = drift(aws)
    assert code == 1 and message in logs[-1]["message"]
    assert metric_values(aws, "MaxDriftScore") == []
    assert keys_under(aws["s3"], MODELS, "drift/") == []


# --------------------------------------------------------------------------- registry


def test_approval_is_exclusive_rollback_approves_the_previous_version_and_reject_retires(
    aws,
) -> None:
    put(aws, f"{LABELLED}/a.jsonl", jsonl(customers(300, seed=1)))
    for _ in range(3):
        assert train(aws)[0] == 0
    registry = Registry(aws["dynamodb"], TABLE, MODEL)
    now = datetime.now(UTC)
    assert registry.approve(1, "a", now, "first") is None
    assert registry.approve(2, "a", now, "second") == 1
    assert registry.approve(1, "a", now, "roll back") == 2
    registry.reject(3, "b", now, "looks wrong")
    stages = {i["version"]: i["stage"] for i in registry.versions()}
    assert stages == {1: "approved", 2: "retired", 3: "retired"}
    from services.training.errors import UsageError

    with pytest.raises(UsageError, match="is approved, not a candidate; to stop serving it"):
        registry.reject(1, "b", now, "x")
    with pytest.raises(UsageError, match=r"has no version 9 .* \(versions: 3, 2, 1\)"):
        registry.approve(9, "b", now, "x")


# --------------------------------------------------------------------------- measures


def baseline_of(values: np.ndarray) -> dict[str, Any]:
    return stats.feature_statistics(values)


def test_psi_and_ks_are_near_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rnd = np.random.default_rng(0)
    base = baseline_of(rnd.normal(0, 1, 5000))
    same, shifted = rnd.normal(0, 1, 2000), rnd.normal(1, 1, 2000)
    assert stats.psi(base, same) < 0.05 and stats.psi(base, shifted) > 0.25
    assert stats.ks(base, same) < 0.05 and 0.3 < stats.ks(base, shifted) < 0.45  # true D: 0.383


def test_a_constant_feature_drifts_when_its_value_changes() -> None:
    base = baseline_of(np.full(100, 3.0))
    assert stats.ks(base, np.full(50, 3.0)) == 0.0 and stats.ks(base, np.full(50, 4.0)) == 1.0
    assert stats.psi(base, np.full(50, 3.0)) < 1e-6 and stats.psi(base, np.full(50, 4.0)) > 1


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50),
    st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50),
)
def test_ks_is_a_distance_in_0_1_and_psi_is_not_negative(
    old: list[float], new: list[float]
) -> None:
    base = baseline_of(np.asarray(old))
    assert 0.0 <= stats.ks(base, np.asarray(new)) <= 1.0
    assert stats.psi(base, np.asarray(new)) >= 0.0


def test_the_drift_job_starts_without_scikit_learn() -> None:
    """The drift check runs on a schedule and fits nothing: its process must not pay the
    2-3 s scikit-learn import (only training fits and evaluates models)."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys\n"
        "from services.training.__main__ import main\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn')[:3])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
