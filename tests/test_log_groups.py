"""Log groups services would otherwise create on their own: every log group a service writes
to is the stack's, with retention and the region's KMS key, and the resource that makes the
service write exists only after it.

A group a service creates itself (``/aws/batch/job`` when a job definition names none, MWAA's
``airflow-<environment>-<module>`` groups) has no retention and no key, is not tagged with the
stack and outlives every destroy.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from render_cache import prod_with_airflow, render_config  # tests/render_cache.py

from stacks.offline import Plan

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
DEFINITION = "aws:batch/jobDefinition:JobDefinition"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
MWAA = "aws:mwaa/environment:Environment"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
WAF_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
#: The log groups MWAA writes to, by logging configuration key (MWAA User Guide,
#: "Viewing Airflow logs in Amazon CloudWatch" and "Troubleshooting: CloudWatch Logs and
#: CloudTrail errors": ``airflow-{environmentName}-Task``; MWAA API Reference,
#: ModuleLoggingConfiguration: ``...:log-group:airflow-<environment>-DAGProcessing``).
MWAA_GROUPS = {
    "dagProcessingLogs": "DAGProcessing",
    "schedulerLogs": "Scheduler",
    "taskLogs": "Task",
    "webserverLogs": "WebServer",
    "workerLogs": "Worker",
}


@pytest.fixture(scope="module")
def airflow_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    """prod with managed Airflow switched on (neither real stack runs it): the render
    test_stack_jobs and test_permissions_boundary share (render_cache)."""
    return render_config(prod_with_airflow(), tmp_path_factory)


def owned_group(plan: Plan, writer: dict[str, Any], name: str) -> dict[str, Any]:
    """The stack's log group ``name`` in ``writer``'s region, checked: retention, the region's
    KMS key, and ``writer`` depends on it (so it exists before anything is written)."""
    groups = [
        g for g in plan.of_type(LOG_GROUP) if g["region"] == writer["region"] and g["id"] == name
    ]
    assert len(groups) == 1, f"{writer['name']} writes to {name!r}, which the stack does not own"
    (group,) = groups
    assert group["inputs"]["retentionInDays"] > 0, group["name"]
    keys = {k["id"] for k in plan.of_type("aws:kms/key:Key") if k["region"] == writer["region"]}
    key_arn = str(group["inputs"].get("kmsKeyId", ""))
    assert key_arn.startswith(f"arn:aws:kms:{writer['region']}:"), group["name"]
    assert key_arn.rsplit("key/", 1)[-1] in keys, group["name"]
    assert group["urn"] in writer["dependencies"], (writer["name"], group["name"])
    return group


def group_of_arn(arn: str) -> str:
    """The log group name in a log group ARN (``...:log-group:<name>[:*]``)."""
    return arn.split(":log-group:", 1)[1].removesuffix(":*")


def test_batch_jobs_log_to_their_own_group_never_to_aws_batch_job(stack_plan: Plan) -> None:
    """Without ``awslogs-group`` AWS Batch logs to ``/aws/batch/job`` (AWS Batch User Guide,
    "Use the awslogs log driver"), a group nobody owns."""
    definitions = stack_plan.of_type(DEFINITION)
    assert definitions
    for definition in definitions:
        options = json.loads(definition["inputs"]["containerProperties"])["logConfiguration"]
        assert options["logDriver"] == "awslogs"
        name = options["options"]["awslogs-group"]
        assert name != "/aws/batch/job"
        owned_group(stack_plan, definition, name)


def test_flow_logs_write_to_an_owned_group(stack_plan: Plan) -> None:
    flow_logs = stack_plan.of_type(FLOW_LOG)
    assert flow_logs
    for flow_log in flow_logs:
        assert flow_log["inputs"]["logDestinationType"] == "cloud-watch-logs"
        owned_group(stack_plan, flow_log, group_of_arn(flow_log["inputs"]["logDestination"]))


def test_instance_pool_agents_write_to_an_owned_group(stack_plan: Plan) -> None:
    """The CloudWatch agent ships the startup logs to the group named in the user data; the
    launch template (and so every instance) exists only after it."""
    templates = stack_plan.of_type(LAUNCH_TEMPLATE)
    assert templates
    for template in templates:
        groups = [
            g
            for g in stack_plan.of_type(LOG_GROUP)
            if g["region"] == template["region"] and g["urn"] in template["dependencies"]
        ]
        assert len(groups) == 1
        owned_group(stack_plan, template, groups[0]["id"])


def test_airflow_writes_to_the_groups_it_would_create_which_the_stack_owns(
    airflow_plan: Plan,
) -> None:
    (environment,) = airflow_plan.of_type(MWAA)
    name = environment["inputs"]["name"]
    logging = environment["inputs"]["loggingConfiguration"]
    assert {k for k, v in logging.items() if v["enabled"]} == set(MWAA_GROUPS)
    for suffix in MWAA_GROUPS.values():
        owned_group(airflow_plan, environment, f"airflow-{name}-{suffix}")


def test_no_waf_logs_to_a_group_of_its_own_making(stack_plan: Plan) -> None:
    """WAF logs only to groups named ``aws-waf-logs-*``; the platform has no web ACL today,
    and any that logs must log to an owned group of that name."""
    for logging in stack_plan.of_type(WAF_LOGGING):
        for arn in logging["inputs"]["logDestinationConfigs"]:
            name = group_of_arn(arn)
            assert name.startswith("aws-waf-logs-")
            owned_group(stack_plan, logging, name)
