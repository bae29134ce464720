"""Delivery commands: Automation API command logic with fakes (no CLI), the destroy and
account-id guards, and the sweep's names still importable from here (the sweep itself is
tested in test_sweep.py)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pulumi.automation as auto
import pytest
from pulumi.automation.events import OpType

from stacks import delivery, sweep
from stacks.delivery import (
    EXIT_ENVIRONMENT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PLACEHOLDER_ACCOUNT_ID,
    Backend,
    DeliveryError,
    OperationRequest,
    account_ids_problem,
    is_ephemeral,
    local_state_dir,
    main,
    passphrase_problem,
    placeholder_note,
    read_stack_document,
    resolve_backend,
    run_operation,
    stack_regions,
)

ROOT = Path(__file__).resolve().parents[1]

#: A real-looking account id (not THE placeholder) for stacks that pass the account guard.
ACCOUNT = "210987654321"

DEV = f"""\
config:
  mlops:environment: dev
  mlops:ephemeral: true
  mlops:allowedAccountIds: ["{ACCOUNT}"]
  mlops:regions:
    - name: eu-west-1
      cidr: 10.10.0.0/16
    - name: eu-central-1
      cidr: 10.11.0.0/16
"""
PROD = f"""\
config:
  mlops:environment: prod
  mlops:ephemeral: false
  mlops:allowedAccountIds: ["{ACCOUNT}"]
  mlops:regions:
    - name: eu-west-1
    - name: eu-central-1
"""
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
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    stack_outputs: dict[str, Any] = field(default_factory=dict)

    def _run(self, operation: str, on_output: Any, on_error: Any) -> Any:
        self.calls.append(operation)
        on_output(f"fake engine: {operation} in progress")
        if self.error is not None:
            raise self.error
        if operation == "preview":
            return SimpleNamespace(change_summary={OpType.CREATE: 3, OpType.SAME: 1})
        return SimpleNamespace(summary=SimpleNamespace(resource_changes={"same": 2, "delete": 1}))

    def preview(self, *, on_output: Any, on_error: Any, **options: Any) -> Any:
        self.options["preview"] = options
        return self._run("preview", on_output, on_error)

    def up(self, *, on_output: Any, on_error: Any, **options: Any) -> Any:
        self.options["up"] = options
        return self._run("up", on_output, on_error)

    def outputs(self) -> dict[str, Any]:
        return {name: SimpleNamespace(value=value) for name, value in self.stack_outputs.items()}

    def destroy(self, *, on_output: Any, on_error: Any, **options: Any) -> Any:
        self.options["destroy"] = options
        return self._run("destroy", on_output, on_error)

    def refresh(self, *, on_output: Any, on_error: Any, **options: Any) -> Any:
        self.options["refresh"] = options
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
    return run_operation(
        request, environ=ENV_WITH_PASSPHRASE if environ is None else environ, **kwargs
    )


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

    assert fake_auto.selections[0]["opts"].env_vars == {
        "PULUMI_BACKEND_URL": "s3://team-state/mlops"
    }
    assert not (project / ".pulumi-state").exists()


@pytest.mark.parametrize("operation", ["preview", "up", "refresh"])
def test_each_operation_calls_its_automation_method_for_any_stack(
    project: Path, fake_auto: SimpleNamespace, operation: str
) -> None:
    assert run(OperationRequest(operation, "prod", project)) == EXIT_OK  # type: ignore[arg-type]
    assert fake_auto.stack.calls == [operation]


def test_preview_summary_names_the_operations(
    project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(OperationRequest("preview", "dev", project)) == EXIT_OK
    assert "preview dev: done (create: 3, same: 1)" in capsys.readouterr().out


def test_missing_pulumi_cli_prints_one_install_message_and_touches_nothing(
    project: Path,
    fake_auto: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
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
    project: Path,
    fake_auto: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def missing(**kwargs: Any) -> None:
        raise FileNotFoundError(2, "No such file or directory", "pulumi")

    monkeypatch.setattr(auto, "create_or_select_stack", missing)

    assert run(OperationRequest("refresh", "dev", project)) == EXIT_ENVIRONMENT
    assert "curl -fsSL https://get.pulumi.com | sh" in capsys.readouterr().err


@pytest.mark.subprocess
def test_without_pulumi_cli_a_real_subprocess_exits_nonzero_without_traceback(
    project: Path, tmp_path: Path
) -> None:
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    env = {"PATH": str(empty_bin), "PYTHONPATH": str(ROOT), "PULUMI_CONFIG_PASSPHRASE": "x"}

    done = subprocess.run(
        [sys.executable, "-m", "stacks", "up", "dev", "--project-dir", str(project)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
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
    project: Path,
    fake_auto: SimpleNamespace,
    capsys: pytest.CaptureFixture[str],
    config: str,
    message: str,
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

    assert (
        run(OperationRequest("destroy", "dev", project, yes=True), interactive=True, ask=never)
        == EXIT_OK
    )
    assert fake_auto.stack.calls == ["destroy"]


@pytest.mark.parametrize(
    ("answer", "expected", "calls"),
    [("dev", EXIT_OK, ["destroy"]), ("y", EXIT_FAILED, []), ("", EXIT_FAILED, [])],
)
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


def test_interactive_destroy_treats_end_of_input_as_no(
    project: Path, fake_auto: SimpleNamespace
) -> None:
    def eof(prompt: str) -> str:
        raise EOFError

    assert (
        run(OperationRequest("destroy", "dev", project), interactive=True, ask=eof) == EXIT_FAILED
    )
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
    assert (
        passphrase_problem(file_url, {}, {"PULUMI_CONFIG_PASSPHRASE": ""}) is None
    )  # empty is a valid passphrase
    assert (
        passphrase_problem(file_url, {}, {"PULUMI_CONFIG_PASSPHRASE_FILE": "/run/secret"}) is None
    )
    assert passphrase_problem("s3://bucket", {}, {}) is not None
    assert (
        passphrase_problem("s3://bucket", {"secretsprovider": "awskms://alias/pulumi"}, {}) is None
    )
    assert passphrase_problem("https://api.pulumi.com", {}, {}) is None


def test_failed_operation_exits_1_with_a_pointer_to_the_output(
    project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_auto.stack.error = auto.CommandError(
        auto.CommandResult(stdout="", stderr="boom", code=255)
    )

    assert run(OperationRequest("up", "dev", project)) == EXIT_FAILED
    captured = capsys.readouterr()
    assert "fake engine: up in progress" in captured.out
    assert "pulumi failed" in captured.err


def test_locked_stack_is_reported_as_such(
    project: Path, fake_auto: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_auto.stack.error = auto.ConcurrentUpdateError(
        auto.CommandResult(stdout="", stderr="locked", code=255)
    )

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
    assert resolve_backend(tmp_path, {}) == Backend(
        f"file://{(tmp_path / '.pulumi-state').resolve()}", False
    )
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
    config = {
        "mlops:regions": [{"name": "eu-west-1", "cidr": "10.0.0.0/16"}, {"name": "us-east-2"}]
    }
    assert stack_regions(config, "f") == ("eu-west-1", "us-east-2")


@pytest.mark.parametrize(
    ("regions", "messages"),
    [
        (None, ["mlops:regions is missing"]),
        ([], ["must be a non-empty list"]),
        ("eu-west-1", ["must be a non-empty list"]),
        (
            [
                "eu-west-1",
                {"name": "Europe"},
                {"cidr": "10.0.0.0/16"},
                {"name": "eu-west-2"},
                {"name": "eu-west-2"},
            ],
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


# --------------------------------------------------------------------------------------
# The account-ids guard: engine commands refuse the placeholder; the offline plan notes it
# --------------------------------------------------------------------------------------


def _with_accounts(project: Path, line: str | None) -> None:
    """Rewrite Pulumi.dev.yaml with ``line`` as its mlops:allowedAccountIds line (None: no line)."""
    text = DEV.replace(
        f'  mlops:allowedAccountIds: ["{ACCOUNT}"]\n', "" if line is None else f"  {line}\n"
    )
    (project / "Pulumi.dev.yaml").write_text(text)


@pytest.mark.parametrize("operation", ["preview", "up", "refresh", "destroy"])
@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            f'mlops:allowedAccountIds: ["{PLACEHOLDER_ACCOUNT_ID}"]',
            f"still holds the placeholder account id {PLACEHOLDER_ACCOUNT_ID}",
        ),
        (
            f"mlops:allowedAccountIds: [{PLACEHOLDER_ACCOUNT_ID}]",
            "still holds the placeholder",
        ),  # unquoted: a YAML number
        (
            f'mlops:allowedAccountIds: ["{ACCOUNT}", "{PLACEHOLDER_ACCOUNT_ID}"]',
            "still holds the placeholder",
        ),
        (None, "mlops:allowedAccountIds is missing"),
        ("mlops:allowedAccountIds: []", "mlops:allowedAccountIds is missing"),
        (f'mlops:allowedAccountIds: "{ACCOUNT}"', "must be a list of account ids"),
    ],
)
def test_engine_commands_refuse_missing_or_placeholder_account_ids(
    project: Path,
    fake_auto: SimpleNamespace,
    capsys: pytest.CaptureFixture[str],
    operation: str,
    line: str | None,
    message: str,
) -> None:
    _with_accounts(project, line)

    code = run(OperationRequest(operation, "dev", project, yes=True))  # type: ignore[arg-type]

    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("Pulumi.dev.yaml: config key mlops:allowedAccountIds")
    assert message in err
    assert err.count("\n") == 1  # one clear message
    assert fake_auto.selections == [] and fake_auto.stack.calls == []
    assert not (project / ".pulumi-state").exists()


def test_account_guard_applies_before_the_cli_check(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(delivery.shutil, "which", lambda name: None)
    _with_accounts(project, f'mlops:allowedAccountIds: ["{PLACEHOLDER_ACCOUNT_ID}"]')

    assert run(OperationRequest("up", "dev", project)) == EXIT_USAGE
    assert "placeholder" in capsys.readouterr().err


def test_real_account_ids_pass_the_guard(project: Path, fake_auto: SimpleNamespace) -> None:
    _with_accounts(project, f"mlops:allowedAccountIds: [\"{ACCOUNT}\", '111122223333']")
    assert run(OperationRequest("up", "dev", project)) == EXIT_OK
    assert fake_auto.stack.calls == ["up"]


def test_account_guard_rules() -> None:
    assert account_ids_problem({"mlops:allowedAccountIds": [ACCOUNT]}, "f") is None
    assert account_ids_problem({"mlops:allowedAccountIds": [int(ACCOUNT)]}, "f") is None
    assert "placeholder" in str(
        account_ids_problem({"mlops:allowedAccountIds": [PLACEHOLDER_ACCOUNT_ID]}, "f")
    )
    assert "missing" in str(account_ids_problem({"mlops:allowedAccountIds": None}, "f"))
    assert PLACEHOLDER_ACCOUNT_ID == "123456789012"  # the example account of AWS's documentation


def test_placeholder_note_for_the_offline_plan() -> None:
    note = placeholder_note(
        {"mlops:allowedAccountIds": [PLACEHOLDER_ACCOUNT_ID]}, "Pulumi.dev.yaml"
    )
    assert note is not None and note.startswith(
        "Note: mlops:allowedAccountIds in Pulumi.dev.yaml is the placeholder 123456789012"
    )
    assert "refuse" in note
    assert "sets no mlops:allowedAccountIds" in str(placeholder_note({}, "Pulumi.dev.yaml"))
    assert placeholder_note({"mlops:allowedAccountIds": [ACCOUNT]}, "Pulumi.dev.yaml") is None


@pytest.mark.subprocess
def test_placeholder_refusal_in_a_real_subprocess_has_no_traceback(project_with: Any) -> None:
    root = project_with(
        {
            "mlops:ephemeral": True,
            "mlops:allowedAccountIds": [PLACEHOLDER_ACCOUNT_ID],
            "mlops:regions": [{"name": "eu-west-1"}],
        }
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PULUMI_CONFIG_PASSPHRASE": "x"}

    done = subprocess.run(
        [sys.executable, "-m", "stacks", "destroy", "test", "--yes", "--project-dir", str(root)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == EXIT_USAGE
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"Pulumi.test.yaml: config key mlops:allowedAccountIds still holds the placeholder account id "
        f"{PLACEHOLDER_ACCOUNT_ID} (the example account of AWS's documentation). Set it to the 12-digit "
        'id(s) of the AWS account(s) this stack deploys to, e.g. `mlops:allowedAccountIds: ["210987654321"]`. '
        "preview, up, refresh and destroy refuse to run until then; the offline commands (plan, diff, "
        "check) do not need it."
    ]


def test_the_sweep_is_still_importable_from_delivery() -> None:
    from stacks.delivery import (
        SweepRequest,
        format_leftovers,
        group_leftovers,
        retry_config,
        run_sweep,
        tagging_client,
    )

    assert (SweepRequest, run_sweep, tagging_client) == (
        sweep.SweepRequest,
        sweep.run_sweep,
        sweep.tagging_client,
    )
    assert (format_leftovers, group_leftovers, retry_config) == (
        sweep.format_leftovers,
        sweep.group_leftovers,
        sweep.retry_config,
    )
    assert delivery.DEFAULT_MAX_ATTEMPTS == sweep.DEFAULT_MAX_ATTEMPTS
    with pytest.raises(AttributeError):
        delivery.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    ("operation", "refreshes"), [("preview", False), ("up", True), ("refresh", False)]
)
def test_up_refreshes_first_so_a_failover_is_not_undone(
    fake_auto: SimpleNamespace, project: Path, operation: str, refreshes: bool
) -> None:
    """failover's switches are ignore_changes in the program; without a refresh an update
    would send the state Pulumi recorded before the failover. preview does not refresh: the
    PR preview role may read only the state."""
    assert run(OperationRequest(operation, "dev", project)) == EXIT_OK  # type: ignore[arg-type]
    assert fake_auto.stack.options[operation].get("refresh", False) is refreshes
