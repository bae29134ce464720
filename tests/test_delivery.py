"""Delivery commands: Automation API command logic (with fakes, no CLI) and the sweep
(against moto in-process, and as a real subprocess against moto_server on 127.0.0.1 behind
a proxy that throttles the first requests)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.endpoint
import pulumi.automation as auto
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from pulumi.automation.events import OpType
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parents[1]

from stacks import delivery
from stacks.delivery import (
    EXIT_ENVIRONMENT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Backend,
    DeliveryError,
    OperationRequest,
    SweepRequest,
    format_leftovers,
    group_leftovers,
    is_ephemeral,
    local_state_dir,
    main,
    passphrase_problem,
    read_stack_document,
    resolve_backend,
    retry_config,
    run_operation,
    run_sweep,
    stack_regions,
    tagging_client,
)

DEV = """\
config:
  mlops:environment: dev
  mlops:ephemeral: true
  mlops:regions:
    - name: eu-west-1
      cidr: 10.10.0.0/16
    - name: eu-central-1
      cidr: 10.11.0.0/16
"""
PROD = """\
config:
  mlops:environment: prod
  mlops:ephemeral: false
  mlops:regions:
    - name: eu-west-1
    - name: eu-central-1
"""
STACK_TAGS = {"stack": "dev", "managed-by": "pulumi"}
ENV_WITH_PASSPHRASE = {"PULUMI_CONFIG_PASSPHRASE": "correct horse"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with Pulumi.yaml and an ephemeral dev and a protected prod stack."""
    (tmp_path / "Pulumi.yaml").write_text("name: mlops-platform\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(DEV)
    (tmp_path / "Pulumi.prod.yaml").write_text(PROD)
    return tmp_path


# --------------------------------------------------------------------------------------
# Fakes for pulumi.automation
# --------------------------------------------------------------------------------------


@dataclass
class FakeStack:
    """Stands in for auto.Stack: records operations, streams a progress line, returns a result."""

    calls: list[str] = field(default_factory=list)
    error: Exception | None = None

    def _run(self, operation: str, on_output: Any, on_error: Any) -> Any:
        self.calls.append(operation)
        on_output(f"fake engine: {operation} in progress")
        if self.error is not None:
            raise self.error
        if operation == "preview":
            return SimpleNamespace(change_summary={OpType.CREATE: 3, OpType.SAME: 1})
        return SimpleNamespace(summary=SimpleNamespace(resource_changes={"same": 2, "delete": 1}))

    def preview(self, *, on_output: Any, on_error: Any) -> Any:
        return self._run("preview", on_output, on_error)

    def up(self, *, on_output: Any, on_error: Any) -> Any:
        return self._run("up", on_output, on_error)

    def destroy(self, *, on_output: Any, on_error: Any) -> Any:
        return self._run("destroy", on_output, on_error)

    def refresh(self, *, on_output: Any, on_error: Any) -> Any:
        return self._run("refresh", on_output, on_error)


@pytest.fixture
def fake_auto(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Replaces auto.create_or_select_stack; records its arguments; pretends a CLI is on PATH."""
    record = SimpleNamespace(selections=[], stack=FakeStack())

    def create_or_select_stack(**kwargs: Any) -> FakeStack:
        record.selections.append(kwargs)
        return record.stack

    monkeypatch.setattr(auto, "create_or_select_stack", create_or_select_stack)
    monkeypatch.setattr(delivery.shutil, "which", lambda name: f"/opt/bin/{name}")
    return record


def run(request: OperationRequest, environ: dict[str, str] | None = None, **kwargs: Any) -> int:
    return run_operation(request, environ=ENV_WITH_PASSPHRASE if environ is None else environ, **kwargs)


# --------------------------------------------------------------------------------------
# preview / up / destroy / refresh
# --------------------------------------------------------------------------------------


def test_up_defaults_to_a_local_file_backend_in_the_project_and_streams_progress(
    project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(OperationRequest("up", "dev", project))

    assert code == EXIT_OK
    [selection] = fake_auto.selections
    assert selection["stack_name"] == "dev"
    assert selection["work_dir"] == str(project)
    state = (project / ".pulumi-state").resolve()
    assert selection["opts"].env_vars == {"PULUMI_BACKEND_URL": f"file://{state}"}
    assert state.is_dir()
    assert fake_auto.stack.calls == ["up"]
    out = capsys.readouterr().out
    assert "fake engine: up in progress" in out
    assert "up dev: done (delete: 1, same: 2)" in out


def test_backend_url_from_the_environment_is_used_and_nothing_is_created(
    project: Path, fake_auto: SimpleNamespace
) -> None:
    env = {**ENV_WITH_PASSPHRASE, "PULUMI_BACKEND_URL": "s3://team-state/mlops"}

    assert run(OperationRequest("preview", "prod", project), env) == EXIT_OK

    assert fake_auto.selections[0]["opts"].env_vars == {"PULUMI_BACKEND_URL": "s3://team-state/mlops"}
    assert not (project / ".pulumi-state").exists()


@pytest.mark.parametrize("operation", ["preview", "up", "refresh"])
def test_each_operation_calls_its_automation_method_for_any_stack(
    project: Path, fake_auto: SimpleNamespace, operation: str
) -> None:
    assert run(OperationRequest(operation, "prod", project)) == EXIT_OK  # type: ignore[arg-type]
    assert fake_auto.stack.calls == [operation]


def test_preview_summary_names_the_operations(project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(OperationRequest("preview", "dev", project)) == EXIT_OK
    assert "preview dev: done (create: 3, same: 1)" in capsys.readouterr().out


def test_missing_pulumi_cli_prints_one_install_message_and_touches_nothing(
    project: Path, fake_auto: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(delivery.shutil, "which", lambda name: None)

    code = run(OperationRequest("up", "dev", project))

    assert code == EXIT_ENVIRONMENT
    err = capsys.readouterr().err
    assert "curl -fsSL https://get.pulumi.com | sh" in err
    assert "pip install pulumi` installs" in err
    assert err.count("not installed") == 1
    assert fake_auto.selections == []
    assert not (project / ".pulumi-state").exists()


def test_cli_missing_error_raised_by_the_automation_api_is_the_same_message(
    project: Path, fake_auto: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def missing(**kwargs: Any) -> None:
        raise FileNotFoundError(2, "No such file or directory", "pulumi")

    monkeypatch.setattr(auto, "create_or_select_stack", missing)

    assert run(OperationRequest("refresh", "dev", project)) == EXIT_ENVIRONMENT
    assert "curl -fsSL https://get.pulumi.com | sh" in capsys.readouterr().err


@pytest.mark.subprocess
def test_without_pulumi_cli_a_real_subprocess_exits_nonzero_without_traceback(project: Path, tmp_path: Path) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    env = {"PATH": str(empty_bin), "PYTHONPATH": str(ROOT), "PULUMI_CONFIG_PASSPHRASE": "x"}

    done = subprocess.run(
        [sys.executable, "-m", "stacks",
         "up", "dev", "--project-dir", str(project)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )

    assert done.returncode == EXIT_ENVIRONMENT
    assert "curl -fsSL https://get.pulumi.com | sh" in done.stderr
    assert "Traceback" not in done.stderr


def test_destroy_refuses_a_stack_that_is_not_ephemeral_even_with_yes(
    project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(OperationRequest("destroy", "prod", project, yes=True))

    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Refusing to destroy stack 'prod'" in err
    assert "Pulumi.prod.yaml" in err and "mlops:ephemeral: true" in err
    assert fake_auto.selections == []


def test_destroy_guard_applies_before_the_cli_check(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(delivery.shutil, "which", lambda name: None)

    assert run(OperationRequest("destroy", "prod", project, yes=True)) == EXIT_USAGE
    assert "Refusing to destroy" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("config:\n  mlops:environment: qa\n", "does not set `mlops:ephemeral: true`"),
        ("config:\n  mlops:ephemeral: 'true'\n", "mlops:ephemeral must be the YAML boolean"),
        ("config:\n  mlops:ephemeral: 1\n", "mlops:ephemeral must be the YAML boolean"),
        ("", "does not set `mlops:ephemeral: true`"),
    ],
)
def test_destroy_refuses_unless_ephemeral_is_the_boolean_true(
    project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str], config: str, message: str
) -> None:
    (project / "Pulumi.qa.yaml").write_text(config)

    assert run(OperationRequest("destroy", "qa", project, yes=True)) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert fake_auto.stack.calls == []


def test_destroy_needs_yes_when_not_interactive(
    project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(OperationRequest("destroy", "dev", project), interactive=False)

    assert code == EXIT_USAGE
    assert "Pass --yes" in capsys.readouterr().err
    assert fake_auto.stack.calls == []


def test_destroy_with_yes_runs_without_asking(project: Path, fake_auto: SimpleNamespace) -> None:
    def never(prompt: str) -> str:
        raise AssertionError("asked although --yes was given")

    assert run(OperationRequest("destroy", "dev", project, yes=True), interactive=True, ask=never) == EXIT_OK
    assert fake_auto.stack.calls == ["destroy"]


@pytest.mark.parametrize(("answer", "expected", "calls"), [("dev", EXIT_OK, ["destroy"]), ("y", EXIT_FAILED, []), ("", EXIT_FAILED, [])])
def test_interactive_destroy_asks_for_the_stack_name(
    project: Path, fake_auto: SimpleNamespace, answer: str, expected: int, calls: list[str]
) -> None:
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return answer

    assert run(OperationRequest("destroy", "dev", project), interactive=True, ask=ask) == expected
    assert len(prompts) == 1 and "'dev'" in prompts[0]
    assert fake_auto.stack.calls == calls


def test_interactive_destroy_treats_end_of_input_as_no(project: Path, fake_auto: SimpleNamespace) -> None:
    def eof(prompt: str) -> str:
        raise EOFError

    assert run(OperationRequest("destroy", "dev", project), interactive=True, ask=eof) == EXIT_FAILED
    assert fake_auto.stack.calls == []


def test_local_backend_without_passphrase_says_how_to_set_it(
    project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(OperationRequest("up", "dev", project), environ={}) == EXIT_ENVIRONMENT
    err = capsys.readouterr().err
    assert "export PULUMI_CONFIG_PASSPHRASE=" in err
    assert fake_auto.selections == []


def test_passphrase_rules() -> None:
    file_url = "file:///state"
    assert passphrase_problem(file_url, {}, {}) is not None
    assert passphrase_problem(file_url, {}, {"PULUMI_CONFIG_PASSPHRASE": ""}) is None  # empty is a valid passphrase
    assert passphrase_problem(file_url, {}, {"PULUMI_CONFIG_PASSPHRASE_FILE": "/run/secret"}) is None
    assert passphrase_problem("s3://bucket", {}, {}) is not None
    assert passphrase_problem("s3://bucket", {"secretsprovider": "awskms://alias/pulumi"}, {}) is None
    assert passphrase_problem("https://api.pulumi.com", {}, {}) is None


def test_failed_operation_exits_1_with_a_pointer_to_the_output(
    project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_auto.stack.error = auto.CommandError(auto.CommandResult(stdout="", stderr="boom", code=255))

    assert run(OperationRequest("up", "dev", project)) == EXIT_FAILED
    captured = capsys.readouterr()
    assert "fake engine: up in progress" in captured.out
    assert "pulumi failed" in captured.err


def test_locked_stack_is_reported_as_such(
    project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_auto.stack.error = auto.ConcurrentUpdateError(auto.CommandResult(stdout="", stderr="locked", code=255))

    assert run(OperationRequest("refresh", "dev", project)) == EXIT_FAILED
    assert "locked by another update" in capsys.readouterr().err


def test_unknown_or_invalid_stack_names_are_usage_errors(
    project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(OperationRequest("up", "staging", project)) == EXIT_USAGE
    assert "unknown stack 'staging' (known stacks: dev, prod)" in capsys.readouterr().err
    assert run(OperationRequest("up", "../dev", project)) == EXIT_USAGE
    assert "not a valid stack name" in capsys.readouterr().err
    assert fake_auto.selections == []


def test_project_without_pulumi_yaml_is_a_usage_error(
    project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "Pulumi.yaml").unlink()

    assert run(OperationRequest("preview", "dev", project)) == EXIT_USAGE
    assert "no Pulumi.yaml" in capsys.readouterr().err


def test_command_line_wires_destroy_to_the_guard(
    project: Path, fake_auto: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "x")
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)

    assert main(["destroy", "prod", "--yes", "--project-dir", str(project)]) == EXIT_USAGE
    assert main(["destroy", "dev", "--yes", "--project-dir", str(project)]) == EXIT_OK
    assert fake_auto.stack.calls == ["destroy"]


def test_command_line_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == EXIT_USAGE
    assert main(["sweep", "dev", "--max-attempts", "0"]) == EXIT_USAGE
    assert "--max-attempts: must be at least 1" in capsys.readouterr().err
    assert main(["sweep", "dev", "--retry-mode", "legacy"]) == EXIT_USAGE


# --------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------


def test_resolve_backend(tmp_path: Path) -> None:
    assert resolve_backend(tmp_path, {}) == Backend(f"file://{(tmp_path / '.pulumi-state').resolve()}", False)
    assert resolve_backend(tmp_path, {"PULUMI_BACKEND_URL": "  "}).from_environment is False
    assert resolve_backend(tmp_path, {"PULUMI_BACKEND_URL": "gs://b"}) == Backend("gs://b", True)
    assert local_state_dir("file://~/state") == Path.home() / "state"
    assert local_state_dir("s3://b") is None


def test_is_ephemeral() -> None:
    assert is_ephemeral({"mlops:ephemeral": True}, "f") is True
    assert is_ephemeral({"mlops:ephemeral": False}, "f") is False
    assert is_ephemeral({}, "f") is False
    with pytest.raises(DeliveryError, match=r"f: config key mlops:ephemeral must be .* got 'yes'"):
        is_ephemeral({"mlops:ephemeral": "yes"}, "f")


def test_stack_regions_reads_names_in_order() -> None:
    config = {"mlops:regions": [{"name": "eu-west-1", "cidr": "10.0.0.0/16"}, {"name": "us-east-2"}]}
    assert stack_regions(config, "f") == ("eu-west-1", "us-east-2")


@pytest.mark.parametrize(
    ("regions", "messages"),
    [
        (None, ["mlops:regions is missing"]),
        ([], ["must be a non-empty list"]),
        ("eu-west-1", ["must be a non-empty list"]),
        (
            ["eu-west-1", {"name": "Europe"}, {"cidr": "10.0.0.0/16"}, {"name": "eu-west-2"}, {"name": "eu-west-2"}],
            [
                "mlops:regions[0] must be a mapping",
                "mlops:regions[1].name must be an AWS region name such as eu-west-1, got 'Europe'",
                "mlops:regions[2].name must be an AWS region name such as eu-west-1, got None",
                "mlops:regions[4].name: region eu-west-2 is listed twice",
            ],
        ),
    ],
)
def test_stack_regions_reports_every_problem_by_key(regions: Any, messages: list[str]) -> None:
    config = {} if regions is None else {"mlops:regions": regions}
    with pytest.raises(DeliveryError) as caught:
        stack_regions(config, "Pulumi.x.yaml")
    text = str(caught.value)
    assert text.startswith("Pulumi.x.yaml: ")
    for message in messages:
        assert message in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("config: [1, 2]\n", "`config` must be a mapping"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("config: {mlops:ephemeral: true\n", "is not valid YAML"),
    ],
)
def test_bad_stack_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "Pulumi.bad.yaml").write_text(content)
    with pytest.raises(DeliveryError, match="Pulumi.bad.yaml") as caught:
        read_stack_document(tmp_path, "bad")
    assert message in str(caught.value)


def test_group_leftovers_keeps_region_order_and_reports_each_arn_once() -> None:
    grouped = group_leftovers(
        [
            ("eu-west-1", ["arn:aws:sqs:eu-west-1:1:b", "arn:aws:s3:::bucket", "arn:aws:sqs:eu-west-1:1:a"]),
            ("eu-central-1", ["arn:aws:s3:::bucket"]),
        ]
    )
    assert list(grouped) == ["eu-west-1", "eu-central-1"]
    assert grouped == {
        "eu-west-1": ("arn:aws:s3:::bucket", "arn:aws:sqs:eu-west-1:1:a", "arn:aws:sqs:eu-west-1:1:b"),
        "eu-central-1": (),
    }


def test_format_leftovers() -> None:
    text = format_leftovers("dev", {"eu-west-1": ("arn:a", "arn:b"), "eu-central-1": ()})
    assert text.splitlines() == [
        "2 resource(s) still tagged stack=dev, managed-by=pulumi:",
        "eu-west-1 (2):",
        "  arn:a",
        "  arn:b",
        "eu-central-1: clean",
    ]
    assert format_leftovers("dev", {"eu-west-1": ()}) == "Clean: nothing tagged stack=dev, managed-by=pulumi is left in eu-west-1."


def test_retry_config_rejects_bad_values() -> None:
    config = retry_config(7, "adaptive")
    assert config.retries == {"total_max_attempts": 7, "mode": "adaptive"}
    with pytest.raises(DeliveryError, match="--max-attempts must be at least 1"):
        retry_config(0, "standard")
    with pytest.raises(DeliveryError, match="--retry-mode must be one of standard, adaptive"):
        retry_config(3, "legacy")


# --------------------------------------------------------------------------------------
# sweep against moto (in-process)
# --------------------------------------------------------------------------------------


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials; no profile, config file or endpoint from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def create_leftovers(endpoint_url: str | None = None) -> dict[str, set[str]]:
    """Tagged SQS queues and SNS topics in two regions, plus resources that are not the stack's.

    Returns the ARNs the sweep must report, per region.
    """
    expected: dict[str, set[str]] = {}
    for region in ("eu-west-1", "eu-central-1"):
        sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint_url)
        sns = boto3.client("sns", region_name=region, endpoint_url=endpoint_url)
        url = sqs.create_queue(QueueName="jobs", tags=STACK_TAGS)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topic_arn = sns.create_topic(Name="alerts", Tags=[{"Key": k, "Value": v} for k, v in STACK_TAGS.items()])["TopicArn"]
        # Not this stack's: another stack, and a resource with the stack tag but not managed by Pulumi.
        sqs.create_queue(QueueName="prod-jobs", tags={"stack": "prod", "managed-by": "pulumi"})
        sqs.create_queue(QueueName="hand-made", tags={"stack": "dev"})
        expected[region] = {queue_arn, topic_arn}
    return expected


def parse_report(text: str) -> dict[str, set[str]]:
    """Region -> ARNs from the sweep's printed report."""
    grouped: dict[str, set[str]] = {}
    region = None
    for line in text.splitlines():
        if line.startswith("  ") and region:
            grouped[region].add(line.strip())
        elif line.endswith("):") or line.endswith(": clean"):
            region = line.split(" ")[0].rstrip(":")
            grouped[region] = set()
    return grouped


def test_sweep_lists_leftovers_grouped_by_region_and_exits_1(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock_aws():
        expected = create_leftovers()
        code = run_sweep(SweepRequest("dev", project))

    assert code == EXIT_FAILED
    out = capsys.readouterr().out
    assert parse_report(out) == expected
    assert "hand-made" not in out and "prod-jobs" not in out


def test_sweep_of_a_clean_account_exits_0(project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        boto3.client("sqs", region_name="eu-west-1").create_queue(QueueName="other", tags={"stack": "prod", "managed-by": "pulumi"})
        code = run_sweep(SweepRequest("dev", project))

    assert code == EXIT_OK
    assert "Clean: nothing tagged stack=dev, managed-by=pulumi is left in eu-west-1, eu-central-1." in capsys.readouterr().out


def test_sweep_follows_pagination_and_reports_global_arns_once(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock_aws():
        sns = boto3.client("sns", region_name="eu-west-1")
        topics = {sns.create_topic(Name=f"t{i}", Tags=[{"Key": k, "Value": v} for k, v in STACK_TAGS.items()])["TopicArn"] for i in range(60)}
        s3 = boto3.client("s3", region_name="eu-central-1")
        s3.create_bucket(Bucket="dev-lake", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        s3.put_bucket_tagging(Bucket="dev-lake", Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in STACK_TAGS.items()]})
        code = run_sweep(SweepRequest("dev", project))

    out = capsys.readouterr().out
    assert code == EXIT_FAILED
    listed = parse_report(out)
    assert topics <= listed["eu-west-1"]  # more than one page (the API pages at 50)
    assert out.count("arn:aws:s3:::dev-lake") == 1


def test_sweep_bad_input_exits_2(project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "Pulumi.noregions.yaml").write_text("config:\n  mlops:ephemeral: true\n")
    assert run_sweep(SweepRequest("noregions", project)) == EXIT_USAGE
    assert "mlops:regions is missing" in capsys.readouterr().err
    assert run_sweep(SweepRequest("missing", project)) == EXIT_USAGE
    assert run_sweep(SweepRequest("dev", project, max_attempts=0)) == EXIT_USAGE


def test_sweep_without_credentials_names_the_regions_and_exits_3(
    project: Path, aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    assert run_sweep(SweepRequest("dev", project, max_attempts=1)) == EXIT_ENVIRONMENT
    err = capsys.readouterr().err
    assert "could not list eu-west-1" in err and "could not list eu-central-1" in err
    assert "Unable to locate credentials" in err


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


THROTTLE_BODY = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()


def throttling_client_factory(throttles: int) -> tuple[Any, list[str]]:
    """A client factory whose clients answer the first ``throttles`` GetResources calls with
    HTTP 400 ThrottlingException (before anything is sent), then let moto answer."""
    seen: list[str] = []

    def before_send(request: Any, **kwargs: Any) -> AWSResponse | None:
        if len([s for s in seen if s == "throttled"]) < throttles:
            seen.append("throttled")
            headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "throttle"}
            return AWSResponse(request.url, 400, headers, _Raw(THROTTLE_BODY))
        seen.append("sent")
        return None

    def factory(region: str, config: Any) -> Any:
        client = tagging_client(region, config)
        client.meta.events.register_first("before-send.resource-groups-tagging-api.GetResources", before_send)
        return client

    return factory, seen


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
def test_sweep_survives_throttling_through_retries(
    project: Path, aws_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    backoffs: list[float] = []
    monkeypatch.setattr(botocore.endpoint.time, "sleep", backoffs.append)  # record the backoff, skip the wait
    factory, seen = throttling_client_factory(throttles=2)
    with mock_aws():
        expected = create_leftovers()
        code = run_sweep(SweepRequest("dev", project, max_attempts=4, retry_mode=mode), client_for=factory)

    assert code == EXIT_FAILED
    assert seen[:3] == ["throttled", "throttled", "sent"]
    assert len(backoffs) == 2  # one backoff per throttled attempt
    assert parse_report(capsys.readouterr().out) == expected


def test_sweep_without_retries_fails_on_throttling_and_exits_3(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    factory, seen = throttling_client_factory(throttles=1)
    with mock_aws():
        create_leftovers()
        code = run_sweep(SweepRequest("dev", project, max_attempts=1), client_for=factory)

    assert code == EXIT_ENVIRONMENT
    err = capsys.readouterr().err
    assert "could not list eu-west-1" in err and "ThrottlingException" in err
    assert "incomplete, not listed: eu-west-1" in err


# --------------------------------------------------------------------------------------
# sweep as a real subprocess against moto_server, behind a throttling proxy
# --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (free port), stopped at teardown."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


class ThrottlingProxy:
    """An HTTP proxy on 127.0.0.1 answering the first ``throttles`` requests with HTTP 400
    ThrottlingException and forwarding every later one to ``target`` unchanged."""

    def __init__(self, target: str, throttles: int) -> None:
        self.target = target.removeprefix("http://")
        self.remaining = throttles
        self.throttled = 0
        self.forwarded = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                proxy.handle(self)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        with self._lock:
            throttle = self.remaining > 0
            if throttle:
                self.remaining -= 1
                self.throttled += 1
            else:
                self.forwarded += 1
        if throttle:
            status, headers, payload = 400, [("Content-Type", "application/x-amz-json-1.1")], THROTTLE_BODY
        else:
            upstream = http.client.HTTPConnection(self.target, timeout=30)
            try:
                upstream.request(request.command, request.path, body=body, headers=dict(request.headers))
                response = upstream.getresponse()
                status, payload = response.status, response.read()
                skip = {"content-length", "transfer-encoding", "connection"}
                headers = [(k, v) for k, v in response.getheaders() if k.lower() not in skip]
            finally:
                upstream.close()
        request.send_response(status)
        for key, value in headers:
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


def sweep_subprocess(project: Path, endpoint: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=endpoint,
        AWS_CONFIG_FILE=str(project / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(project / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-m", "stacks",
         "sweep", "dev", "--project-dir", str(project), *extra],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.subprocess
def test_sweep_subprocess_against_moto_server_survives_throttling(
    project: Path, aws_env: None, moto_server: str
) -> None:
    expected = create_leftovers(endpoint_url=moto_server)

    with ThrottlingProxy(moto_server, throttles=2) as proxy:
        done = sweep_subprocess(project, proxy.url, "--max-attempts", "5")

    assert done.returncode == EXIT_FAILED, done.stderr
    assert proxy.throttled == 2 and proxy.forwarded >= 2
    assert parse_report(done.stdout) == expected
    assert "Traceback" not in done.stderr


@pytest.mark.subprocess
def test_sweep_subprocess_without_retries_reports_throttling_and_exits_3(
    project: Path, aws_env: None, moto_server: str
) -> None:
    create_leftovers(endpoint_url=moto_server)

    with ThrottlingProxy(moto_server, throttles=1) as proxy:
        done = sweep_subprocess(project, proxy.url, "--max-attempts", "1")

    assert done.returncode == EXIT_ENVIRONMENT
    assert "could not list eu-west-1" in done.stderr and "ThrottlingException" in done.stderr
    assert "Traceback" not in done.stderr
    # eu-central-1 was still listed after eu-west-1 failed.
    assert "eu-central-1 (2):" in done.stdout
