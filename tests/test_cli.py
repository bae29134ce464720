"""``python -m stacks``: plan, diff and bad input, as a user runs them.

The process boundary (exit codes, stdout/stderr, no traceback, the plan command's exit
without teardown) is checked on real subprocesses, once per kind of outcome; the rest calls
``stacks.cli.main`` in-process, the real stacks read from the session's render
(``shared_render`` in conftest.py) instead of rendering them again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.offline import PROJECT_DIR


def run(*args: str, cwd: Path = PROJECT_DIR) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "PULUMI_ACCESS_TOKEN"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "stacks", *args],
        cwd=cwd,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def dev_plan_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`plan dev --out FILE` as a user runs it: the one real render of this module."""
    out = tmp_path_factory.mktemp("plans") / "dev.json"
    result = run("plan", "dev", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return result, out


@pytest.fixture
def dev_plan_file(dev_plan_run: tuple[subprocess.CompletedProcess[str], Path]) -> Path:
    return dev_plan_run[1]


def main_run(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m stacks ARGS`` called in-process, its exit code and output captured."""
    from stacks.cli import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["stacks", *args], code, out, err)


@pytest.mark.subprocess
def test_plan_prints_a_summary_per_region_and_writes_json(dev_plan_run, dev_plan) -> None:
    result, dev_plan_file = dev_plan_run
    assert result.returncode == 0 and result.stderr == ""
    assert "== eu-west-1 (primary):" in result.stdout
    assert "== eu-central-1:" in result.stdout
    assert "NAT gateways:    1" in result.stdout
    # What losing the active region costs, per capability (stacks/recovery.py).
    assert "Recovery objectives (losing eu-west-1; standby eu-central-1):" in result.stdout
    assert "  data lake objects: RPO " in result.stdout
    assert result.stdout.rstrip().endswith(f"Plan written to {dev_plan_file}")
    assert json.loads(dev_plan_file.read_text()) == json.loads(dev_plan.to_json())


def test_plan_prod_renders_both_regions(shared_render, capsys) -> None:
    result = main_run(capsys, "plan", "prod")
    assert result.returncode == 0, result.stderr
    assert "== eu-west-1 (primary):" in result.stdout and "== eu-central-1:" in result.stdout
    assert "NAT gateways:    3" in result.stdout


@pytest.mark.subprocess
def test_plan_json_is_byte_identical_across_runs(
    dev_plan_file: Path, tmp_path: Path, shared_render, capsys
) -> None:
    # Two renders in two processes: the subprocess's and the session's (conftest.py).
    again = tmp_path / "again.json"
    assert main_run(capsys, "plan", "dev", "--out", str(again)).returncode == 0
    assert again.read_bytes() == dev_plan_file.read_bytes()


@pytest.mark.subprocess
def test_diff_equal_and_different(dev_plan_file: Path, tmp_path: Path, capsys) -> None:
    same = main_run(capsys, "diff", str(dev_plan_file), str(dev_plan_file))
    assert same.returncode == 0 and same.stdout == "No differences.\n"

    doc = json.loads(dev_plan_file.read_text())
    removed = doc["resources"].pop(0)
    changed = next(r for r in doc["resources"] if r["type"] == "aws:ec2/vpc:Vpc")
    changed["inputs"]["cidrBlock"] = "10.99.0.0/16"
    changed["options"]["protect"] = True
    added = dict(changed, urn=changed["urn"] + "-copy")
    doc["resources"].append(added)
    new = tmp_path / "new.json"
    new.write_text(json.dumps(doc))
    result = run("diff", str(dev_plan_file), str(new))  # exit 1 from a real process
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "1 to add, 1 to change, 1 to remove"
    assert f"+ {added['urn']}" in result.stdout
    assert f"- {removed['urn']}" in result.stdout
    assert f"~ {changed['urn']}\n    changed: inputs.cidrBlock, options.protect" in result.stdout


@pytest.mark.parametrize(
    "content", ["not json", '{"format": "other"}', '{"format": "mlops-plan/1", "resources": [1]}']
)
@pytest.mark.subprocess
def test_diff_bad_input_exits_2(dev_plan_file: Path, tmp_path: Path, content: str, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = main_run(capsys, "diff", str(dev_plan_file), str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:")
    missing = main_run(capsys, "diff", str(dev_plan_file), str(tmp_path / "missing.json"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


@pytest.mark.subprocess
def test_diff_bad_input_exits_2_from_a_real_process(dev_plan_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    result = run("diff", str(dev_plan_file), str(bad))
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:")


@pytest.mark.subprocess
def test_unknown_stack() -> None:
    result = run("plan", "staging")
    assert result.returncode == 2
    assert "unknown stack 'staging'" in result.stderr and "stacks here: dev, prod" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_yaml(project_with, capsys) -> None:
    root = project_with(raw="config:\n  mlops:regions: [\n")
    result = main_run(capsys, "plan", "test", "--project-dir", str(root))
    assert result.returncode == 2 and "not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.subprocess
def test_invalid_config_lists_every_problem_without_traceback(project_with, stack_config) -> None:
    config = stack_config("prod")
    config["mlops:ephemeral"] = True
    config["mlops:regions"][1]["cidr"] = "10.20.0.0/17"
    config["mlops:network"]["nat"] = "maybe"
    root = project_with(config)
    result = run("plan", "test", "--project-dir", str(root), "--out", str(root / "plan.json"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "mlops:ephemeral:" in result.stderr
    assert "mlops:regions[1].cidr: 10.20.0.0/17 overlaps 10.20.0.0/16" in result.stderr
    assert "mlops:network.nat: 'maybe'" in result.stderr
    assert not (root / "plan.json").exists()


def test_unreadable_stack_file(project_with, capsys) -> None:
    root = project_with(raw="")
    (root / "Pulumi.test.yaml").write_bytes(b"\xff\xfe\x00bad")
    result = main_run(capsys, "plan", "test", "--project-dir", str(root))
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_plan_says_when_the_account_ids_are_the_placeholder(
    stack_config, shared_render, capsys, tmp_path: Path
) -> None:
    from stacks.delivery import PLACEHOLDER_ACCOUNT_ID

    # Both stack files ship with the placeholder (README, "Accounts"), so `plan dev` is the
    # case; the session's render of dev answers it.
    assert stack_config("dev")["mlops:allowedAccountIds"] == [PLACEHOLDER_ACCOUNT_ID]
    out = tmp_path / "plan.json"
    result = main_run(capsys, "plan", "dev", "--out", str(out))
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stdout.splitlines() if line.startswith("Note:")]
    assert notes == [
        f"Note: mlops:allowedAccountIds in Pulumi.dev.yaml is the placeholder {PLACEHOLDER_ACCOUNT_ID}: the offline "
        "plan works with that, but preview, up, refresh and destroy refuse to run until it lists the real account id(s)."
    ]
    assert out.is_file()


def test_plan_says_nothing_once_the_account_ids_are_real(
    project_with, stack_config, capsys
) -> None:
    from stacks.delivery import PLACEHOLDER_ACCOUNT_ID

    # Every account id in the file is real: the allowed list and the ARNs that name accounts.
    text = json.dumps(stack_config("dev")).replace(PLACEHOLDER_ACCOUNT_ID, "210987654321")
    config = json.loads(text)
    assert config["mlops:allowedAccountIds"] == ["210987654321"]
    result = main_run(capsys, "plan", "test", "--project-dir", str(project_with(config)))
    assert result.returncode == 0, result.stderr
    assert "Note:" not in result.stdout


# Stack files as the Pulumi CLI reads them; --project-dir; the CLI's own errors ----------------


def test_a_key_written_twice_stops_the_plan_with_one_message(
    project_with, stack_config, capsys
) -> None:
    import yaml

    root = project_with(raw=yaml.safe_dump({"config": stack_config("dev")}))
    text = (root / "Pulumi.test.yaml").read_text()
    first = next(
        i for i, line in enumerate(text.splitlines(), 1) if "mlops:logRetentionDays" in line
    )
    last = len(text.splitlines()) + 1
    (root / "Pulumi.test.yaml").write_text(text + "  mlops:logRetentionDays: 30\n")
    result = main_run(capsys, "plan", "test", "--project-dir", str(root))
    assert result.returncode == 2
    assert result.stderr == (
        f"error: Pulumi.test.yaml line {last}: key 'mlops:logRetentionDays' is already defined "
        f"at line {first} (the Pulumi CLI rejects a key written twice)\n"
    )


@pytest.mark.subprocess
def test_a_namespace_typo_is_reported_with_the_key_meant(project_with, stack_config) -> None:
    config = stack_config("dev")
    config["mlop:tags"] = {"team": "data"}
    result = run("check", "test", "--project-dir", str(project_with(config)))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        "  - mlop:tags: unknown namespace 'mlop' (known: mlops, pulumi, aws, awsx" in result.stderr
    )
    assert result.stderr.rstrip().endswith("did you mean mlops:tags?")


@pytest.mark.parametrize("command", ["plan", "check"])
def test_project_dir_that_is_not_a_project(tmp_path: Path, command: str, capsys) -> None:
    missing = tmp_path / "missing"
    result = main_run(capsys, command, "dev", "--project-dir", str(missing))
    assert (result.returncode, result.stderr) == (
        2,
        f"error: --project-dir {missing}: no such folder\n",
    )
    (tmp_path / "Pulumi.dev.yaml").write_text((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    result = main_run(capsys, command, "dev", "--project-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == (
        f"error: --project-dir {tmp_path} has no Pulumi.yaml: give the Pulumi project's root "
        "folder (the one with Pulumi.yaml and the Pulumi.<stack>.yaml files)\n"
    )


FAKE_PULUMI = """#!/bin/sh
# A stand-in Pulumi CLI: `pulumi version` answers VERSION; every other command fails the way
# the real CLI does, with its own message on stderr.
for arg in "$@"; do
  if [ "$arg" = "version" ]; then echo "VERSION"; exit 0; fi
done
echo "error: failed to load checkpoint: fake CLI says the backend is unreachable" >&2
exit 255
"""


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("version", "code", "message"),
    [
        (
            "v3.272.0",
            1,
            "error: failed to load checkpoint: fake CLI says the backend is unreachable\n"
            "preview dev: pulumi failed; its output is above.\n",
        ),
        ("v3.0.0", 3, "preview dev: the Pulumi CLI does not fit this SDK: Minimum version"),
    ],
)
def test_the_pulumi_clis_own_error_reaches_the_user(
    tmp_path: Path, version: str, code: int, message: str
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text(FAKE_PULUMI.replace("VERSION", version))
    fake.chmod(0o755)
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (project / "Pulumi.dev.yaml").write_text(  # what the engine commands' guards need
        "config:\n  mlops:environment: dev\n  mlops:ephemeral: true\n"
        '  mlops:allowedAccountIds: ["210987654321"]\n'
        "  mlops:regions: [{name: eu-west-1}, {name: eu-central-1}]\n"
    )
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(PROJECT_DIR),
        "PULUMI_CONFIG_PASSPHRASE": "test",
    }
    result = subprocess.run(
        [sys.executable, "-m", "stacks", "preview", "dev", "--project-dir", str(project)],
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr
