"""``python -m stacks failover|failback`` against moto_server on 127.0.0.1.

Each test creates, with boto3, what the stack would have created in its two regions (the
standby inventory and the active-region parameter in SSM, EventBridge Scheduler schedules in
a group, an EventBridge rule, an Auto Scaling group with a launch template, the ingest table,
a lake bucket) and runs the command the way an operator does. One moto_server serves the
module; every test starts from a reset server.

The command runs in this process (``stacks.cli.main([...])``, its output captured) with the
same environment a subprocess would get: a Python start-up with its imports cost more than
the whole failover. :func:`run_process` runs it as a real ``python -m stacks`` subprocess,
kept where the process boundary is the point (exit codes 0 and 1 through ``sys.exit``, the
report printed and flushed before the process ends).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from stacks.cli import main
from stacks.standby import (
    INVENTORY_VERSION,
    active_region_parameter,
    inventory_parameter,
    parse_inventory,
)

pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parents[1]
PRIMARY, STANDBY = "eu-west-1", "eu-central-1"
REGIONS = (PRIMARY, STANDBY)
ENV = "dev"
GROUP = "mlops-dev"
SCHEDULES = ("drift-daily", "train-weekly")
RULE = "mlops-dev-raw-object-created"
ASG = {PRIMARY: "mlops-dev-ds-euw1", STANDBY: "mlops-dev-ds-euc1"}
TABLE = "mlops-dev-ingest"
BUCKET = {PRIMARY: "mlops-dev-raw-euw1", STANDBY: "mlops-dev-raw-euc1"}
ACTIVE_SIZES = (1, 3, 2)  # min, max, desired when active
DESCRIPTION = "mlops dev: the active region (managed by Pulumi, value set by failover)"

STACK = """\
config:
  mlops:environment: dev
  mlops:ephemeral: true
  mlops:allowedAccountIds: ["123456789012"]
  mlops:regions:
    - name: eu-west-1
      cidr: 10.10.0.0/16
      availabilityZones: [eu-west-1a, eu-west-1b]
    - name: eu-central-1
      cidr: 10.11.0.0/16
      availabilityZones: [eu-central-1a, eu-central-1b]
  mlops:network:
    azCount: 2
    nat: single
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """One moto server on 127.0.0.1 for the module, stopped at teardown."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text(encoding="utf-8"))
    (tmp_path / "Pulumi.dev.yaml").write_text(STACK, encoding="utf-8")
    return tmp_path


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A reset moto server holding both regions' resources; boto3 in this process uses it."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in fake_env(moto_url, tmp_path).items():
        monkeypatch.setenv(name, value)
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"))
    for region in REGIONS:
        create_region(region, active=region == PRIMARY)
    yield moto_url


def fake_env(url: str | None, folder: Path) -> dict[str, str]:
    env = {
        "AWS_CONFIG_FILE": str(folder / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if url is not None:
        env |= {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": url,
        }
    return env


_CLIENTS: dict[tuple[str, str], Any] = {}


def client(service: str, region: str) -> Any:
    """A cached boto3 client (the endpoint is the module's moto server)."""
    if (service, region) not in _CLIENTS:
        _CLIENTS[service, region] = boto3.client(service, region_name=region)
    return _CLIENTS[service, region]


def inventory_document(region: str) -> str:
    """What the program writes for ``region`` (the standby's pool at zero until failover)."""
    doc = {
        "version": INVENTORY_VERSION,
        "environment": ENV,
        "region": region,
        "schedules": [{"group": GROUP, "name": n, "capability": "training"} for n in SCHEDULES],
        "rules": [{"name": RULE, "capability": "ingest", "eventBusName": "default"}],
        "pools": [
            {
                "pool": "ds",
                "autoScalingGroupName": ASG[region],
                "minSize": ACTIVE_SIZES[0],
                "maxSize": ACTIVE_SIZES[1],
                "desiredCapacity": ACTIVE_SIZES[2],
                "standby": region == STANDBY,
            }
        ],
        "tables": [{"name": TABLE}],
        "buckets": {"raw": BUCKET[region]},
    }
    text = json.dumps(doc, sort_keys=True)
    assert parse_inventory(text).region == region  # the shape failover reads
    return text


def create_region(region: str, active: bool) -> None:
    ssm = client("ssm", region)
    ssm.put_parameter(
        Name=inventory_parameter(ENV), Value=inventory_document(region), Type="String"
    )
    ssm.put_parameter(
        Name=active_region_parameter(ENV),
        Value=PRIMARY,
        Type="String",
        Description=DESCRIPTION,
        Tier="Standard",
    )
    scheduler = client("scheduler", region)
    scheduler.create_schedule_group(Name=GROUP)
    for name in SCHEDULES:
        scheduler.create_schedule(
            Name=name,
            GroupName=GROUP,
            Description=f"{name} of the continuous training",
            ScheduleExpression="cron(0 6 * * ? *)",
            ScheduleExpressionTimezone="Europe/Rome",
            FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
            Target={
                "Arn": f"arn:aws:batch:{region}:123456789012:job-queue/mlops-dev",
                "RoleArn": "arn:aws:iam::123456789012:role/mlops-dev-scheduler",
                "Input": json.dumps({"job": name}),
            },
            State="ENABLED" if active else "DISABLED",
        )
    events = client("events", region)
    events.put_rule(
        Name=RULE,
        EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"]}),
        State="ENABLED" if active else "DISABLED",
    )
    ec2 = client("ec2", region)
    template = ec2.create_launch_template(
        LaunchTemplateName=f"mlops-dev-ds-{region}",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    sizes = ACTIVE_SIZES if active else (0, ACTIVE_SIZES[1], 0)
    client("autoscaling", region).create_auto_scaling_group(
        AutoScalingGroupName=ASG[region],
        LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=sizes[0],
        MaxSize=sizes[1],
        DesiredCapacity=sizes[2],
        AvailabilityZones=[f"{region}a"],
    )
    client("dynamodb", region).create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client("s3", region).create_bucket(
        Bucket=BUCKET[region], CreateBucketConfiguration={"LocationConstraint": region}
    )


def state(region: str) -> dict[str, Any]:
    """What failover switches in ``region``."""
    scheduler = client("scheduler", region)
    group = client("autoscaling", region).describe_auto_scaling_groups(
        AutoScalingGroupNames=[ASG[region]]
    )["AutoScalingGroups"][0]
    return {
        "schedules": {
            n: scheduler.get_schedule(Name=n, GroupName=GROUP)["State"] for n in SCHEDULES
        },
        "rule": client("events", region).describe_rule(Name=RULE)["State"],
        "pool": (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]),
        "active": client("ssm", region).get_parameter(Name=active_region_parameter(ENV))[
            "Parameter"
        ]["Value"],
    }


ACTIVE = {"ENABLED"}


def is_active(region: str, pool: tuple[int, int, int] = ACTIVE_SIZES) -> dict[str, Any]:
    return {
        "schedules": dict.fromkeys(SCHEDULES, "ENABLED"),
        "rule": "ENABLED",
        "pool": pool,
        "active": region,
    }


def is_passive(active: str, pool: tuple[int, int, int]) -> dict[str, Any]:
    return {
        "schedules": dict.fromkeys(SCHEDULES, "DISABLED"),
        "rule": "DISABLED",
        "pool": pool,
        "active": active,
    }


def run(project: Path, url: str | None, *argv: str) -> subprocess.CompletedProcess[str]:
    """The command in this process (``main([...])``), as :func:`run_process` would run it.

    The ``aws`` fixture has already set the environment :func:`run_process` gives the
    subprocess (``fake_env(url, project)``); the command's stdout and stderr are captured.
    """
    assert os.environ.get("AWS_ENDPOINT_URL") == url, "in-process runs use the aws fixture's env"
    assert os.environ.get("AWS_CONFIG_FILE") == str(project / "no-aws-config")
    argv_full = [*argv[:1], "dev", *argv[1:], "--project-dir", str(project)]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv_full)
    return subprocess.CompletedProcess(argv_full, code, out.getvalue(), err.getvalue())


def run_process(
    project: Path, url: str | None, *argv: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The command as a real ``python -m stacks`` subprocess (what an operator runs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= fake_env(url, project) | {"PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "stacks",
            *argv[:1],
            "dev",
            *argv[1:],
            "--project-dir",
            str(project),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def lines_of(out: str, region: str) -> list[str]:
    """The step lines printed under ``region:``."""
    lines = out.splitlines()
    start = lines.index(f"{region}:") + 1
    block = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        block.append(line.strip())
    return block


# --------------------------------------------------------------------------------------


def test_failover_activates_the_standby_and_switches_the_old_region_off(
    aws: str, project: Path
) -> None:
    before = client("scheduler", STANDBY).get_schedule(Name=SCHEDULES[0], GroupName=GROUP)

    done = run_process(project, aws, "failover", "--to", STANDBY)  # the operator's process

    assert done.returncode == 0, done.stdout + done.stderr
    assert state(STANDBY) == is_active(STANDBY)
    assert state(PRIMARY) == is_passive(STANDBY, pool=ACTIVE_SIZES)  # the old pool is left
    # UpdateSchedule replaces the whole schedule: only its state may differ.
    after = client("scheduler", STANDBY).get_schedule(Name=SCHEDULES[0], GroupName=GROUP)
    for key in ("Description", "ScheduleExpression", "ScheduleExpressionTimezone", "Target"):
        assert after[key] == before[key], key
    assert after["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    target = lines_of(done.stdout, STANDBY)
    assert (
        f"scale pool ds ({ASG[STANDBY]}): changed (min 0 max 3 desired 0 -> min 1 max 3 desired 2)"
        in target
    )
    assert (
        f"check table replica {TABLE}: ok (ACTIVE (no replica in another region listed))" in target
    )
    assert f"check lake bucket {BUCKET[STANDBY]}: ok (raw zone reachable)" in target
    assert (
        f"write active region {active_region_parameter(ENV)}: changed ({PRIMARY} -> {STANDBY})"
        in target
    )
    assert f"disable rule {RULE}: changed (ENABLED -> DISABLED)" in lines_of(done.stdout, PRIMARY)
    assert f"{STANDBY} is the active region." in done.stdout
    assert "delete-replication-configuration" in done.stdout  # the shared drive stays manual
    # The old region's pool keeps running: the note names the command with its real group.
    assert (
        f"`aws autoscaling update-auto-scaling-group --auto-scaling-group-name {ASG[PRIMARY]} "
        f"--min-size 0 --desired-capacity 0 --region {PRIMARY}`" in done.stdout
    )
    # The parameter stays Pulumi's: only its value changed.
    meta = client("ssm", PRIMARY).describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [active_region_parameter(ENV)]}]
    )["Parameters"][0]
    assert (meta["Description"], meta["Tier"], meta["Type"]) == (DESCRIPTION, "Standard", "String")

    again = run(project, aws, "failover", "--to", STANDBY)
    assert again.returncode == 0
    steps = lines_of(again.stdout, STANDBY) + lines_of(again.stdout, PRIMARY)
    assert not [s for s in steps if ": changed" in s], again.stdout
    assert sum(": unchanged" in s for s in steps) == 2 * (len(SCHEDULES) + 2) + 1


def test_dry_run_changes_nothing_and_says_what_it_would_do(aws: str, project: Path) -> None:
    before = {r: state(r) for r in REGIONS}

    done = run(project, aws, "failover", "--to", STANDBY, "--dry-run")

    assert done.returncode == 0, done.stdout + done.stderr
    assert {r: state(r) for r in REGIONS} == before
    assert "dry run: nothing is changed" in done.stdout.splitlines()[0]
    assert f"enable rule {RULE}: would change (DISABLED -> ENABLED)" in lines_of(
        done.stdout, STANDBY
    )
    assert (
        f"disable schedule {GROUP}/{SCHEDULES[0]}: would change (ENABLED -> DISABLED)"
        in lines_of(done.stdout, PRIMARY)
    )


def test_json_output_lists_every_step(aws: str, project: Path) -> None:
    done = run(project, aws, "failover", "--to", STANDBY, "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["active"] is True and doc["exitCode"] == 0 and doc["unreachable"] == []
    assert {s["region"] for s in doc["steps"]} == set(REGIONS)
    assert all(s["outcome"] in ("ok", "changed") for s in doc["steps"]), doc["steps"]


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


class Blackhole:
    """A listening socket that accepts connections and never answers (a hung API)."""

    def __enter__(self) -> str:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


@pytest.mark.parametrize("outage", ["refused", "hangs"])
def test_an_unreachable_old_region_is_reported_and_a_rerun_finishes_after_it_returns(
    aws: str, project: Path, outage: str
) -> None:
    with Blackhole() as hung:
        endpoint = closed_port_url() if outage == "refused" else hung
        started = time.monotonic()
        done = run(
            project,
            aws,
            "failover",
            "--to",
            STANDBY,
            "--region-endpoint",
            f"{PRIMARY}={endpoint}",
            "--timeout",
            "0.5",
        )
        took = time.monotonic() - started

    assert done.returncode == 0, done.stdout + done.stderr
    assert took < 30  # two short attempts, not botocore's minute-long defaults
    primary = lines_of(done.stdout, PRIMARY)
    assert len(primary) == 1 and primary[0].startswith(
        f"inventory {inventory_parameter(ENV)}: unreachable"
    ), primary
    assert f"{PRIMARY} could not be reached" in done.stdout
    assert state(STANDBY) == is_active(STANDBY)
    assert state(PRIMARY)["rule"] == "ENABLED"  # untouched: it was unreachable

    back = run(project, aws, "failover", "--to", STANDBY)
    assert back.returncode == 0, back.stdout + back.stderr
    assert state(PRIMARY) == is_passive(STANDBY, pool=ACTIVE_SIZES)
    assert all(": unchanged" in s or ": ok" in s for s in lines_of(back.stdout, STANDBY))


def test_a_rerun_after_a_half_done_failover_finishes_it(aws: str, project: Path) -> None:
    # The first run was interrupted after scaling the pool and enabling one schedule.
    client("autoscaling", STANDBY).update_auto_scaling_group(
        AutoScalingGroupName=ASG[STANDBY], MinSize=1, MaxSize=3, DesiredCapacity=2
    )
    current = client("scheduler", STANDBY).get_schedule(Name=SCHEDULES[0], GroupName=GROUP)
    client("scheduler", STANDBY).update_schedule(
        Name=SCHEDULES[0],
        GroupName=GROUP,
        ScheduleExpression=current["ScheduleExpression"],
        FlexibleTimeWindow=current["FlexibleTimeWindow"],
        Target=current["Target"],
        State="ENABLED",
    )

    done = run(project, aws, "failover", "--to", STANDBY)

    assert done.returncode == 0, done.stdout + done.stderr
    target = lines_of(done.stdout, STANDBY)
    assert f"scale pool ds ({ASG[STANDBY]}): unchanged (min 1 max 3 desired 2)" in target
    assert f"enable schedule {GROUP}/{SCHEDULES[0]}: unchanged (ENABLED)" in target
    assert f"enable schedule {GROUP}/{SCHEDULES[1]}: changed (DISABLED -> ENABLED)" in target
    assert state(STANDBY) == is_active(STANDBY)
    assert state(PRIMARY) == is_passive(STANDBY, pool=ACTIVE_SIZES)


def test_failback_reactivates_the_primary_and_empties_the_standby_pool(
    aws: str, project: Path
) -> None:
    assert run(project, aws, "failover", "--to", STANDBY).returncode == 0

    done = run(project, aws, "failback")

    assert done.returncode == 0, done.stdout + done.stderr
    assert state(PRIMARY) == is_active(PRIMARY)
    assert state(STANDBY) == is_passive(PRIMARY, pool=(0, 3, 0))
    assert (
        f"scale pool to zero ds ({ASG[STANDBY]}): changed (min 1 max 3 desired 2 -> min 0 max 3 desired 0)"
        in lines_of(done.stdout, STANDBY)
    )
    assert "EFS replication to an existing file system" in done.stdout


def test_a_failed_target_step_leaves_the_old_region_active_and_exits_1(
    aws: str, project: Path
) -> None:
    client("dynamodb", STANDBY).delete_table(TableName=TABLE)

    done = run_process(project, aws, "failover", "--to", STANDBY)  # exit 1 from the process

    assert done.returncode == 1
    target = lines_of(done.stdout, STANDBY)
    assert any(
        s.startswith(f"check table replica {TABLE}: failed (ResourceNotFoundException")
        for s in target
    ), target
    assert (
        "write active region: skipped (not written: a step above failed; fix it and run the command again)"
        in target
    )
    assert state(PRIMARY) == is_active(PRIMARY)  # never no active region
    assert state(STANDBY)["active"] == PRIMARY
    assert "NOT fully active" in done.stdout


def test_a_reachable_old_region_that_cannot_be_switched_off_exits_1(
    aws: str, project: Path
) -> None:
    client("events", PRIMARY).delete_rule(Name=RULE)

    done = run(project, aws, "failover", "--to", STANDBY)

    assert done.returncode == 1  # both regions may now run the trigger: not a success
    assert state(STANDBY) == is_active(STANDBY)
    primary = lines_of(done.stdout, PRIMARY)
    assert any(
        s.startswith(f"disable rule {RULE}: failed (ResourceNotFoundException") for s in primary
    )
    assert (
        f"write active region {active_region_parameter(ENV)}: changed ({PRIMARY} -> {STANDBY})"
        in primary
    )
    assert f"{STANDBY} is the active region, but a step failed in another region" in done.stdout


def test_a_malformed_inventory_is_a_clear_failure(aws: str, project: Path) -> None:
    client("ssm", STANDBY).put_parameter(
        Name=inventory_parameter(ENV), Value='{"version": 1, "region": "x"}', Overwrite=True
    )
    before = {r: state(r) for r in REGIONS}

    done = run(project, aws, "failover", "--to", STANDBY)

    assert done.returncode == 1
    target = lines_of(done.stdout, STANDBY)
    assert target == [
        f"inventory {inventory_parameter(ENV)}: failed (missing or malformed entry: 'environment')"
    ]
    assert {r: state(r) for r in REGIONS} == before


def test_an_unreachable_target_exits_1_and_changes_nothing(aws: str, project: Path) -> None:
    before = {r: state(r) for r in REGIONS}
    done = run(
        project,
        aws,
        "failover",
        "--to",
        STANDBY,
        "--region-endpoint",
        f"{STANDBY}={closed_port_url()}",
    )
    assert done.returncode == 1
    assert lines_of(done.stdout, STANDBY)[0].startswith(
        f"inventory {inventory_parameter(ENV)}: unreachable"
    )
    assert {r: state(r) for r in REGIONS} == before


# Bad input and missing credentials stop before any AWS call: the same entry point, in-process.


def main_in_process(
    project: Path, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    code = main([*argv[:1], "dev", *argv[1:], "--project-dir", str(project)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "profile, message",
    [(None, "no AWS credentials found"), ("nope", "The config profile (nope) could not be found")],
)
def test_without_credentials_exits_3(
    aws: str,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    profile: str | None,
    message: str,
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    if profile:
        monkeypatch.setenv("AWS_PROFILE", profile)
    code, out, err = main_in_process(project, capsys, "failover", "--to", STANDBY)
    assert code == 3 and out == ""
    assert message in err and "nothing was read or changed" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (("failover", "--to", "us-east-1"), "--to 'us-east-1' is not a region of stack 'dev'"),
        (
            ("failover", "--to", STANDBY, "--region-endpoint", "us-east-1=http://127.0.0.1:1"),
            "'us-east-1' is not one of the stack's regions",
        ),
        (("failback", "--region-endpoint", f"{PRIMARY}=localhost"), "give REGION=http(s)://"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(
    aws: str,
    project: Path,
    capsys: pytest.CaptureFixture[str],
    argv: tuple[str, ...],
    message: str,
) -> None:
    before = {r: state(r) for r in REGIONS}
    code, out, err = main_in_process(project, capsys, *argv)
    assert code == 2 and message in err and out == "", err
    assert {r: state(r) for r in REGIONS} == before


def test_an_unknown_stack_exits_2(
    aws: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "Pulumi.dev.yaml").unlink()
    code, _, err = main_in_process(project, capsys, "failback")
    assert code == 2 and "Pulumi.dev.yaml" in err


# --stop-old-pools: the old region's pools scaled to zero as a step.


def test_stop_old_pools_scales_the_old_regions_pools_to_zero(aws: str, project: Path) -> None:
    done = run(project, aws, "failover", "--to", STANDBY, "--stop-old-pools")

    assert done.returncode == 0, done.stdout + done.stderr
    assert state(STANDBY) == is_active(STANDBY)
    assert state(PRIMARY) == is_passive(STANDBY, pool=(0, ACTIVE_SIZES[1], 0))
    assert (
        f"scale pool to zero ds ({ASG[PRIMARY]}): changed (min 1 max 3 desired 2 -> min 0 max 3 "
        "desired 0)" in lines_of(done.stdout, PRIMARY)
    )
    assert "update-auto-scaling-group" not in done.stdout  # nothing left to do by hand

    again = run(project, aws, "failover", "--to", STANDBY, "--stop-old-pools")
    assert again.returncode == 0
    assert f"scale pool to zero ds ({ASG[PRIMARY]}): unchanged (min 0 max 3 desired 0)" in (
        lines_of(again.stdout, PRIMARY)
    )

    back = run(project, aws, "failback")  # the primary's pool comes back at its sizes
    assert back.returncode == 0, back.stdout + back.stderr
    assert state(PRIMARY) == is_active(PRIMARY)


def test_stop_old_pools_with_the_old_region_unreachable_is_not_fatal(
    aws: str, project: Path
) -> None:
    done = run(
        project,
        aws,
        "failover",
        "--to",
        STANDBY,
        "--stop-old-pools",
        "--region-endpoint",
        f"{PRIMARY}={closed_port_url()}",
        "--timeout",
        "1",
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert state(STANDBY) == is_active(STANDBY)
    assert state(PRIMARY)["pool"] == ACTIVE_SIZES  # untouched: it was unreachable
    assert f"{PRIMARY} could not be reached, so its instance pools may still run" in done.stdout


# Credentials that are found but refused: STS GetCallerIdentity answers at the boundary.


class _RefusingSts:
    """Clients whose STS answers with ``error`` (moto accepts any keys, so it cannot)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
        from stacks.failover.clients import Clients

        real = Clients.__call__
        self.asked: list[str] = []

        def call(clients: Clients, service: str, region: str) -> Any:
            if service != "sts":
                return real(clients, service, region)
            self.asked.append(region)
            sts = real(clients, service, region)
            if isinstance(error, ClientErrorSpec):
                stubber = Stubber(sts)
                stubber.add_client_error(
                    "get_caller_identity",
                    service_error_code=error.code,
                    service_message=error.message,
                    http_status_code=403,
                )
                stubber.activate()
                return sts

            class Down:
                def get_caller_identity(self) -> None:
                    raise error

            return Down()

        monkeypatch.setattr(Clients, "__call__", call)


class ClientErrorSpec(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code, self.message = code, message


@pytest.mark.parametrize(
    "code, message",
    [
        ("ExpiredToken", "The security token included in the request is expired"),
        ("InvalidClientTokenId", "The security token included in the request is invalid."),
    ],
)
def test_refused_credentials_exit_3_and_change_nothing(
    aws: str,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    code: str,
    message: str,
) -> None:
    sts = _RefusingSts(monkeypatch, ClientErrorSpec(code, message))
    before = {r: state(r) for r in REGIONS}

    exit_code, out, err = main_in_process(project, capsys, "failover", "--to", STANDBY)

    assert exit_code == 3 and out == "", out
    assert sts.asked == [STANDBY]  # asked in the target region, through the same clients
    assert f"the credentials were refused: {code}" in err
    assert "nothing was read or changed" in err and err.count("error:") == 1
    assert {r: state(r) for r in REGIONS} == before


def test_an_unreachable_sts_is_not_a_credentials_problem(
    aws: str,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from botocore.exceptions import EndpointConnectionError

    _RefusingSts(monkeypatch, EndpointConnectionError(endpoint_url="https://sts.example"))

    exit_code, out, err = main_in_process(project, capsys, "failover", "--to", STANDBY)

    assert exit_code == 0, out + err
    assert f"note: STS in {STANDBY} could not check the credentials" in err
    assert state(STANDBY) == is_active(STANDBY)


def test_the_credentials_check_honours_the_region_endpoint(aws: str, project: Path) -> None:
    # STS of the target goes to --region-endpoint like every other call: a closed port there
    # is an unreachable target (exit 1), never a credentials problem (exit 3).
    done = run(
        project,
        aws,
        "failover",
        "--to",
        STANDBY,
        "--region-endpoint",
        f"{STANDBY}={closed_port_url()}",
        "--timeout",
        "1",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"note: STS in {STANDBY} could not check the credentials" in done.stderr


# Global-table replicas in other regions: a warning naming DynamoDB's 20-hour limit.


def answer_with_replicas(monkeypatch: pytest.MonkeyPatch, replicas: list[dict[str, Any]]) -> None:
    """DescribeTable answers as DynamoDB does for a global table with ``replicas`` (moto lists
    no Replicas): every DynamoDB client the failover commands make is wrapped."""
    from stacks.failover.clients import Clients

    real = Clients.__call__

    class GlobalTable:
        def __init__(self, dynamodb: Any) -> None:
            self.dynamodb = dynamodb

        def describe_table(self, **kwargs: Any) -> dict[str, Any]:
            answer = self.dynamodb.describe_table(**kwargs)
            answer["Table"]["Replicas"] = [dict(r) for r in replicas]
            return answer

    def call(clients: Clients, service: str, region: str) -> Any:
        found = real(clients, service, region)
        return GlobalTable(found) if service == "dynamodb" else found

    monkeypatch.setattr(Clients, "__call__", call)


@pytest.mark.parametrize(
    "status",
    ["REGION_DISABLED", "INACCESSIBLE_ENCRYPTION_CREDENTIALS", "REPLICATION_NOT_AUTHORIZED"],
)
def test_a_troubled_replica_in_another_region_is_a_warning_naming_the_20_hour_limit(
    aws: str,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: str,
) -> None:
    import datetime

    since = datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.UTC)
    answer_with_replicas(
        monkeypatch,
        [
            {"RegionName": STANDBY, "ReplicaStatus": "ACTIVE"},
            {"RegionName": PRIMARY, "ReplicaStatus": status, "ReplicaInaccessibleDateTime": since},
        ],
    )

    exit_code, out, err = main_in_process(project, capsys, "failover", "--to", STANDBY)

    assert exit_code == 0, out + err  # a warning, not a failed target step
    assert state(STANDBY) == is_active(STANDBY)
    [line] = [s for s in lines_of(out, STANDBY) if s.startswith("check table replica")]
    assert line.startswith(
        f"check table replica {TABLE}: warning (ACTIVE here; the replica in {PRIMARY} is "
        f"{status} (inaccessible since 2026-01-02T03:04:00+00:00): if it stays so for more "
        "than 20 hours, DynamoDB removes it from the global table"
    ), line
    assert f"- Table {TABLE} ({STANDBY}): ACTIVE here; the replica in {PRIMARY}" in out


def test_a_replica_of_another_region_being_created_is_a_warning_without_the_limit(
    aws: str,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer_with_replicas(monkeypatch, [{"RegionName": PRIMARY, "ReplicaStatus": "CREATING"}])

    exit_code, out, _ = main_in_process(project, capsys, "failover", "--to", STANDBY)

    assert exit_code == 0
    assert (
        f"check table replica {TABLE}: warning (ACTIVE here; the replica in {PRIMARY} is "
        "CREATING)" in lines_of(out, STANDBY)
    )
