"""GitHub workflows: valid against the GitHub workflow schema (check-jsonschema, offline), and
the essentials hold: PR checks plan/check/diff every stack and preview only with the read-only
preview role (never a deploy role, never an environment, no passphrase), deploy gates prod
behind an environment, dev is rebuilt on weekday mornings before its office hours, the nightly
schedule destroys only ephemeral stacks, credentials come only from OIDC, and two operations
on one stack never overlap."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from stacks import delivery

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
STACKS_COMMAND = re.compile(
    r'python -m stacks (up|destroy|preview|refresh) ("\$STACK"|[A-Za-z0-9_.-]+)'
)


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` mapping (PyYAML reads the bare key `on` as True)."""
    return workflow.get("on", workflow.get(True)) or {}


def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return workflow["jobs"]


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps", [])


def action(step: dict[str, Any]) -> str:
    """`owner/name` of a `uses:` step, without the version."""
    return str(step.get("uses", "")).split("@")[0]


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(file name, job id, job, workflow) for every job of every workflow."""
    for path in WORKFLOW_FILES:
        workflow = yaml.safe_load(path.read_text())
        for job_id, job in jobs(workflow).items():
            yield path.name, job_id, job, workflow


def stack_operations(job: dict[str, Any]) -> list[tuple[str, str]]:
    """(operation, stack) for every stack operation a job runs: `python -m stacks <op> <stack>`
    in run lines, `pulumi <op> -s/--stack <stack>` in run lines, and pulumi/actions steps."""
    found: list[tuple[str, str]] = []
    for step in steps(job):
        run = str(step.get("run", ""))
        found.extend(STACKS_COMMAND.findall(run))
        for op, stack in re.findall(
            r"\bpulumi (up|destroy|preview|refresh)\b.*?(?:-s|--stack)[ =]([A-Za-z0-9_.-]+)", run
        ):
            found.append((op, stack))
        if action(step) == "pulumi/actions" and step.get("with", {}).get("command"):
            found.append((str(step["with"]["command"]), str(step["with"].get("stack-name", ""))))
    return found


def destroy_targets(job: dict[str, Any]) -> list[str]:
    return [stack for op, stack in stack_operations(job) if op == "destroy"]


def test_the_three_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"pr.yml", "deploy.yml", "nightly.yml"}


@pytest.mark.subprocess
def test_every_workflow_is_valid_against_the_github_workflow_schema() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, WORKFLOW_FILES),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.subprocess
def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: true\n        uses: actions/checkout@v4\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            str(broken),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0


def test_nightly_runs_on_a_cron_schedule() -> None:
    schedule = triggers(load("nightly.yml"))["schedule"]
    assert schedule, "nightly.yml has no schedule"
    for entry in schedule:
        fields = entry["cron"].split()
        assert len(fields) == 5, f"not a five-field cron expression: {entry['cron']!r}"


def test_nightly_destroys_dev_then_sweeps_it_and_reports_failures_in_an_issue() -> None:
    nightly = jobs(load("nightly.yml"))
    [destroyer] = [job for job in nightly.values() if destroy_targets(job)]
    assert destroy_targets(destroyer) == ["dev"]
    runs = [str(step.get("run", "")) for step in steps(destroyer)]
    destroy_at = next(
        i for i, run in enumerate(runs) if "python -m stacks destroy dev --yes" in run
    )
    sweep_at = next(i for i, run in enumerate(runs) if "python -m stacks sweep dev" in run)
    assert sweep_at > destroy_at
    assert "cancelled()" in str(steps(destroyer)[sweep_at].get("if", "")), (
        "the sweep must also run after a failed destroy"
    )

    [reporter] = [
        job
        for job in nightly.values()
        if any(action(s) == "actions/github-script" for s in steps(job))
    ]
    assert reporter["if"] == "failure()"
    assert reporter.get("permissions", {}).get("issues") == "write"
    script = next(s for s in steps(reporter) if action(s) == "actions/github-script")["with"][
        "script"
    ]
    assert (
        "issues.create(" in script
        and "issues.createComment(" in script
        and 'state: "open"' in script
    )


def test_destroy_only_ever_targets_ephemeral_stacks() -> None:
    targets = [
        (name, job_id, stack)
        for name, job_id, job, _ in all_jobs()
        for stack in destroy_targets(job)
    ]
    assert targets, "no workflow destroys anything, but the nightly must destroy dev"
    for name, job_id, stack in targets:
        config = delivery.stack_config(delivery.read_stack_document(ROOT, stack))
        assert delivery.is_ephemeral(config, f"Pulumi.{stack}.yaml"), (
            f"{name}:{job_id} destroys {stack}, which is not ephemeral"
        )


def test_destroy_target_extraction_catches_every_form() -> None:
    job = {
        "steps": [
            {"run": "python -m stacks destroy prod --yes"},
            {"run": "pulumi destroy --yes --stack prod"},
            {"uses": "pulumi/actions@v6", "with": {"command": "destroy", "stack-name": "prod"}},
        ]
    }
    assert destroy_targets(job) == ["prod", "prod", "prod"]
    assert not delivery.is_ephemeral(
        delivery.stack_config(delivery.read_stack_document(ROOT, "prod")), "Pulumi.prod.yaml"
    )


def test_raw_pulumi_destroy_is_never_used() -> None:
    for name, job_id, job, _ in all_jobs():
        for step in steps(job):
            assert not re.search(r"\bpulumi\s+destroy\b", str(step.get("run", ""))), (
                f"{name}:{job_id} bypasses the destroy guard"
            )


def test_prod_deploy_waits_for_an_approved_environment_after_dev() -> None:
    deploy = load("deploy.yml")
    assert "main" in triggers(deploy)["push"]["branches"]
    by_stack = {
        stack: (job_id, job)
        for job_id, job in jobs(deploy).items()
        for op, stack in stack_operations(job)
        if op == "up"
    }
    assert set(by_stack) == {"dev", "prod"}
    prod_id, prod = by_stack["prod"]
    environment = prod.get("environment")
    environment_name = environment.get("name") if isinstance(environment, dict) else environment
    assert environment_name == "production"
    dev_id, _ = by_stack["dev"]
    needs = prod.get("needs", [])
    assert dev_id in ([needs] if isinstance(needs, str) else needs)


def test_no_workflow_uses_long_lived_aws_keys() -> None:
    for path in WORKFLOW_FILES:
        text = path.read_text()
        for forbidden in (
            "aws-access-key-id",
            "aws-secret-access-key",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ):
            assert forbidden not in text, f"{path.name} uses {forbidden}"


def test_aws_credentials_come_from_oidc_with_id_token_permission() -> None:
    configured = 0
    for name, job_id, job, workflow in all_jobs():
        for step in steps(job):
            if action(step) != "aws-actions/configure-aws-credentials":
                continue
            configured += 1
            assert step["with"].get("role-to-assume"), (
                f"{name}:{job_id} configures AWS without a role"
            )
            permissions = job.get("permissions", workflow.get("permissions", {}))
            assert permissions.get("id-token") == "write", f"{name}:{job_id} lacks id-token: write"
    assert configured >= 4  # PR preview, dev and prod deploy, nightly


def test_operations_on_one_stack_share_a_concurrency_group_across_workflows() -> None:
    groups: dict[str, set[str]] = {}
    for name, job_id, job, _ in all_jobs():
        for op, stack in stack_operations(job):
            if op in ("up", "destroy", "refresh"):
                concurrency = job.get("concurrency")
                assert isinstance(concurrency, dict), (
                    f"{name}:{job_id} changes {stack} without a concurrency group"
                )
                assert concurrency.get("cancel-in-progress") is False, (
                    f"{name}:{job_id} could cancel a running update"
                )
                groups.setdefault(stack, set()).add(concurrency["group"])
    assert set(groups) == {"dev", "prod"}
    for stack, names in groups.items():
        assert len(names) == 1, f"jobs changing {stack} use different groups {names}"
    assert groups["dev"] != groups["prod"]


def test_pr_checks_cover_every_stack_file() -> None:
    pr = load("pr.yml")
    assert "pull_request" in triggers(pr)
    runs = "\n".join(str(s.get("run", "")) for job in jobs(pr).values() for s in steps(job))
    assert "python -m pytest -q" in runs
    for command in (
        'python -m stacks plan "$STACK" --out',
        'python -m stacks check "$STACK"',
        "python -m stacks diff",
    ):
        assert command in runs
    plan = jobs(pr)["plan"]
    stacks = {p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml")}
    assert stacks and set(plan["strategy"]["matrix"]["stack"]) == stacks


def test_pr_preview_uses_the_read_only_preview_role_and_comments_on_the_pr() -> None:
    pr = jobs(load("pr.yml"))
    previews = {
        job_id: job
        for job_id, job in pr.items()
        if ("preview", '"$STACK"') in stack_operations(job)
    }
    assert list(previews) == ["preview"], "no pulumi preview in the PR checks"
    job = previews["preview"]
    condition = str(job.get("if", ""))
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition
    assert (
        "vars.AWS_PREVIEW_ROLE_ARN_DEV" in condition
        and "vars.AWS_PREVIEW_ROLE_ARN_PROD" in condition
    )
    # Each stack with its own account's preview role and backend, from repository variables.
    assert {entry["stack"]: entry["role"] for entry in job["strategy"]["matrix"]["include"]} == {
        "dev": "${{ vars.AWS_PREVIEW_ROLE_ARN_DEV }}",
        "prod": "${{ vars.AWS_PREVIEW_ROLE_ARN_PROD }}",
    }
    [credentials] = [s for s in steps(job) if action(s) == "aws-actions/configure-aws-credentials"]
    assert credentials["with"]["role-to-assume"] == "${{ matrix.role }}"
    assert job["env"]["STACK"] == "${{ matrix.stack }}"
    comment = next(s for s in steps(job) if action(s) == "marocchino/sticky-pull-request-comment")
    assert comment["with"]["path"] == "preview-${{ matrix.stack }}.md"
    assert "cancelled()" in comment["if"]
    assert job["permissions"]["pull-requests"] == "write"


def test_pull_requests_never_get_a_deploy_role_an_environment_or_the_passphrase() -> None:
    pr = load("pr.yml")
    text = (WORKFLOWS / "pr.yml").read_text()
    for job_id, job in jobs(pr).items():
        # A job naming an environment would get the OIDC subject ...:environment:<name>,
        # which is what the deploy roles trust.
        assert "environment" not in job, job_id
    assert "AWS_DEPLOY_ROLE_ARN" not in text and "AWS_ROLE_ARN" not in text
    assert "PULUMI_CONFIG_PASSPHRASE" not in text
    assert "pulumi/actions" not in {
        action(s)
        for job in jobs(pr).values()
        for s in steps(job)
        if s.get("with", {}).get("command")
    }


def test_deploy_jobs_assume_the_deploy_role_of_their_environment() -> None:
    for name in ("deploy.yml", "nightly.yml"):
        for job_id, job in jobs(load(name)).items():
            for step in steps(job):
                if action(step) == "aws-actions/configure-aws-credentials":
                    assert job.get("environment"), (
                        f"{name}:{job_id} assumes a role outside an environment"
                    )
                    assert step["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}", (
                        f"{name}:{job_id}"
                    )
        assert "AWS_PREVIEW_ROLE_ARN" not in (WORKFLOWS / name).read_text()


def _cron_hours_and_days(expression: str) -> tuple[int, int, set[int]]:
    """(minute, hour, weekdays 0=Sunday) of a five-field cron with fixed minute and hour."""
    minute, hour, day, month, weekday = expression.split()
    assert (day, month) == ("*", "*")
    days: set[int] = set()
    for part in weekday.split(","):
        first, _, last = part.partition("-")
        days.update(range(int(first), int(last or first) + 1))
    return int(minute), int(hour), days


def test_dev_is_rebuilt_every_weekday_morning_before_its_office_hours() -> None:
    deploy = load("deploy.yml")
    [entry] = triggers(deploy)["schedule"]
    minute, hour, days = _cron_hours_and_days(entry["cron"])
    assert days == {1, 2, 3, 4, 5}  # Monday to Friday
    text = (WORKFLOWS / "deploy.yml").read_text()
    assert "UTC" in text and '"Deploy dev"' in text  # the time zone and the job are stated

    # The job that ups dev runs on the schedule; the prod job never does.
    dev = next(job for job in jobs(deploy).values() if ("up", "dev") in stack_operations(job))
    prod = next(job for job in jobs(deploy).values() if ("up", "prod") in stack_operations(job))
    assert dev["name"] == "Deploy dev" and "if" not in dev
    assert prod["if"] == "github.event_name != 'schedule'"

    # Done before dev's office hours start in its own time zone, in winter and in summer time,
    # and after the nightly destroy of the evening before.
    [pool] = [
        p
        for p in delivery.stack_config(delivery.read_stack_document(ROOT, "dev"))["mlops:compute"][
            "pools"
        ]
        if p.get("schedule")
    ]
    zone = ZoneInfo(pool["schedule"]["timezone"])
    start = datetime.strptime(pool["schedule"]["officeHours"]["start"], "%H:%M").time()
    for day in ("2026-01-14", "2026-07-15"):  # a Wednesday in CET and one in CEST
        run = datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}:00+00:00").astimezone(zone)
        assert run.time() <= (datetime.combine(run.date(), start) - timedelta(hours=1)).time(), (
            day,
            run,
        )
    [nightly] = triggers(load("nightly.yml"))["schedule"]
    _, destroy_hour, _ = _cron_hours_and_days(nightly["cron"].replace("* * *", "* * 0-6"))
    assert destroy_hour > hour


def test_every_action_is_pinned_to_a_version() -> None:
    for name, job_id, job, _ in all_jobs():
        for step in steps(job):
            if "uses" in step:
                ref = str(step["uses"]).partition("@")[2]
                assert re.fullmatch(r"v\d+(\.\d+){0,2}|[0-9a-f]{40}", ref), (
                    f"{name}:{job_id} uses {step['uses']}"
                )


def test_pulumi_cli_version_matches_the_sdk_pin() -> None:
    pin = re.search(r"^pulumi==(\S+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pin
    for path in WORKFLOW_FILES:
        workflow = yaml.safe_load(path.read_text())
        if "pulumi/actions" in path.read_text():
            assert workflow["env"]["PULUMI_VERSION"] == pin.group(1), path.name


@pytest.mark.parametrize("name", ["pr.yml", "deploy.yml", "nightly.yml"])
def test_state_backend_comes_from_settings_and_no_workflow_holds_a_passphrase(name: str) -> None:
    text = (WORKFLOWS / name).read_text()
    if name == "pr.yml":
        text = yaml.safe_dump(jobs(load(name))["preview"])
        assert (
            "${{ vars.PULUMI_BACKEND_URL_DEV }}" in text
            and "${{ vars.PULUMI_BACKEND_URL_PROD }}" in text
        )
    else:
        assert "${{ vars.PULUMI_BACKEND_URL }}" in text
    # Every stack uses the awskms:// secrets provider (deploy/iam/README.md): no passphrase in CI.
    assert "PASSPHRASE" not in (WORKFLOWS / name).read_text()


def _plan_diff_step() -> dict[str, Any]:
    plan = jobs(load("pr.yml"))["plan"]
    [step] = [s for s in steps(plan) if "python -m stacks diff" in str(s.get("run", ""))]
    return step


def test_pr_plan_diff_comment_is_the_markdown_diff_and_the_full_diff_an_artifact() -> None:
    plan = jobs(load("pr.yml"))["plan"]
    run = str(_plan_diff_step()["run"])
    assert "--format markdown" in run and "--format json" in run
    limit = re.search(r"--max-chars (\d+)", run)
    assert limit and int(limit.group(1)) <= 65536  # GitHub's comment limit
    assert 'report="plan-diff-$STACK.md"' in run and '> "$report"' in run
    # The truncation line sends readers to the artifact uploaded below.
    assert "--full-diff-at" in run and "plan-diff-$STACK\\` artifact" in run
    [comment] = [
        s
        for s in steps(plan)
        if action(s) == "marocchino/sticky-pull-request-comment"
        and s["with"]["header"] == "plan-diff-${{ matrix.stack }}"
    ]
    assert comment["with"]["path"] == "plan-diff-${{ matrix.stack }}.md"
    [artifact] = [
        s
        for s in steps(plan)
        if action(s) == "actions/upload-artifact"
        and s["with"]["name"] == "plan-diff-${{ matrix.stack }}"
    ]
    assert "plan-diff-${{ matrix.stack }}.txt" in artifact["with"]["path"]
    assert "cancelled()" in str(artifact.get("if", ""))


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("base", "head"),
    [
        ("tests/golden/diff/old.json", "tests/golden/diff/new.json"),
        ("tests/golden/plan-dev.json", "tests/golden/plan-prod.json"),  # a big diff
    ],
)
def test_pr_plan_diff_step_writes_a_comment_that_fits(tmp_path: Path, base: str, head: str) -> None:
    (tmp_path / "base-dev.json").write_bytes((ROOT / base).read_bytes())
    (tmp_path / "plan-dev.json").write_bytes((ROOT / head).read_bytes())
    summary = tmp_path / "summary.md"
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "STACK": "dev",
        "BASE_AVAILABLE": "true",
        "BASE_SHA": "a" * 40,
        "HEAD_SHA": "b" * 40,
        "RUN_URL": "https://github.com/o/r/actions/runs/1",
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    done = subprocess.run(
        ["bash", "-e", "-c", str(_plan_diff_step()["run"])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "plan-diff-dev.md").read_text(encoding="utf-8")
    assert report.startswith("### Offline plan diff: `dev` (aaaaaaa → bbbbbbb)")
    assert "| Region | Added | Changed | of which replaced | Removed |" in report
    assert len(report.encode()) <= 65000
    if "Truncated" in report:
        assert (
            "`plan-diff-dev` artifact of [this workflow run](https://github.com/o/r/actions/runs/1)"
            in report
        )
    assert summary.read_text(encoding="utf-8") == report
    full = (tmp_path / "plan-diff-dev.txt").read_text(encoding="utf-8")
    assert full.splitlines()[0].endswith("to remove")
    assert json.loads((tmp_path / "plan-diff-dev.json").read_text())["equal"] is False


@pytest.mark.subprocess
def test_pr_plan_diff_step_fails_on_a_broken_plan(tmp_path: Path) -> None:
    (tmp_path / "base-dev.json").write_text('{"format": "mlops-plan/1"}')
    (tmp_path / "plan-dev.json").write_bytes((ROOT / "tests/golden/diff/new.json").read_bytes())
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "STACK": "dev",
        "BASE_AVAILABLE": "true",
        "BASE_SHA": "a" * 40,
        "HEAD_SHA": "b" * 40,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    done = subprocess.run(
        ["bash", "-e", "-c", str(_plan_diff_step()["run"])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "error:" in done.stderr and "Traceback" not in done.stderr
