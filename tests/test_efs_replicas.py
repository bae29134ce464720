"""destroy deletes the shared drives' EFS replicas, which EFS created and Pulumi does not
manage (stacks/efs_replicas.py): read from the stack outputs before, deleted after, retried
while their mount targets or replication are still going, reported when they cannot go."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stacks.delivery import EXIT_FAILED, EXIT_OK, OperationRequest, run_operation
from stacks.efs_replicas import Replica, delete_replicas, replicas_in_outputs
from stacks.offline import Plan

REGION = "eu-central-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


@functools.cache
def _client(service: str, region: str) -> Any:
    """A client made once per module: ``boto3.client`` builds a new default session in each
    ``mock_aws`` (EC2's model alone is parsed again, tenths of a second); moto answers a kept
    client from the current test's backends, and the credentials are the ``aws`` fixture's,
    the same in every test."""
    return boto3.session.Session().client(service, region_name=region)


def efs(region: str = REGION) -> Any:
    return _client("efs", region)


def test_the_real_outputs_name_the_standby_replicas(prod_plan: Plan) -> None:
    outputs = prod_plan.to_dict()["outputs"]
    found = replicas_in_outputs(outputs)
    assert [(r.region, r.pool) for r in found] == [("eu-central-1", "datascience")]
    # The replica the primary's replication made, never the primary's own drive.
    primary = outputs["regions"]["eu-west-1"]["instancePools"]["datascience"]
    assert found[0].file_system_id == primary["replicaFileSystemId"]
    assert found[0].file_system_id != primary["fileSystemId"]


def test_a_replica_is_deleted_once_its_mount_target_is_gone(aws: None) -> None:
    client = efs()
    fs = client.create_file_system(CreationToken="replica")["FileSystemId"]
    ec2 = _client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/24")["Subnet"]["SubnetId"]
    target = client.create_mount_target(FileSystemId=fs, SubnetId=subnet)["MountTargetId"]
    slept: list[float] = []

    def sleep(seconds: float) -> None:  # the mount target finishes going while we wait
        slept.append(seconds)
        client.delete_mount_target(MountTargetId=target)

    said: list[str] = []
    problems = delete_replicas(
        [Replica(REGION, "datascience", fs)],
        lambda region: efs(region),
        sleep=sleep,
        say=said.append,
    )
    assert problems == [] and slept == [15]
    assert client.describe_file_systems()["FileSystems"] == []
    assert said == [f"  {fs} ({REGION}): deleted"]


def test_a_replica_that_never_frees_up_is_reported_with_the_command(aws: None) -> None:
    client = efs()
    fs = client.create_file_system(CreationToken="replica")["FileSystemId"]
    ec2 = _client("ec2", REGION)
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.0.0/24")["Subnet"]["SubnetId"]
    client.create_mount_target(FileSystemId=fs, SubnetId=subnet)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    problems = delete_replicas(
        [Replica(REGION, "datascience", fs)],
        lambda region: efs(region),
        timeout_seconds=60,
        clock=lambda: now[0],
        sleep=sleep,
        say=lambda _: None,
    )
    assert len(problems) == 1 and "FileSystemInUse" in problems[0]
    assert f"aws efs delete-file-system --file-system-id {fs} --region {REGION}" in problems[0]
    assert now[0] >= 60


def test_an_already_deleted_replica_is_fine(aws: None) -> None:
    problems = delete_replicas(
        [Replica(REGION, "datascience", "fs-0123456789abcdef0")],
        lambda region: efs(region),
        say=lambda _: None,
    )
    assert problems == []


# destroy -----------------------------------------------------------------------------------


class DestroyedStack:
    """Stands in for auto.Stack: outputs as a deployed dev with a standby pool, then destroy."""

    def __init__(self, outputs: dict[str, Any]) -> None:
        self._outputs = outputs
        self.calls: list[str] = []

    def outputs(self) -> dict[str, Any]:
        self.calls.append("outputs")
        return {k: SimpleNamespace(value=v) for k, v in self._outputs.items()}

    def destroy(self, **_: Any) -> Any:
        self.calls.append("destroy")
        return SimpleNamespace(summary=SimpleNamespace(resource_changes={"delete": 3}))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: mlops-platform\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n  mlops:environment: dev\n  mlops:ephemeral: true\n"
        '  mlops:allowedAccountIds: ["210987654321"]\n'
    )
    return tmp_path


def _destroy(project: Path, stack: DestroyedStack, client: Any) -> int:
    return run_operation(
        OperationRequest("destroy", "dev", project, yes=True),
        environ={"PULUMI_CONFIG_PASSPHRASE": "correct horse"},
        which=lambda name: f"/opt/bin/{name}",
        selector=lambda *a: stack,
        replica_client=client,
    )


def test_destroy_deletes_the_replicas_after_pulumi(
    aws: None, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fs = efs().create_file_system(CreationToken="replica")["FileSystemId"]
    stack = DestroyedStack(
        {
            "regions": {
                REGION: {"instancePools": {"datascience": {"fileSystemId": fs, "standby": True}}},
                "eu-west-1": {
                    "instancePools": {"datascience": {"fileSystemId": "fs-0aaa", "standby": False}}
                },
            }
        }
    )
    assert _destroy(project, stack, lambda region: efs(region)) == EXIT_OK
    assert stack.calls == ["outputs", "destroy"]
    assert efs().describe_file_systems()["FileSystems"] == []
    out = capsys.readouterr().out
    assert "destroy dev: done" in out and f"{fs} ({REGION}): deleted" in out


def test_destroy_that_cannot_delete_a_replica_fails_and_says_what_to_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class Refusing:
        def delete_file_system(self, **_: Any) -> None:
            raise RuntimeError("AccessDenied: not allowed")

    stack = DestroyedStack(
        {
            "regions": {
                REGION: {"instancePools": {"p": {"fileSystemId": "fs-0abc12345", "standby": True}}}
            }
        }
    )
    assert _destroy(project, stack, lambda region: Refusing()) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "aws efs delete-file-system --file-system-id fs-0abc12345" in err


def test_destroy_without_replicas_touches_no_efs(project: Path) -> None:
    stack = DestroyedStack({"regions": {REGION: {"instancePools": {}}}})

    def no_client(region: str) -> Any:
        raise AssertionError("no EFS call expected")

    assert _destroy(project, stack, no_client) == EXIT_OK
