"""``python -m stacks models list|approve|reject <stack>`` against moto (boto3 only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from services.training.registry import Registry
from stacks.cli import main

TABLE = "mlops-dev-model-registry"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("USER", "alice")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "model", "KeyType": "HASH"},
                {"AttributeName": "version", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "model", "AttributeType": "S"},
                {"AttributeName": "version", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        registry = Registry(client, TABLE, "churn")
        for auc in (0.71, 0.74, 0.69):
            version = registry.next_version()
            registry.register(
                version,
                {
                    "created_at": f"2024-05-0{version}T00:00:00.000Z",
                    "metrics": {"auc": auc, "log_loss": 0.6},
                    "decision": "held for approval: no approved version to compare with",
                    "data_window": {
                        "start": "2024-02-01T00:00:00Z",
                        "end": "2024-05-01T00:00:00Z",
                        "records": 1200,
                    },
                },
            )
        yield client


@pytest.fixture
def project(project_with: Callable[..., Path], stack_config) -> Path:
    return project_with(stack_config("dev"))


def run(project: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["models", *argv[:1], "test", *argv[1:], "--project-dir", str(project)])
    out, err = capsys.readouterr()
    return code, out, err


def stages(dynamodb: Any) -> dict[int, str]:
    return {i["version"]: i["stage"] for i in Registry(dynamodb, TABLE, "churn").versions()}


def test_list_shows_every_version_newest_first_with_its_metric_and_window(
    dynamodb, project, capsys
) -> None:
    code, out, _ = run(project, capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"model 'churn' in {TABLE}:"
    assert [line.split()[0] for line in lines[2:]] == ["3", "2", "1"]
    assert "0.7400" in lines[3] and "2024-02-01..2024-05-01 (1200 records)" in lines[3]


def test_approve_then_roll_back_then_reject(dynamodb, project, capsys) -> None:
    assert run(project, capsys, "approve", "2")[1] == "model 'churn': version 2 approved\n"
    code, out, _ = run(project, capsys, "approve", "1", "--reason", "roll back")
    assert code == 0 and out == "model 'churn': version 1 approved; version 2 retired\n"
    assert run(project, capsys, "reject", "3")[0] == 0
    assert stages(dynamodb) == {1: "approved", 2: "retired", 3: "retired"}
    item = Registry(dynamodb, TABLE, "churn").get(1)
    assert (
        item["approved_by"] == "alice (python -m stacks models)" and item["decision"] == "roll back"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (("approve", "9"), "has no version 9"),
        (("reject", "1", "--model", "other"), "model 'other' has no version 1"),
        (("list", "--region", "us-east-1"), "--region 'us-east-1' is not a region of stack 'test'"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(dynamodb, project, capsys, argv, message) -> None:
    code, _, err = run(project, capsys, *argv)
    assert code == 2 and message in err
    assert stages(dynamodb) == {1: "candidate", 2: "candidate", 3: "candidate"}


def test_rejecting_the_approved_version_says_how_to_stop_serving_it(
    dynamodb, project, capsys
) -> None:
    run(project, capsys, "approve", "1")
    code, _, err = run(project, capsys, "reject", "1")
    assert code == 2 and "approve another version (e.g. the previous one)" in err


def test_a_stack_without_training_has_no_registry(
    project_with, stack_config, capsys, dynamodb
) -> None:
    config = stack_config("dev")
    config["mlops:training"] = {"enabled": False}
    code, _, err = run(project_with(config), capsys, "list")
    assert code == 2 and "mlops:training.enabled is false" in err
