"""Alert delivery that survives dev's nightly rebuild: persistent topics (``deploy/alerts``)
named per region in ``mlops:alerts.topicArns``, their config checks, the rendered stacks, and
the warning an ephemeral stack with its own subscriptions gets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml
from parliament import analyze_policy_string
from render_cache import real_config, write_project  # tests/render_cache.py

from components.monitoring import topic_policy
from stacks.config import ConfigError, load_stack_config, parse_raw_config
from stacks.config.alerts import persistent_topic_name
from stacks.offline import PROJECT_DIR, Plan, render_project
from stacks.sweep import sweep_tags

TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
ACCOUNT = "123456789012"
BOOTSTRAP = PROJECT_DIR / "deploy" / "alerts"


def arn(region: str, name: str = "mlops-dev-alerts", account: str = ACCOUNT) -> str:
    return f"arn:aws:sns:{region}:{account}:{name}"


def flat(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def alert_problems(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    return [p for p in info.value.problems if p.startswith("mlops:alerts")]


# Config ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "topics, expected",
    [
        (
            {"eu-west-1": "arn:aws:sqs:eu-west-1:123456789012:alerts"},
            "mlops:alerts.topicArns.eu-west-1: 'arn:aws:sqs:eu-west-1:123456789012:alerts' is "
            "not an SNS topic ARN",
        ),
        (
            {"eu-west-1": "arn:aws:sns:eu-west-1:123456789012:alerts.fifo"},
            "mlops:alerts.topicArns.eu-west-1: 'arn:aws:sns:eu-west-1:123456789012:alerts.fifo' "
            "is a FIFO topic",
        ),
        (
            {"us-east-1": arn("us-east-1")},
            "mlops:alerts.topicArns.us-east-1: 'us-east-1' is not a region of mlops:regions "
            "(eu-west-1, eu-central-1)",
        ),
        (
            {"eu-west-1": arn("eu-central-1")},
            "mlops:alerts.topicArns.eu-west-1: the topic is in eu-central-1; a region's alarms "
            "can only notify a topic in that region (eu-west-1)",
        ),
        (
            {"eu-west-1": arn("eu-west-1", account="210987654321")},
            "mlops:alerts.topicArns.eu-west-1: the topic is in account 210987654321, not one "
            "of mlops:allowedAccountIds (123456789012)",
        ),
    ],
)
def test_bad_persistent_topics_name_the_key(stack_config, topics, expected) -> None:
    config = stack_config("dev")
    config["mlops:alerts"] = {"topicArns": topics}
    problems = alert_problems(config)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems[0]


def test_addresses_no_region_would_use_are_refused(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:alerts"] = {**config["mlops:alerts"], "emails": ["ops@example.com"]}
    (problem,) = alert_problems(config)
    assert problem.startswith("mlops:alerts.emails: no region would use these addresses")


def test_a_typo_in_the_alerts_section_is_refused(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:alerts"] = {"topicArn": {"eu-west-1": arn("eu-west-1")}}
    (problem,) = alert_problems(config)
    assert problem == "mlops:alerts.topicArn: unknown key; did you mean mlops:alerts.topicArns?"


def test_a_bad_topic_fails_the_plan_with_exit_2_and_no_traceback(
    project_with, stack_config, capsys
):
    # In-process: the exit code and message of a config error as a process are
    # tests/test_cli.py's (test_invalid_config_lists_every_problem_without_traceback).
    from stacks.cli import main

    config = stack_config("dev")
    config["mlops:alerts"] = {"topicArns": {"eu-west-1": arn("eu-central-1")}}
    assert main(["plan", "test", "--project-dir", str(project_with(config))]) == 2
    err = capsys.readouterr().err
    assert "mlops:alerts.topicArns.eu-west-1: the topic is in eu-central-1" in err


# The rendered dev stack ----------------------------------------------------------------


def test_dev_creates_no_topic_and_no_subscription(dev_plan: Plan) -> None:
    assert dev_plan.of_type(TOPIC) == []
    assert dev_plan.of_type(SUBSCRIPTION) == []
    assert dev_plan.of_type(TOPIC_POLICY) == []


def test_dev_alarms_and_failure_events_notify_the_persistent_topic_of_their_region(
    dev_plan: Plan,
) -> None:
    cfg = load_stack_config(PROJECT_DIR, "dev")
    assert set(cfg.alerts.topic_arns) == {r.name for r in cfg.regions}
    for region in cfg.regions:
        persistent = cfg.alerts.topic_arns[region.name]
        assert persistent == arn(region.name)
        assert dev_plan.outputs["regions"][region.name]["alertTopicArn"] == persistent
        alarms = [a for a in dev_plan.of_type(ALARM) if a["region"] == region.name]
        assert alarms
        for alarm in alarms:
            assert alarm["inputs"]["alarmActions"] == [persistent], alarm["name"]
            assert alarm["inputs"]["okActions"] == [persistent], alarm["name"]
        sns_targets = [
            t
            for t in dev_plan.of_type(TARGET)
            if t["region"] == region.name and ":sns:" in t["inputs"]["arn"]
        ]
        assert sns_targets and all(t["inputs"]["arn"] == persistent for t in sns_targets)


def test_prod_keeps_its_own_topics_and_subscriptions(prod_plan: Plan) -> None:
    cfg = load_stack_config(PROJECT_DIR, "prod")
    assert cfg.alerts.topic_arns == {}
    for region in cfg.regions:
        (topic,) = [t for t in prod_plan.of_type(TOPIC) if t["region"] == region.name]
        topic_arn = arn(region.name, topic["id"])
        assert prod_plan.outputs["regions"][region.name]["alertTopicArn"] == topic_arn
        subscribed = sorted(
            s["inputs"]["endpoint"]
            for s in prod_plan.of_type(SUBSCRIPTION)
            if s["inputs"]["topic"] == topic_arn
        )
        assert subscribed == sorted(cfg.alerts.emails)


@pytest.fixture(scope="module")
def own_topic_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Plan]:
    """``python -m stacks plan --out`` (a real process) of dev with a persistent topic for
    eu-west-1 only and an address: eu-central-1 creates its own topic and subscribes the
    address. (The process's result, the plan it wrote.)"""
    config = real_config("dev")
    config["mlops:alerts"] = {
        "topicArns": {"eu-west-1": arn("eu-west-1")},
        "emails": ["ops@example.com"],
    }
    folder = tmp_path_factory.mktemp("own-topic")
    project = write_project(config, folder / "project")
    out = folder / "plan.json"
    result = run_cli("plan", "test", "--project-dir", str(project), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return result, Plan.from_json(out.read_text(encoding="utf-8"))


@pytest.mark.subprocess  # through own_topic_run
def test_a_region_without_a_persistent_topic_gets_its_own(
    own_topic_run: tuple[subprocess.CompletedProcess[str], Plan],
) -> None:
    _, plan = own_topic_run
    assert [t["region"] for t in plan.of_type(TOPIC)] == ["eu-central-1"]
    assert [s["inputs"]["endpoint"] for s in plan.of_type(SUBSCRIPTION)] == ["ops@example.com"]
    assert plan.outputs["regions"]["eu-west-1"]["alertTopicArn"] == arn("eu-west-1")


# The warning of an ephemeral stack that subscribes addresses itself ---------------------


@pytest.mark.subprocess
def test_an_ephemeral_stack_with_its_own_subscriptions_is_warned(
    own_topic_run: tuple[subprocess.CompletedProcess[str], Plan],
) -> None:
    """The warning as the user of the offline plan sees it: on the process's stderr (the
    mock engine logs ``pulumi.log.warn`` at WARNING; Python prints it there). The region
    with its own topic is warned; the one with a persistent topic is not."""
    result, _ = own_topic_run
    warnings = result.stderr.splitlines()
    (warning,) = [w for w in warnings if w.startswith("mlops:alerts: eu-central-1:")]
    assert "must be confirmed again after every rebuild" in warning
    assert "mlops:alerts.topicArns.eu-central-1" in warning
    assert not [w for w in warnings if w.startswith("mlops:alerts: eu-west-1:")]


def test_persistent_topics_and_protected_stacks_are_not_warned(render_notes) -> None:
    # What the session's renders of dev and prod logged (conftest ``render_notes``).
    for stack, notes in render_notes.items():
        assert not [w for w in notes.warnings if "mlops:alerts" in w], stack


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_DIR)}
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "PULUMI_ACCESS_TOKEN"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "stacks", *args],
        cwd=PROJECT_DIR,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
    )


# The bootstrap program (deploy/alerts) ---------------------------------------------------


@pytest.fixture(scope="module")
def bootstrap() -> Plan:
    return render_project(BOOTSTRAP, "Pulumi.dev.yaml", stack="dev")


def bootstrap_config() -> dict[str, Any]:
    text = (BOOTSTRAP / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["config"]


def test_the_bootstrap_is_a_project_of_its_own() -> None:
    project = yaml.safe_load((BOOTSTRAP / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["name"] == "mlops-alerts" and project["runtime"]["name"] == "python"
    assert (BOOTSTRAP / "README.md").is_file()


def test_the_bootstrap_creates_the_topics_dev_names(bootstrap: Plan) -> None:
    cfg = load_stack_config(PROJECT_DIR, "dev")
    assert bootstrap.outputs["topicArns"] == dict(cfg.alerts.topic_arns)
    assert sorted(bootstrap_config()["mlops-alerts:regions"]) == sorted(r.name for r in cfg.regions)
    for region in cfg.regions:
        (topic,) = [t for t in bootstrap.of_type(TOPIC) if t["region"] == region.name]
        assert topic["inputs"]["name"] == persistent_topic_name("dev") == "mlops-dev-alerts"


def test_bootstrap_topics_are_encrypted_and_let_this_accounts_alarms_and_rules_publish(
    bootstrap: Plan,
) -> None:
    keys = {k["region"]: k for k in bootstrap.of_type("aws:kms/key:Key")}
    for topic in bootstrap.of_type(TOPIC):
        region = topic["region"]
        key = keys[region]
        assert (
            topic["inputs"]["kmsMasterKeyId"] == f"arn:aws:kms:{region}:{ACCOUNT}:key/{key['id']}"
        )
        topic_arn = arn(region, topic["id"])
        (policy,) = [p for p in bootstrap.of_type(TOPIC_POLICY) if p["region"] == region]
        document = json.loads(policy["inputs"]["policy"])
        assert document == topic_policy(topic_arn, ACCOUNT, "aws")
        publish = document["Statement"][0]
        assert set(publish["Principal"]["Service"]) == {
            "cloudwatch.amazonaws.com",
            "events.amazonaws.com",
        }
        assert publish["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
        # The key lets both publishers make data keys for the topic (components/kms.py's
        # "alarms" use: the same statements the platform's own region keys carry).
        key_policy = json.loads(key["inputs"]["policy"])
        for service in publish["Principal"]["Service"]:
            actions = {
                action
                for s in key_policy["Statement"]
                if s["Effect"] == "Allow" and service in _services(s)
                for action in _list(s["Action"])
            }
            assert {"kms:Decrypt", "kms:GenerateDataKey"} <= actions, service
        findings = analyze_policy_string(json.dumps(document), include_community_auditors=True)
        assert [f.issue for f in findings.findings] == []


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _services(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    return _list(principal.get("Service", [])) if isinstance(principal, dict) else []


def test_bootstrap_subscriptions_and_protection(bootstrap: Plan) -> None:
    emails = bootstrap_config()["mlops-alerts:emails"]
    for region in bootstrap_config()["mlops-alerts:regions"]:
        subscribed = [
            s["inputs"]["endpoint"]
            for s in bootstrap.of_type(SUBSCRIPTION)
            if s["region"] == region and s["inputs"]["protocol"] == "email"
        ]
        assert sorted(subscribed) == sorted(emails)
    for resource in bootstrap.resources:
        if resource["type"] in {TOPIC, TOPIC_POLICY, SUBSCRIPTION, "aws:kms/key:Key"}:
            options = resource["options"]
            assert options["protect"] and options["retainOnDelete"], resource["name"]


def test_the_nightly_sweep_never_counts_the_persistent_topics(bootstrap: Plan) -> None:
    wanted = sweep_tags("dev")
    for provider in bootstrap.of_type("pulumi:providers:aws"):
        tags = json.loads(provider["inputs"]["defaultTags"])["tags"]
        assert not all(tags.get(k) == v for k, v in wanted.items()), tags
        assert provider["inputs"]["allowedAccountIds"]


def test_the_bootstrap_readme_names_the_config_key() -> None:
    text = (BOOTSTRAP / "README.md").read_text(encoding="utf-8")
    assert "mlops:alerts.topicArns" in text and "pulumi up" in text
