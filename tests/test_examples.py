"""The standalone examples render offline, use only what they are given, and the project
installs with pip for a program outside the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from stacks.offline import PROJECT_DIR, Plan, render_project

EXAMPLES = PROJECT_DIR / "examples"


def example_config(name: str) -> dict[str, object]:
    text = (EXAMPLES / name / "Pulumi.example.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["config"]


def render(name: str) -> Plan:
    return render_project(EXAMPLES / name, "Pulumi.example.yaml")


def test_every_example_is_a_project_of_its_own() -> None:
    examples = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert len(examples) >= 2
    for name in examples:
        project = yaml.safe_load((EXAMPLES / name / "Pulumi.yaml").read_text(encoding="utf-8"))
        assert project["name"] == name
        assert project["runtime"]["name"] == "python"
        assert (EXAMPLES / name / "__main__.py").is_file()
        assert (EXAMPLES / name / "Pulumi.example.yaml").is_file()


def _assert_all_in_region(plan: Plan, region: str) -> None:
    custom = [
        r for r in plan.resources if r["custom"] and not r["type"].startswith("pulumi:providers:")
    ]
    assert custom
    assert {r["region"] for r in custom} == {region}


def test_network_and_bucket_use_the_teams_own_key() -> None:
    config = example_config("network-and-bucket")
    key_arn = config["network-and-bucket:kmsKeyArn"]
    plan = render("network-and-bucket")
    _assert_all_in_region(plan, "eu-west-1")
    # The team's key is used, none is created.
    assert plan.of_type("aws:kms/key:Key") == []
    flow_logs = [r for r in plan.of_type("aws:cloudwatch/logGroup:LogGroup")]
    assert flow_logs and all(r["inputs"]["kmsKeyId"] == key_arn for r in flow_logs)
    sse = plan.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    rules = [rule for r in sse for rule in r["inputs"]["rules"]]
    assert rules and all(
        rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == key_arn for rule in rules
    )
    subnets = plan.of_type("aws:ec2/subnet:Subnet")
    assert {s["inputs"]["availabilityZone"] for s in subnets} == {"eu-west-1a", "eu-west-1b"}
    assert set(plan.outputs) == {"vpcId", "bucketName"}


def test_scheduled_batch_job_runs_in_the_given_network_and_reports_to_the_given_topic() -> None:
    config = example_config("scheduled-batch-job")
    plan = render("scheduled-batch-job")
    _assert_all_in_region(plan, "eu-west-1")
    assert plan.of_type("aws:kms/key:Key") == []
    assert plan.of_type("aws:sns/topic:Topic") == []
    assert plan.of_type("aws:ec2/vpc:Vpc") == []
    (environment,) = plan.of_type("aws:batch/computeEnvironment:ComputeEnvironment")
    resources = environment["inputs"]["computeResources"]
    assert sorted(resources["subnets"]) == sorted(config["scheduled-batch-job:subnetIds"])
    (schedule,) = plan.of_type("aws:scheduler/schedule:Schedule")
    assert schedule["inputs"]["scheduleExpression"] == "cron(30 2 * * ? *)"
    assert schedule["inputs"]["scheduleExpressionTimezone"] == "Europe/Rome"
    topic = config["scheduled-batch-job:alertTopicArn"]
    targets = plan.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert any(t["inputs"].get("arn") == topic for t in targets)
    for group in plan.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert group["inputs"]["kmsKeyId"] == config["scheduled-batch-job:kmsKeyArn"]


def test_an_example_with_a_bad_key_arn_fails_with_the_field_named(tmp_path: Path) -> None:
    project = tmp_path / "network-and-bucket"
    shutil.copytree(EXAMPLES / "network-and-bucket", project)
    stack = project / "Pulumi.example.yaml"
    stack.write_text(
        stack.read_text(encoding="utf-8").replace(
            "key/1234abcd-12ab-34cd-56ef-1234567890ab", "alias/team"
        ),
        encoding="utf-8",
    )
    with pytest.raises(Exception, match=r"key: .*alias ARN"):
        render_project(project, "Pulumi.example.yaml")


OUTSIDE_PROGRAM = """
import json, sys
from pathlib import Path

import components, stacks
from stacks.offline import render_project

plan = render_project(Path(sys.argv[1]), "Pulumi.example.yaml")
print(json.dumps({
    "components": components.__file__,
    "stacks": stacks.__file__,
    "types": sorted({r["type"] for r in plan.resources}),
    "keys": [r["inputs"].get("kmsKeyId") for r in plan.of_type("aws:cloudwatch/logGroup:LogGroup")],
}))
"""


@pytest.mark.subprocess
def test_a_program_outside_the_repository_installs_the_project_and_uses_two_components(
    tmp_path: Path,
) -> None:
    wheels, site, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    # Build from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    shutil.copytree(
        PROJECT_DIR,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pulumi-state"
        ),
    )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run(
        [
            *pip,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            str(source),
        ],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    (wheel,) = wheels.glob("mlops_platform-*.whl")
    # The data files the commands read ship with the code.
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for data in (
        "stacks/cost/prices.json",
        "stacks/cost/assumptions.json",
        "stacks/timeline/durations.json",
    ):
        assert data in names, f"{data} is missing from the wheel"
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    program = tmp_path / "program"
    shutil.copytree(EXAMPLES / "network-and-bucket", program)
    (tmp_path / "check.py").write_text(OUTSIDE_PROGRAM, encoding="utf-8")
    # Only the installed copy is importable: the repository is not on the path.
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}
    result = subprocess.run(
        [sys.executable, str(tmp_path / "check.py"), str(program)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["components"].startswith(str(site))
    assert out["stacks"].startswith(str(site))
    assert "aws:ec2/vpc:Vpc" in out["types"] and "aws:s3/bucket:Bucket" in out["types"]
    key = example_config("network-and-bucket")["network-and-bucket:kmsKeyArn"]
    assert out["keys"] and set(out["keys"]) == {key}
