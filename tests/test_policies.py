"""The policy pack: every rule passes a compliant stack and fails its mutations, exceptions
become reported exemptions, the plan loader and the report, and the CrossGuard adapter."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
)
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policies import crossguard
from policies.check import PlanError, check, format_report, load_plan
from policies.model import UNKNOWN, Options, Resource, Stack, Violation
from policies.rules import (
    CIS_METRIC_FILTERS,
    EXCEPTIONS,
    LAMBDA_RUNTIME_DEPRECATION,
    RESOURCE_STAR_ALLOWED,
    RULES,
    RULES_BY_ID,
    Rule,
    is_protected_stack,
    looks_like_secret,
    runtime_supported,
)
from policies.rules.registry import in_order

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
REGION = "eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1111-2222"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
LB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/web/abc"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/predictions"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:drift-dlq"
TRAIL_GROUP = "audit-trail"


# ---------------------------------------------------------------------------------------------
# Building stacks.


def res(
    rtype: str,
    name: str,
    props: dict[str, Any] | None = None,
    *,
    rid: str | None = None,
    deps: Sequence[str] = (),
    protect: bool = False,
    region: str | None = REGION,
) -> Resource:
    """A resource with a readable URN (`urn:...::<type>::<name>`)."""
    return Resource(
        urn=f"urn:pulumi:dev::mlops::{rtype}::{name}",
        type=rtype,
        name=name,
        props=props or {},
        id=rid,
        dependencies=tuple(deps),
        region=region,
        options=Options(protect=protect),
    )


def doc(*statements: dict[str, Any]) -> str:
    """A policy document as the JSON string the plan records."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def tls_deny(bucket: str) -> str:
    """A bucket policy denying non-TLS access."""
    return doc(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )


def bucket_set(
    logical: str,
    name: str,
    *,
    sse: str = "aws:kms",
    log_target: str | None = "mlops-dev-access-logs",
) -> list[Resource]:
    """A bucket and its configuration resources, each referring to it by name."""
    sse_default: dict[str, Any] = {"sseAlgorithm": sse}
    if sse == "aws:kms":
        sse_default["kmsMasterKeyId"] = KEY_ARN
    items = [
        res("aws:s3/bucket:Bucket", logical, {"bucket": name}, rid=name),
        res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            f"{logical}-pab",
            {
                "bucket": name,
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
        ),
        res(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            f"{logical}-ownership",
            {"bucket": name, "rule": {"objectOwnership": "BucketOwnerEnforced"}},
        ),
        res(
            "aws:s3/bucketPolicy:BucketPolicy",
            f"{logical}-policy",
            {"bucket": name, "policy": tls_deny(name)},
        ),
        res(
            "aws:s3/bucketServerSideEncryptionConfiguration:"
            "BucketServerSideEncryptionConfiguration",
            f"{logical}-sse",
            {
                "bucket": name,
                "rules": [
                    {"applyServerSideEncryptionByDefault": sse_default, "bucketKeyEnabled": True}
                ],
            },
        ),
        res(
            "aws:s3/bucketVersioning:BucketVersioning",
            f"{logical}-versioning",
            {"bucket": name, "versioningConfiguration": {"status": "Enabled"}},
        ),
        res(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            f"{logical}-lifecycle",
            {
                "bucket": name,
                "rules": [
                    {
                        "id": "expire-noncurrent",
                        "status": "Enabled",
                        "noncurrentVersionExpiration": {"noncurrentDays": 30},
                    }
                ],
            },
        ),
    ]
    if log_target:
        items.append(
            res(
                "aws:s3/bucketLogging:BucketLogging",
                f"{logical}-logging",
                {"bucket": name, "targetBucket": log_target, "targetPrefix": f"{name}/"},
            )
        )
    return items


def container_definitions(**overrides: Any) -> str:
    """The web service's container definitions (JSON string), with `overrides` applied."""
    container = {
        "name": "web",
        "image": "web:1",
        "essential": True,
        "readonlyRootFilesystem": True,
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web"}},
        "environment": [
            {"name": "TABLE_NAME", "value": "predictions"},
            {"name": "DB_PASSWORD_SECRET_ARN", "value": "arn:aws:secretsmanager:x"},
            {"name": "KMS_KEY_ID", "value": KEY_ARN},
        ],
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:x"}],
    }
    container.update(overrides)
    return json.dumps([container])


def cis_resources() -> list[Resource]:
    """One metric filter on the trail's log group and one alarm per CIS category."""
    items: list[Resource] = []
    for cis in CIS_METRIC_FILTERS.values():
        items.append(
            res(
                "aws:cloudwatch/logMetricFilter:LogMetricFilter",
                f"cis-{cis.id}",
                {
                    "logGroupName": TRAIL_GROUP,
                    "pattern": cis.pattern,
                    "metricTransformation": {
                        "name": cis.id,
                        "namespace": "CISBenchmark",
                        "value": "1",
                    },
                },
            )
        )
        items.append(
            res(
                "aws:cloudwatch/metricAlarm:MetricAlarm",
                f"cis-{cis.id}-alarm",
                {
                    "metricName": cis.id,
                    "namespace": "CISBenchmark",
                    "threshold": 1,
                    "alarmActions": [TOPIC_ARN],
                },
            )
        )
    return items


def compliant_stack() -> list[Resource]:
    """A small platform where every rule passes (a few violations are recorded exceptions)."""
    fn_role_policy = doc(
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": ["arn:aws:s3:::mlops-dev-lake/curated/*"],
        },
        {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": TABLE_ARN},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": KEY_ARN},
        {"Effect": "Allow", "Action": ["ec2:DescribeNetworkInterfaces"], "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )
    key_policy = doc(
        {
            "Sid": "Root",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Principal": {"Service": "logs.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:*"
                }
            },
        },
    )
    trust = doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    )
    topic_policy = doc(
        {
            "Sid": "AlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": TOPIC_ARN,
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        },
        {
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": TOPIC_ARN,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    )
    return [
        res("pulumi:pulumi:Stack", "mlops-dev", region=None),
        res(
            "pulumi:providers:aws",
            "aws-eu-west-1",
            {"region": REGION, "defaultTags": json.dumps({"tags": {"environment": "dev"}})},
        ),
        res(
            "aws:kms/key:Key",
            "key",
            {"enableKeyRotation": True, "policy": key_policy},
            rid="1111-2222",
        ),
        # network
        res("aws:ec2/vpc:Vpc", "vpc", {"cidrBlock": "10.0.0.0/16"}, rid="vpc-1"),
        res(
            "aws:ec2/flowLog:FlowLog",
            "vpc-flow-log",
            {"vpcId": "vpc-1", "trafficType": "ALL", "logDestination": "arn:aws:logs:x"},
        ),
        res(
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
            "vpc-default-sg",
            {"vpcId": "vpc-1"},
        ),
        res(
            "aws:ec2/subnet:Subnet",
            "private-a",
            {"vpcId": "vpc-1", "availabilityZone": f"{REGION}a"},
            rid="subnet-a",
        ),
        res(
            "aws:ec2/subnet:Subnet",
            "private-b",
            {"vpcId": "vpc-1", "availabilityZone": f"{REGION}b"},
            rid="subnet-b",
        ),
        res(
            "aws:ec2/subnet:Subnet",
            "private-a2",
            {"vpcId": "vpc-1", "availabilityZone": f"{REGION}a"},
            rid="subnet-a2",
        ),
        res(
            "aws:ec2/subnet:Subnet",
            "public-a",
            {"vpcId": "vpc-1", "availabilityZone": f"{REGION}a", "mapPublicIpOnLaunch": False},
            rid="subnet-pa",
        ),
        res(
            "aws:ec2/securityGroup:SecurityGroup",
            "lb-sg",
            {
                "vpcId": "vpc-1",
                "description": "Load balancer: HTTP(S) from the internet",
                "ingress": [
                    {
                        "protocol": "tcp",
                        "fromPort": 443,
                        "toPort": 443,
                        "cidrBlocks": ["0.0.0.0/0"],
                        "ipv6CidrBlocks": ["::/0"],
                        "description": "HTTPS from anywhere",
                    },
                    {
                        "protocol": "tcp",
                        "fromPort": 80,
                        "toPort": 80,
                        "cidrBlocks": ["0.0.0.0/0"],
                        "description": "HTTP, redirected to HTTPS",
                    },
                ],
                "egress": [
                    {
                        "protocol": "tcp",
                        "fromPort": 8080,
                        "toPort": 8080,
                        "cidrBlocks": ["10.0.0.0/16"],
                        "description": "to the service",
                    }
                ],
            },
            rid="sg-lb",
        ),
        res(
            "aws:ec2/securityGroup:SecurityGroup",
            "app-sg",
            {"vpcId": "vpc-1", "description": "Web service tasks"},
            rid="sg-app",
        ),
        res(
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "app-from-lb",
            {
                "securityGroupId": "sg-app",
                "referencedSecurityGroupId": "sg-lb",
                "ipProtocol": "tcp",
                "fromPort": 8080,
                "toPort": 8080,
                "description": "from the load balancer",
            },
        ),
        res(
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
            "app-https-out",
            {
                "securityGroupId": "sg-app",
                "cidrIpv4": "0.0.0.0/0",
                "ipProtocol": "tcp",
                "fromPort": 443,
                "toPort": 443,
                "description": "AWS APIs over HTTPS",
            },
        ),
        res(
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            "app-self",
            {
                "type": "ingress",
                "securityGroupId": "sg-app",
                "self": True,
                "protocol": "tcp",
                "fromPort": 2049,
                "toPort": 2049,
                "description": "NFS between tasks",
            },
        ),
        # load balancer
        res(
            "aws:lb/loadBalancer:LoadBalancer",
            "web-alb",
            {
                "loadBalancerType": "application",
                "securityGroups": ["sg-lb"],
                "subnets": ["subnet-pa"],
                "dropInvalidHeaderFields": True,
                "desyncMitigationMode": "defensive",
                "enableDeletionProtection": False,
                "accessLogs": {"enabled": True, "bucket": "mlops-dev-alb-logs"},
            },
            rid=LB_ARN,
        ),
        res(
            "aws:lb/listener:Listener",
            "web-https",
            {
                "loadBalancerArn": LB_ARN,
                "port": 443,
                "protocol": "HTTPS",
                "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "certificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/c",
                "defaultActions": [{"type": "forward", "targetGroupArn": "tg"}],
            },
        ),
        res(
            "aws:lb/listener:Listener",
            "web-http",
            {
                "loadBalancerArn": LB_ARN,
                "port": 80,
                "protocol": "HTTP",
                "defaultActions": [
                    {
                        "type": "redirect",
                        "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
                    }
                ],
            },
        ),
        # compute
        res(
            "aws:ec2/launchTemplate:LaunchTemplate",
            "pool-lt",
            {
                "metadataOptions": {"httpTokens": "required", "httpEndpoint": "enabled"},
                "blockDeviceMappings": [
                    {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "kmsKeyId": KEY_ARN}}
                ],
                "networkInterfaces": [{"associatePublicIpAddress": "false"}],
            },
            rid="lt-1",
        ),
        res(
            "aws:autoscaling/group:Group",
            "pool-asg",
            {
                "vpcZoneIdentifiers": ["subnet-a", "subnet-b"],
                "targetGroupArns": ["tg"],
                "healthCheckType": "ELB",
                "mixedInstancesPolicy": {
                    "launchTemplate": {
                        "launchTemplateSpecification": {"launchTemplateId": "lt-1"},
                        "overrides": [{"instanceType": "t3.large"}, {"instanceType": "m5.large"}],
                    }
                },
            },
        ),
        # identity
        res("aws:iam/role:Role", "fn-role", {"assumeRolePolicy": trust}, rid="fn-role"),
        res(
            "aws:iam/rolePolicy:RolePolicy",
            "fn-role-policy",
            {"role": "fn-role", "policy": fn_role_policy},
        ),
        res(
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            "fn-role-ssm",
            {
                "role": "fn-role",
                "policyArn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
            },
        ),
        # serverless
        res("aws:sqs/queue:Queue", "drift-dlq", {"kmsMasterKeyId": KEY_ARN}, rid=QUEUE_ARN),
        res(
            "aws:lambda/function:Function",
            "drift",
            {
                "name": "drift-detector",
                "runtime": "python3.13",
                "role": "fn-role",
                "vpcConfig": {
                    "subnetIds": ["subnet-a", "subnet-b"],
                    "securityGroupIds": ["sg-app"],
                },
                "deadLetterConfig": {"targetArn": QUEUE_ARN},
                "loggingConfig": {"logFormat": "JSON", "logGroup": "/aws/lambda/drift-detector"},
            },
            rid="drift-detector",
        ),
        res(
            "aws:cloudwatch/logGroup:LogGroup",
            "drift-logs",
            {"name": "/aws/lambda/drift-detector", "retentionInDays": 30, "kmsKeyId": KEY_ARN},
            rid="/aws/lambda/drift-detector",
        ),
        res(
            "aws:lambda/permission:Permission",
            "drift-from-s3",
            {
                "function": "drift-detector",
                "action": "lambda:InvokeFunction",
                "principal": "s3.amazonaws.com",
                "sourceArn": "arn:aws:s3:::mlops-dev-lake",
                "sourceAccount": ACCOUNT,
            },
        ),
        # shared drive
        res(
            "aws:efs/fileSystem:FileSystem",
            "home",
            {"encrypted": True, "kmsKeyId": KEY_ARN},
            rid="fs-1",
        ),
        res(
            "aws:efs/backupPolicy:BackupPolicy",
            "home-backup",
            {"fileSystemId": "fs-1", "backupPolicy": {"status": "ENABLED"}},
        ),
        res(
            "aws:efs/accessPoint:AccessPoint",
            "home-ap",
            {
                "fileSystemId": "fs-1",
                "rootDirectory": {"path": "/home"},
                "posixUser": {"uid": 1000, "gid": 1000},
            },
        ),
        # containers
        res(
            "aws:ecr/repository:Repository",
            "web-repo",
            {
                "name": "web",
                "imageTagMutability": "IMMUTABLE",
                "imageScanningConfiguration": {"scanOnPush": True},
                "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY_ARN}],
            },
            rid="web",
        ),
        res(
            "aws:ecr/lifecyclePolicy:LifecyclePolicy",
            "web-repo-lifecycle",
            {"repository": "web", "policy": json.dumps({"rules": []})},
        ),
        res(
            "aws:ecs/cluster:Cluster",
            "cluster",
            {"settings": [{"name": "containerInsights", "value": "enhanced"}]},
        ),
        res(
            "aws:ecs/taskDefinition:TaskDefinition",
            "web-task",
            {"family": "web", "containerDefinitions": container_definitions()},
        ),
        res(
            "aws:ecs/service:Service",
            "web-service",
            {
                "platformVersion": "LATEST",
                "launchType": "FARGATE",
                "networkConfiguration": {"assignPublicIp": False, "subnets": ["subnet-a"]},
            },
        ),
        # storage
        *bucket_set("lake", "mlops-dev-lake"),
        *bucket_set("access-logs", "mlops-dev-access-logs", sse="AES256", log_target=None),
        *bucket_set("alb-logs", "mlops-dev-alb-logs", sse="AES256"),
        res(
            "aws:dynamodb/table:Table",
            "predictions",
            {
                "billingMode": "PAY_PER_REQUEST",
                "pointInTimeRecovery": {"enabled": True},
                "serverSideEncryption": {"enabled": True, "kmsKeyArn": KEY_ARN},
                "deletionProtectionEnabled": False,
            },
            rid="predictions",
        ),
        # alerting and audit
        res("aws:sns/topic:Topic", "alerts", {"kmsMasterKeyId": KEY_ARN}, rid="alerts"),
        res(
            "aws:sns/topicPolicy:TopicPolicy",
            "alerts-policy",
            {"arn": TOPIC_ARN, "policy": topic_policy},
        ),
        res(
            "aws:cloudwatch/logGroup:LogGroup",
            "trail-logs",
            {"name": TRAIL_GROUP, "retentionInDays": 365, "kmsKeyId": KEY_ARN},
            rid=TRAIL_GROUP,
        ),
        res(
            "aws:cloudtrail/trail:Trail",
            "trail",
            {
                "isMultiRegionTrail": True,
                "includeGlobalServiceEvents": True,
                "enableLogFileValidation": True,
                "kmsKeyId": KEY_ARN,
                "s3BucketName": "mlops-dev-lake",
                "cloudWatchLogsGroupArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:"
                f"{TRAIL_GROUP}:*",
                "cloudWatchLogsRoleArn": f"arn:aws:iam::{ACCOUNT}:role/trail-to-logs",
                "eventSelectors": [
                    {
                        "readWriteType": "All",
                        "includeManagementEvents": True,
                        "dataResources": [
                            {"type": "AWS::S3::Object", "values": ["arn:aws:s3:::mlops-dev-lake/"]}
                        ],
                    }
                ],
            },
        ),
        *cis_resources(),
    ]


# Mutations: functions from a stack to a changed copy.

Mutation = Callable[[list[Resource]], list[Resource]]


def _find(stack: list[Resource], name: str) -> int:
    matches = [i for i, r in enumerate(stack) if r.name == name]
    assert len(matches) == 1, f"test bug: {len(matches)} resources named {name}"
    return matches[0]


def set_props(name: str, **updates: Any) -> Mutation:
    """Replace top-level properties of resource `name` (None removes the property)."""

    def mutate(stack: list[Resource]) -> list[Resource]:
        i = _find(stack, name)
        props = dict(stack[i].props)
        for key, value in updates.items():
            if value is None:
                props.pop(key, None)
            else:
                props[key] = value
        return stack[:i] + [dataclasses.replace(stack[i], props=props)] + stack[i + 1 :]

    return mutate


def drop(name: str) -> Mutation:
    """Remove resource `name`."""

    def mutate(stack: list[Resource]) -> list[Resource]:
        i = _find(stack, name)
        return stack[:i] + stack[i + 1 :]

    return mutate


def add(*resources: Resource) -> Mutation:
    """Append resources."""
    return lambda stack: stack + list(resources)


def protect(name: str) -> Mutation:
    """Give resource `name` the protect option (makes the stack protected)."""

    def mutate(stack: list[Resource]) -> list[Resource]:
        i = _find(stack, name)
        return (
            stack[:i]
            + [dataclasses.replace(stack[i], options=Options(protect=True))]
            + stack[i + 1 :]
        )

    return mutate


def both(*mutations: Mutation) -> Mutation:
    """Apply mutations in order."""

    def mutate(stack: list[Resource]) -> list[Resource]:
        for m in mutations:
            stack = m(stack)
        return stack

    return mutate


# ---------------------------------------------------------------------------------------------
# The compliant stack passes; each rule's failing cases.

COMPLIANT_EXEMPTIONS = {
    ("alb-listener-https", "web-http"),
    ("s3-sse-kms", "access-logs"),
    ("s3-sse-kms", "alb-logs"),
    ("s3-access-logging", "access-logs"),
}


def test_an_ephemeral_file_system_with_backups_disabled_is_a_recorded_exemption() -> None:
    stack = set_props("home-backup", backupPolicy={"status": "DISABLED"})(compliant_stack())
    result = check(stack)
    assert not [v for v in result.violations if v.rule == "efs-backup-policy"]
    assert [e.exception for e in result.exemptions if e.violation.rule == "efs-backup-policy"] == [
        "ephemeral-file-system-without-backups"
    ]


def test_compliant_stack_has_no_violations_only_the_recorded_exemptions() -> None:
    result = check(compliant_stack())
    assert result.violations == (), format_report(result)
    assert {
        (e.violation.rule, e.violation.urn.rsplit("::", 1)[1]) for e in result.exemptions
    } == COMPLIANT_EXEMPTIONS
    assert result.passed and result.exit_code == 0


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_passes_an_empty_stack(rule: Rule) -> None:
    assert rule.function([]) == []


LONG_POLICY_STATEMENT = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}

FAILING: list[tuple[str, Mutation, str]] = [
    # VPC
    ("vpc-flow-logs", drop("vpc-flow-log"), "no aws:ec2/flowLog:FlowLog"),
    ("vpc-flow-logs", set_props("vpc-flow-log", trafficType="REJECT"), "expected 'ALL'"),
    ("vpc-default-sg-closed", drop("vpc-default-sg"), "default security group is not managed"),
    (
        "vpc-default-sg-closed",
        set_props("vpc-default-sg", ingress=[{"protocol": "-1", "self": True}]),
        "ingress has 1 rule(s)",
    ),
    (
        "vpc-subnet-no-public-ip",
        set_props("public-a", mapPublicIpOnLaunch=True),
        "mapPublicIpOnLaunch is true",
    ),
    # security groups
    (
        "sg-open-ingress",
        add(
            res(
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                "app-open",
                {
                    "securityGroupId": "sg-app",
                    "cidrIpv4": "0.0.0.0/0",
                    "ipProtocol": "tcp",
                    "fromPort": 443,
                    "toPort": 443,
                    "description": "public",
                },
            )
        ),
        "into a security group no load balancer uses",
    ),
    (
        "sg-open-ingress",
        set_props(
            "lb-sg",
            ingress=[
                {
                    "protocol": "-1",
                    "fromPort": 0,
                    "toPort": 0,
                    "ipv6CidrBlocks": ["::/0"],
                    "description": "all",
                }
            ],
        ),
        "open ingress is allowed only on TCP 80 or TCP 443",
    ),
    (
        "sg-open-ingress",
        set_props(
            "lb-sg",
            ingress=[
                {
                    "protocol": "tcp",
                    "fromPort": 80,
                    "toPort": 443,
                    "cidrBlocks": ["0.0.0.0/0"],
                    "description": "range",
                }
            ],
        ),
        "ports 80-443",
    ),
    (
        "sg-descriptions",
        set_props("app-sg", description="Managed by Pulumi"),
        "description is 'Managed by Pulumi'",
    ),
    (
        "sg-descriptions",
        set_props("app-from-lb", description=None),
        "ingress rule has no description",
    ),
    (
        "sg-descriptions",
        set_props(
            "lb-sg",
            egress=[
                {"protocol": "tcp", "fromPort": 8080, "toPort": 8080, "cidrBlocks": ["10.0.0.0/16"]}
            ],
        ),
        "egress[0] egress rule has no description",
    ),
    (
        "ec2-no-ssh",
        add(
            res(
                "aws:ec2/securityGroupRule:SecurityGroupRule",
                "app-ssh",
                {
                    "type": "ingress",
                    "securityGroupId": "sg-app",
                    "protocol": "tcp",
                    "fromPort": 22,
                    "toPort": 22,
                    "cidrBlocks": ["10.0.0.0/8"],
                    "description": "ssh",
                },
            )
        ),
        "admits TCP port 22",
    ),
    ("ec2-no-ssh", set_props("pool-lt", keyName="ops"), "keyName is 'ops'"),
    # compute
    (
        "ec2-imdsv2",
        set_props("pool-lt", metadataOptions={"httpTokens": "optional"}),
        "metadataOptions.httpTokens is 'optional'; expected 'required'",
    ),
    (
        "ec2-imdsv2",
        set_props("pool-lt", metadataOptions=None),
        "metadataOptions.httpTokens is not set",
    ),
    (
        "ec2-ebs-encrypted",
        set_props(
            "pool-lt",
            blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}],
        ),
        "blockDeviceMappings[0].ebs.encrypted is 'false'; expected true",
    ),
    (
        "ec2-ebs-encrypted",
        set_props(
            "pool-lt", blockDeviceMappings=[{"deviceName": "/dev/xvda", "ebs": {"encrypted": True}}]
        ),
        "kmsKeyId is not set",
    ),
    ("ec2-ebs-encrypted", set_props("pool-lt", blockDeviceMappings=None), "declares no EBS volume"),
    (
        "ec2-ebs-encrypted",
        add(res("aws:ebs/volume:Volume", "scratch", {"availabilityZone": f"{REGION}a", "size": 8})),
        "encrypted is not set; expected true",
    ),
    (
        "ec2-no-public-ip",
        set_props("pool-lt", networkInterfaces=[{"associatePublicIpAddress": "true"}]),
        "networkInterfaces[0].associatePublicIpAddress is true",
    ),
    (
        "ec2-no-public-ip",
        add(
            res(
                "aws:ec2/instance:Instance",
                "bastion",
                {
                    "associatePublicIpAddress": True,
                    "metadataOptions": {"httpTokens": "required"},
                    "rootBlockDevice": {"encrypted": True, "kmsKeyId": KEY_ARN},
                },
            )
        ),
        "associatePublicIpAddress is true",
    ),
    (
        "asg-multi-az",
        set_props("pool-asg", vpcZoneIdentifiers=["subnet-a"]),
        "covers 1 availability zone(s)",
    ),
    (
        "asg-multi-az",
        set_props("pool-asg", vpcZoneIdentifiers=["subnet-a", "subnet-a2"]),
        "covers 1 availability zone(s)",
    ),
    (
        "asg-mixed-instance-types",
        set_props(
            "pool-asg",
            mixedInstancesPolicy={
                "launchTemplate": {
                    "overrides": [{"instanceType": "t3.large"}, {"instanceType": "t3.large"}]
                }
            },
        ),
        "lists 1 instance type(s)",
    ),
    (
        "asg-elb-health-check",
        set_props("pool-asg", healthCheckType="EC2"),
        "healthCheckType is 'EC2'; expected 'ELB'",
    ),
    # IAM / KMS
    ("iam-policy-json", set_props("fn-role-policy", policy="{not json"), "not valid JSON"),
    ("iam-policy-json", set_props("fn-role-policy", policy="[1, 2]"), "expected a JSON object"),
    (
        "iam-no-wildcard-action",
        set_props(
            "fn-role-policy",
            policy=doc({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}),
        ),
        "wildcard action(s) s3:*",
    ),
    (
        "iam-no-wildcard-action",
        set_props(
            "fn-role-policy",
            policy=doc({"Effect": "Allow", "Action": ["*"], "Resource": "arn:aws:s3:::b/*"}),
        ),
        "wildcard action(s) *",
    ),
    (
        "iam-no-wildcard-action",
        set_props(
            "fn-role",
            inlinePolicies=[
                {
                    "name": "x",
                    "policy": doc(
                        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::b"}
                    ),
                }
            ],
        ),
        "inlinePolicies[0].policy Statement[0] uses NotAction",
    ),
    (
        "iam-resource-star",
        set_props("fn-role-policy", policy=doc(LONG_POLICY_STATEMENT)),
        'allows s3:GetObject on Resource "*"',
    ),
    (
        "iam-resource-star",
        set_props(
            "fn-role-policy",
            policy=doc(
                {
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "NotResource": "arn:aws:s3:::secret/*",
                }
            ),
        ),
        "uses NotResource",
    ),
    (
        "iam-no-decrypt-on-star",
        set_props(
            "fn-role-policy",
            policy=doc(
                {
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*",
                }
            ),
        ),
        "expected specific key ARNs",
    ),
    (
        "iam-no-decrypt-on-star",
        add(
            res(
                "aws:iam/policy:Policy",
                "decrypt-all",
                {"policy": doc({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})},
            )
        ),
        "allows kms:* on *",
    ),
    (
        "iam-no-admin-managed-policy",
        set_props("fn-role-ssm", policyArn="arn:aws:iam::aws:policy/AdministratorAccess"),
        "administrator policies grant * on *",
    ),
    (
        "resource-policy-not-public",
        set_props(
            "key",
            policy=doc(
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "kms:Decrypt",
                    "Resource": "*",
                }
            ),
        ),
        'policy Statement[0] allows Principal {"AWS": "*"}',
    ),
    (
        "resource-policy-not-public",
        set_props(
            "lake-policy",
            policy=doc(
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::mlops-dev-lake/*",
                    "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                }
            ),
        ),
        "no condition restricting the caller",
    ),
    (
        "resource-policy-not-public",
        set_props(
            "fn-role",
            assumeRolePolicy=doc(
                {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "sts:AssumeRole"}
            ),
        ),
        "assumeRolePolicy Statement[0]",
    ),
    (
        "kms-key-rotation",
        set_props("key", enableKeyRotation=False),
        "enableKeyRotation is false; expected true",
    ),
    (
        "kms-key-rotation",
        set_props("key", enableKeyRotation=None),
        "enableKeyRotation is not set; expected true",
    ),
    # Lambda
    ("lambda-runtime", set_props("drift", runtime="python3.9"), "runtime is 'python3.9'"),
    ("lambda-runtime", set_props("drift", runtime="nodejs18.x"), "expected one of"),
    (
        "lambda-no-public-permission",
        set_props("drift-from-s3", principal="*", sourceArn=None, sourceAccount=None),
        "principal is '*'",
    ),
    (
        "lambda-no-public-permission",
        set_props("drift-from-s3", sourceArn=None, sourceAccount=None),
        "principal is 's3.amazonaws.com' with no sourceArn",
    ),
    (
        "lambda-no-public-permission",
        set_props("drift-from-s3", functionUrlAuthType="NONE"),
        "function URL is public",
    ),
    (
        "lambda-vpc-multi-az",
        set_props("drift", vpcConfig={"subnetIds": ["subnet-a"], "securityGroupIds": ["sg-app"]}),
        "vpcConfig.subnetIds covers 1 availability zone(s)",
    ),
    (
        "lambda-dlq",
        set_props("drift", deadLetterConfig=None),
        "deadLetterConfig.targetArn is not set",
    ),
    (
        "lambda-log-group",
        set_props("drift", loggingConfig={"logGroup": "/aws/lambda/somewhere-else"}),
        "not a log group of this stack",
    ),
    (
        "lambda-log-group",
        both(set_props("drift", loggingConfig=None), drop("drift-logs")),
        "no log group",
    ),
    # EFS
    ("efs-encrypted", set_props("home", encrypted=False), "encrypted is false; expected true"),
    ("efs-encrypted", set_props("home", kmsKeyId=None), "kmsKeyId is not set"),
    ("efs-backup-policy", drop("home-backup"), "no aws:efs/backupPolicy"),
    # A protected (production) file system must keep its backups; ephemeral ones are exempt.
    (
        "efs-backup-policy",
        both(protect("home"), set_props("home-backup", backupPolicy={"status": "DISABLED"})),
        "status 'DISABLED'",
    ),
    (
        "efs-access-point",
        set_props("home-ap", rootDirectory={"path": "/"}),
        "rootDirectory.path is '/'",
    ),
    ("efs-access-point", set_props("home-ap", posixUser=None), "posixUser is not set"),
    # ECR
    (
        "ecr-scan-on-push",
        set_props("web-repo", imageScanningConfiguration={"scanOnPush": False}),
        "scanOnPush is false; expected true",
    ),
    (
        "ecr-immutable-tags",
        set_props("web-repo", imageTagMutability="MUTABLE"),
        "imageTagMutability is 'MUTABLE'; expected 'IMMUTABLE'",
    ),
    ("ecr-lifecycle-policy", drop("web-repo-lifecycle"), "no aws:ecr/lifecyclePolicy"),
    (
        "ecr-kms",
        set_props("web-repo", encryptionConfigurations=[{"encryptionType": "AES256"}]),
        "encryptionType 'AES256'",
    ),
    ("ecr-kms", set_props("web-repo", encryptionConfigurations=None), "encryptionType not set"),
    # ECS
    (
        "ecs-no-public-ip",
        set_props(
            "web-service", networkConfiguration={"assignPublicIp": True, "subnets": ["subnet-a"]}
        ),
        "assignPublicIp is true",
    ),
    (
        "ecs-platform-version",
        set_props("web-service", platformVersion="1.3.0"),
        "platformVersion is '1.3.0'",
    ),
    (
        "ecs-container-insights",
        set_props("cluster", settings=[{"name": "containerInsights", "value": "disabled"}]),
        "containerInsights is 'disabled'",
    ),
    ("ecs-container-insights", set_props("cluster", settings=None), "containerInsights is not set"),
    (
        "ecs-not-privileged",
        set_props("web-task", containerDefinitions=container_definitions(privileged=True)),
        "containerDefinitions[0] (web): privileged is true",
    ),
    (
        "ecs-readonly-root",
        set_props(
            "web-task", containerDefinitions=container_definitions(readonlyRootFilesystem=False)
        ),
        "readonlyRootFilesystem is false; expected true",
    ),
    (
        "ecs-container-logging",
        set_props("web-task", containerDefinitions=container_definitions(logConfiguration=None)),
        "logConfiguration.logDriver is not set",
    ),
    (
        "ecs-no-plaintext-secrets",
        set_props(
            "web-task",
            containerDefinitions=container_definitions(
                environment=[
                    {"name": "DB_PASSWORD", "value": "hunter2"},
                    {"name": "API_KEY", "value": "k"},
                ]
            ),
        ),
        "environment has DB_PASSWORD, API_KEY",
    ),
    # load balancers
    (
        "alb-drop-invalid-headers",
        set_props("web-alb", dropInvalidHeaderFields=None),
        "dropInvalidHeaderFields is not set; expected true",
    ),
    (
        "alb-desync-mitigation",
        set_props("web-alb", desyncMitigationMode="monitor"),
        "desyncMitigationMode is 'monitor'",
    ),
    (
        "lb-access-logs",
        set_props("web-alb", accessLogs={"enabled": False, "bucket": "b"}),
        "accessLogs.enabled is false",
    ),
    ("lb-access-logs", set_props("web-alb", accessLogs=None), "accessLogs.enabled is not set"),
    (
        "lb-deletion-protection",
        protect("predictions"),
        "enableDeletionProtection is false in a protected stack",
    ),
    (
        "alb-listener-https",
        set_props("web-http", defaultActions=[{"type": "forward", "targetGroupArn": "tg"}]),
        "protocol is 'HTTP' on port 80",
    ),
    (
        "alb-http-redirect",
        set_props("web-http", defaultActions=[{"type": "forward", "targetGroupArn": "tg"}]),
        "do not all redirect to HTTPS",
    ),
    (
        "alb-tls13-policy",
        set_props("web-https", sslPolicy="ELBSecurityPolicy-2016-08"),
        "sslPolicy is 'ELBSecurityPolicy-2016-08'",
    ),
    ("alb-tls13-policy", set_props("web-https", sslPolicy=None), "sslPolicy is not set"),
    # S3
    (
        "s3-public-access-block",
        drop("lake-pab"),
        "no aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock refers to this bucket",
    ),
    (
        "s3-public-access-block",
        set_props("lake-pab", restrictPublicBuckets=False),
        "restrictPublicBuckets not true",
    ),
    (
        "s3-ownership-enforced",
        set_props("lake-ownership", rule={"objectOwnership": "ObjectWriter"}),
        "objectOwnership is 'ObjectWriter'; expected 'BucketOwnerEnforced'",
    ),
    ("s3-ownership-enforced", drop("lake-ownership"), "no aws:s3/bucketOwnershipControls"),
    ("s3-tls-only", drop("lake-policy"), "no bucket policy statement denies s3:*"),
    (
        "s3-tls-only",
        set_props(
            "lake-policy",
            policy=doc(
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": ["arn:aws:s3:::mlops-dev-lake/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ),
        ),
        "on the bucket and bucket/*",
    ),
    (
        "s3-tls-only",
        set_props("lake-policy", policy=tls_deny("some-other-bucket")),
        "no bucket policy statement denies",
    ),
    (
        "s3-sse-kms",
        set_props(
            "lake-sse", rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
        ),
        "sseAlgorithm 'AES256'",
    ),
    ("s3-sse-kms", drop("access-logs-sse"), "no aws:s3/bucketServerSideEncryptionConfiguration"),
    (
        "s3-sse-kms",
        set_props(
            "lake-sse", rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]
        ),
        "kmsMasterKeyId not set",
    ),
    (
        "s3-versioning",
        set_props("lake-versioning", versioningConfiguration={"status": "Suspended"}),
        "status 'Suspended'",
    ),
    ("s3-access-logging", drop("lake-logging"), "no aws:s3/bucketLogging:BucketLogging"),
    ("s3-lifecycle", drop("lake-lifecycle"), "no aws:s3/bucketLifecycleConfiguration"),
    (
        "s3-lifecycle",
        set_props("lake-lifecycle", rules=[{"id": "x", "status": "Disabled"}]),
        "with an Enabled rule",
    ),
    # DynamoDB
    (
        "dynamodb-on-demand",
        set_props("predictions", billingMode="PROVISIONED"),
        "billingMode is 'PROVISIONED'",
    ),
    (
        "dynamodb-pitr",
        set_props("predictions", pointInTimeRecovery=None),
        "pointInTimeRecovery.enabled is not set",
    ),
    (
        "dynamodb-kms",
        set_props("predictions", serverSideEncryption={"enabled": True}),
        "kmsKeyArn not set",
    ),
    (
        "dynamodb-deletion-protection",
        set_props("aws-eu-west-1", defaultTags=json.dumps({"tags": {"Environment": "prod"}})),
        "deletionProtectionEnabled is false in a protected stack",
    ),
    # SNS
    ("sns-kms", set_props("alerts", kmsMasterKeyId=None), "kmsMasterKeyId is not set"),
    ("sns-tls-publish", drop("alerts-policy"), "denies sns:Publish"),
    # CloudTrail
    ("cloudtrail-single-trail", drop("trail"), "the stack has no aws:cloudtrail/trail:Trail"),
    (
        "cloudtrail-single-trail",
        add(res("aws:cloudtrail/trail:Trail", "trail-2", {"isMultiRegionTrail": True})),
        "the stack has 2 trails",
    ),
    (
        "cloudtrail-configuration",
        set_props("trail", isMultiRegionTrail=False),
        "isMultiRegionTrail is false; expected true",
    ),
    (
        "cloudtrail-configuration",
        set_props("trail", enableLogFileValidation=None),
        "enableLogFileValidation is not set; expected true",
    ),
    (
        "cloudtrail-configuration",
        set_props("trail", includeGlobalServiceEvents=False),
        "includeGlobalServiceEvents is false",
    ),
    ("cloudtrail-configuration", set_props("trail", kmsKeyId=None), "kmsKeyId is not set"),
    (
        "cloudtrail-configuration",
        set_props("trail", cloudWatchLogsGroupArn=None),
        "cloudWatchLogsGroupArn is not set",
    ),
    (
        "cloudtrail-management-events",
        set_props(
            "trail",
            eventSelectors=[{"readWriteType": "WriteOnly", "includeManagementEvents": True}],
        ),
        "records all management events",
    ),
    (
        "cloudtrail-s3-data-events",
        set_props("trail", eventSelectors=[{"readWriteType": "All"}]),
        "records S3 data events",
    ),
    # CloudWatch
    ("logs-retention", set_props("drift-logs", retentionInDays=None), "retentionInDays is not set"),
    ("logs-retention", set_props("drift-logs", retentionInDays=0), "retentionInDays is 0"),
    ("logs-kms", set_props("trail-logs", kmsKeyId=None), "kmsKeyId is not set"),
    ("cis-metric-filters", drop("cis-root-account-usage"), "covers CIS 'root-account-usage'"),
    (
        "cis-metric-filters",
        set_props("cis-vpc-changes", pattern="{ ($.eventName = CreateVpc) }"),
        "covers CIS 'vpc-changes'",
    ),
    (
        "cis-metric-filters",
        set_props("cis-nacl-changes", logGroupName="another-group"),
        "covers CIS 'nacl-changes'",
    ),
    (
        "cis-metric-filters",
        set_props("cis-config-changes-alarm", alarmActions=[]),
        "CIS 'config-changes' (AWS Config configuration changes) has no MetricAlarm",
    ),
]


def _case_id(case: tuple[str, Mutation, str]) -> str:
    return f"{case[0]}:{case[2][:40]}"


@pytest.mark.parametrize(
    ("rule_id", "mutation", "expected"), FAILING, ids=[_case_id(c) for c in FAILING]
)
def test_rule_fails_on_its_mutation(rule_id: str, mutation: Mutation, expected: str) -> None:
    result = check(mutation(compliant_stack()))
    messages = [v.message for v in result.violations if v.rule == rule_id]
    assert any(expected in m for m in messages), (expected, format_report(result))
    assert all(v.enforcement == "mandatory" for v in result.violations if v.rule == rule_id)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_has_a_failing_case(rule: Rule) -> None:
    assert rule.id in {case[0] for case in FAILING}


PASSING_VARIANTS: list[tuple[str, Mutation]] = [
    # A 0.0.0.0/0 rule on a group the load balancer uses, declared as a separate resource.
    (
        "sg-open-ingress",
        add(
            res(
                "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
                "lb-https-v6",
                {
                    "securityGroupId": "sg-lb",
                    "cidrIpv6": "::/0",
                    "ipProtocol": "tcp",
                    "fromPort": 443,
                    "toPort": 443,
                    "description": "HTTPS over IPv6",
                },
            )
        ),
    ),
    # A public principal restricted to the organisation is not public.
    (
        "resource-policy-not-public",
        set_props(
            "lake-policy",
            policy=doc(
                {
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "s3:GetObject",
                    "Resource": "arn:aws:s3:::mlops-dev-lake/*",
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-123"}},
                },
                json.loads(tls_deny("mlops-dev-lake"))["Statement"][0],
            ),
        ),
    ),
    # Asymmetric keys cannot rotate.
    (
        "kms-key-rotation",
        add(
            res(
                "aws:kms/key:Key",
                "signing",
                {"customerMasterKeySpec": "RSA_2048", "keyUsage": "SIGN_VERIFY"},
            )
        ),
    ),
    # An on-failure destination replaces the DLQ.
    (
        "lambda-dlq",
        both(
            set_props("drift", deadLetterConfig=None),
            add(
                res(
                    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
                    "drift-async",
                    {
                        "functionName": "drift-detector",
                        "destinationConfig": {"onFailure": {"destination": QUEUE_ARN}},
                    },
                )
            ),
        ),
    ),
    # The default log group name works without loggingConfig.
    ("lambda-log-group", set_props("drift", loggingConfig=None)),
    # Container images carry their own runtime.
    ("lambda-runtime", set_props("drift", runtime=None, packageType="Image")),
    # Without an HTTPS listener, the HTTP listener may forward (recorded exception).
    (
        "alb-listener-https",
        both(
            drop("web-https"),
            set_props("web-http", defaultActions=[{"type": "forward", "targetGroupArn": "tg"}]),
        ),
    ),
    (
        "alb-http-redirect",
        both(
            drop("web-https"),
            set_props("web-http", defaultActions=[{"type": "forward", "targetGroupArn": "tg"}]),
        ),
    ),
    # Deletion protection on in a protected stack.
    (
        "lb-deletion-protection",
        both(protect("predictions"), set_props("web-alb", enableDeletionProtection=True)),
    ),
    (
        "dynamodb-deletion-protection",
        both(protect("predictions"), set_props("predictions", deletionProtectionEnabled=True)),
    ),
    # Advanced event selectors work as well as basic ones.
    (
        "cloudtrail-s3-data-events",
        set_props(
            "trail",
            eventSelectors=None,
            advancedEventSelectors=[
                {
                    "name": "management",
                    "fieldSelectors": [{"field": "eventCategory", "equals": ["Management"]}],
                },
                {
                    "name": "lake",
                    "fieldSelectors": [
                        {"field": "eventCategory", "equals": ["Data"]},
                        {"field": "resources.type", "equals": ["AWS::S3::Object"]},
                    ],
                },
            ],
        ),
    ),
    ("cloudtrail-management-events", set_props("trail", eventSelectors=None)),
    # SSE-KMS also satisfies the log bucket (the exception is then unused).
    (
        "s3-sse-kms",
        set_props(
            "access-logs-sse",
            rules=[
                {
                    "applyServerSideEncryptionByDefault": {
                        "sseAlgorithm": "aws:kms",
                        "kmsMasterKeyId": KEY_ARN,
                    }
                }
            ],
        ),
    ),
]


@pytest.mark.parametrize(
    ("rule_id", "mutation"), PASSING_VARIANTS, ids=[c[0] for c in PASSING_VARIANTS]
)
def test_rule_passes_its_variant(rule_id: str, mutation: Mutation) -> None:
    result = check(mutation(compliant_stack()))
    assert [v for v in result.violations if v.rule == rule_id] == [], format_report(result)


# ---------------------------------------------------------------------------------------------
# Unknown values (CrossGuard during preview) are never reported.


def test_unknown_values_are_not_reported() -> None:
    stack = both(
        set_props("pool-lt", metadataOptions={"httpTokens": UNKNOWN}),
        set_props("lake-policy", policy=UNKNOWN),
        set_props("key", enableKeyRotation=UNKNOWN),
        set_props("drift", runtime=UNKNOWN),
        set_props("predictions", billingMode=UNKNOWN),
    )(compliant_stack())
    assert check(stack).violations == ()


def test_unknown_reference_resolves_through_property_dependencies() -> None:
    bucket = res("aws:s3/bucket:Bucket", "b", {"bucket": "b-name"})
    other = res("aws:s3/bucket:Bucket", "other", {"bucket": "other-name"})
    pab = dataclasses.replace(
        res(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "b-pab",
            {"bucket": UNKNOWN, "blockPublicAcls": False},
        ),
        dependencies=(bucket.urn, other.urn),
        property_dependencies={"bucket": (bucket.urn,)},
    )
    stack = Stack([bucket, other, pab])
    assert stack.refers(pab, "bucket", UNKNOWN, [bucket, other]) == [bucket]
    violations = RULES_BY_ID["s3-public-access-block"].function(stack)
    assert {(v.urn, "blockPublicAcls" in v.message) for v in violations} == {
        (bucket.urn, True),
        (other.urn, False),
    }


def test_reference_by_arn_respects_the_region() -> None:
    topic_eu = res("aws:sns/topic:Topic", "alerts-eu", rid="alerts", region="eu-west-1")
    topic_us = res("aws:sns/topic:Topic", "alerts-us", rid="alerts", region="us-east-1")
    policy = res(
        "aws:sns/topicPolicy:TopicPolicy",
        "p",
        {"arn": f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"},
        region=None,
    )
    stack = Stack([topic_eu, topic_us, policy])
    assert stack.refers(policy, "arn", policy.props["arn"], [topic_eu, topic_us]) == [topic_us]


def test_reference_falls_back_to_the_single_dependency() -> None:
    lb = res("aws:lb/loadBalancer:LoadBalancer", "lb", rid="id-123")
    listener = res(
        "aws:lb/listener:Listener",
        "l",
        {"loadBalancerArn": "arn:aws:elasticloadbalancing:x:y:loadbalancer/app/n/1"},
        deps=(lb.urn,),
    )
    assert Stack([lb, listener]).refers(
        listener, "loadBalancerArn", listener.props["loadBalancerArn"], [lb]
    ) == [lb]


# ---------------------------------------------------------------------------------------------
# Pure helpers and registries.


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True),
        ("API_KEY", True),
        ("GITHUB_TOKEN", True),
        ("CLIENT_SECRET", True),
        ("dbPassword", True),
        ("PRIVATEKEY", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("DB_PASSWORD_SECRET_ARN", False),
        ("KMS_KEY_ID", False),
        ("TOKEN_URL", False),
        ("TABLE_NAME", False),
        ("S3_KEY_PREFIX", False),
        ("MONKEY_BUSINESS", False),
        ("LOG_LEVEL", False),
    ],
)
def test_looks_like_secret(name: str, secret: bool) -> None:
    assert looks_like_secret(name) is secret


def test_runtime_support_follows_the_deprecation_dates() -> None:
    assert runtime_supported("python3.12", date(2026, 1, 1))
    assert not runtime_supported("python3.11", date(2026, 6, 30))
    assert runtime_supported("python3.11", date(2026, 6, 29))
    assert not runtime_supported("python3.9", date(2020, 1, 1))
    assert all(
        r.startswith(("python3.", "nodejs", "provided.")) for r in LAMBDA_RUNTIME_DEPRECATION
    )


def test_cis_filters_match_their_canonical_pattern_and_reject_partial_ones() -> None:
    for cis in CIS_METRIC_FILTERS.values():
        assert cis.matches(cis.pattern)
        assert cis.required_terms
    routes = CIS_METRIC_FILTERS["route-table-changes"]
    assert not routes.matches("{ ($.eventName = CreateRouteTable) }")  # CreateRoute is a word
    assert set(CIS_METRIC_FILTERS) >= {
        "root-account-usage",
        "unauthorized-api-calls",
        "console-login-without-mfa",
        "iam-policy-changes",
        "cloudtrail-changes",
        "console-auth-failures",
        "cmk-disable-or-deletion",
        "s3-bucket-policy-changes",
        "config-changes",
        "security-group-changes",
        "nacl-changes",
        "network-gateway-changes",
        "route-table-changes",
        "vpc-changes",
    }


def test_resource_star_allow_list_holds_only_actions_without_resource_level_permissions() -> None:
    """Checked against parliament's copy of the AWS service authorization reference."""
    import parliament

    definition = json.loads(
        (Path(parliament.__file__).parent / "iam_definition.json").read_text(encoding="utf-8")
    )
    services = {s["prefix"]: s for s in definition}
    for action, reason in RESOURCE_STAR_ALLOWED.items():
        assert reason.strip(), action
        prefix, name = action.split(":")
        privileges = {p["privilege"]: p for p in services[prefix]["privileges"]}
        assert name in privileges, action
        kinds = {r["resource_type"] for r in privileges[name]["resource_types"]}
        assert kinds == {""}, f"{action} supports resource types {kinds}"


def test_registries_are_consistent() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(r.enforcement in ("mandatory", "advisory") and r.description for r in RULES)
    names = [e.name for e in EXCEPTIONS]
    assert len(names) == len(set(names))
    for exception in EXCEPTIONS:
        assert exception.rule in RULES_BY_ID, exception.name
        assert len(exception.reason) > 20


def test_rule_order_must_name_every_registered_rule_once() -> None:
    ids = [r.id for r in RULES]
    assert in_order(ids) == RULES
    assert all(r.function.__module__.startswith("policies.rules.") for r in RULES)
    for wrong in (ids[1:], [*ids, "no-such-rule"], [*ids, ids[0]]):
        with pytest.raises(RuntimeError, match="rule order out of date"):
            in_order(wrong)


def test_a_crashing_rule_is_a_violation_naming_its_module() -> None:
    def crash(resources: Sequence[Resource] | Stack) -> list[Violation]:
        raise KeyError("boom")

    crash.__module__ = "policies.rules.network"
    result = check(compliant_stack(), rules=[Rule("crash", "Crashes.", "mandatory", crash)])
    [violation] = result.mandatory
    assert violation.rule == "crash"
    assert "KeyError" in violation.message
    assert "This is a bug in policies/rules/network.py" in violation.how_to_fix


def test_protected_stack_detection() -> None:
    base = compliant_stack()
    assert not is_protected_stack(base)
    assert is_protected_stack(protect("predictions")(base))
    assert is_protected_stack(set_props("predictions", tags={"stage": "production"})(base))
    assert not is_protected_stack(set_props("predictions", tags={"stage": "dev"})(base))


# ---------------------------------------------------------------------------------------------
# Exceptions, the check result and the report.


def test_exceptions_need_their_condition_not_just_the_rule() -> None:
    # The access-log bucket without any encryption is not covered by the SSE-S3 exception.
    result = check(drop("access-logs-sse")(compliant_stack()))
    assert [v.urn.rsplit("::", 1)[1] for v in result.violations] == ["access-logs"]
    assert not result.passed


def test_check_without_exceptions_reports_the_exempted_violations() -> None:
    result = check(compliant_stack(), exceptions=())
    assert {(v.rule, v.urn.rsplit("::", 1)[1]) for v in result.violations} == COMPLIANT_EXEMPTIONS
    assert result.exemptions == ()


def test_advisory_violations_do_not_fail_the_check() -> None:
    advisory = Rule(
        "test-advisory",
        "Buckets are named with a team prefix.",
        "advisory",
        lambda resources: [
            Violation(r.urn, r.type, "test-advisory", "no prefix", "rename", "advisory")
            for r in resources
            if r.type == "aws:s3/bucket:Bucket"
        ],
    )
    result = check(compliant_stack(), rules=[advisory])
    assert len(result.advisory) == 3 and result.mandatory == ()
    assert result.passed and result.exit_code == 0
    assert "[advisory] test-advisory: Buckets are named" in format_report(result)


def test_a_crashing_rule_becomes_a_mandatory_violation() -> None:
    def broken(resources: Sequence[Resource]) -> list[Violation]:
        raise KeyError("shape")

    result = check(compliant_stack(), rules=[Rule("broken", "Broken rule.", "mandatory", broken)])
    (violation,) = result.violations
    assert violation.rule == "broken" and "KeyError" in violation.message
    assert violation.urn == "urn:pulumi:dev::mlops::pulumi:pulumi:Stack::mlops-dev"
    assert result.exit_code == 1


def test_report_lists_each_violation_with_resource_rule_problem_and_fix() -> None:
    stack = both(
        set_props("lake-versioning", versioningConfiguration={"status": "Suspended"}),
        set_props("web-repo", imageTagMutability="MUTABLE"),
    )(compliant_stack())
    result = check(stack)
    report = format_report(result)
    assert report.startswith(
        "policy check FAILED: 2 mandatory and 0 advisory violation(s), "
        f"4 exemption(s); {len(stack)} resources, {len(RULES)} rules\n"
    )
    assert (
        "[mandatory] ecr-immutable-tags: ECR repositories have immutable tags.\n"
        "  resource: urn:pulumi:dev::mlops::aws:ecr/repository:Repository::web-repo "
        "(aws:ecr/repository:Repository)\n"
        "  problem:  imageTagMutability is 'MUTABLE'; expected 'IMMUTABLE'\n"
        "  fix:      Set image_tag_mutability='IMMUTABLE'"
    ) in report
    assert "[mandatory] s3-versioning: Buckets have versioning enabled." in report
    assert report.index("ecr-immutable-tags") < report.index("s3-versioning")
    assert "exemptions (recorded in policies/rules/exceptions.py EXCEPTIONS):" in report
    assert "waived by http-redirect-listener: The port-80 listener only redirects" in report
    assert result.exit_code == 1


def test_report_of_a_passing_check() -> None:
    report = format_report(check(compliant_stack()))
    assert report.startswith("policy check PASSED: 0 mandatory and 0 advisory violation(s)")
    assert "[mandatory]" not in report


# ---------------------------------------------------------------------------------------------
# Loading the offline plan.


def plan_resource(**overrides: Any) -> dict[str, Any]:
    """One plan resource in the mlops-plan/1 format."""
    record: dict[str, Any] = {
        "urn": "urn:pulumi:dev::mlops::aws:s3/bucket:Bucket::lake",
        "type": "aws:s3/bucket:Bucket",
        "name": "lake",
        "id": "lake-1234",
        "custom": True,
        "region": REGION,
        "provider": "urn:pulumi:dev::mlops::pulumi:providers:aws::aws-eu-west-1",
        "parent": "urn:pulumi:dev::mlops::pulumi:pulumi:Stack::mlops-dev",
        "dependencies": ["urn:pulumi:dev::mlops::aws:kms/key:Key::key"],
        "inputs": {"bucket": "lake-1234", "forceDestroy": True},
        "options": {
            "protect": True,
            "ignoreChanges": ["tags"],
            "retainOnDelete": True,
            "deleteBeforeReplace": False,
        },
    }
    record.update(overrides)
    return record


def plan(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": "mlops-plan/1",
        "project": "mlops",
        "stack": "dev",
        "outputs": {},
        "resources": list(resources),
    }


def test_load_plan_converts_every_field(tmp_path: Path) -> None:
    path = tmp_path / "dev.plan.json"
    path.write_text(json.dumps(plan(plan_resource())), encoding="utf-8")
    (resource,) = load_plan(path)
    assert resource == Resource(
        urn="urn:pulumi:dev::mlops::aws:s3/bucket:Bucket::lake",
        type="aws:s3/bucket:Bucket",
        name="lake",
        props={"bucket": "lake-1234", "forceDestroy": True},
        region=REGION,
        options=Options(
            protect=True,
            ignore_changes=("tags",),
            retain_on_delete=True,
            delete_before_replace=False,
        ),
        parent="urn:pulumi:dev::mlops::pulumi:pulumi:Stack::mlops-dev",
        provider="urn:pulumi:dev::mlops::pulumi:providers:aws::aws-eu-west-1",
        dependencies=("urn:pulumi:dev::mlops::aws:kms/key:Key::key",),
        id="lake-1234",
    )
    assert load_plan(str(path)) == load_plan(json.loads(path.read_text()))


def test_load_plan_reports_every_problem_by_key() -> None:
    bad = plan(
        plan_resource(type=""),
        plan_resource(urn="urn:x", inputs=[1], options={"protect": "yes"}),
        plan_resource(urn="urn:y", dependencies="urn:x"),
        plan_resource(),
        plan_resource(),
        "not a resource",
    )
    bad["format"] = "mlops-plan/0"
    with pytest.raises(PlanError) as info:
        load_plan(bad)
    assert info.value.problems == [
        "format: expected 'mlops-plan/1', got \"mlops-plan/0\"",
        'resources[0].type: expected a non-empty string, got ""',
        "resources[1].inputs: expected an object, got [1]",
        'resources[1].options.protect: expected true or false, got "yes"',
        "resources[2].dependencies: expected a list of URN strings",
        "resources[4].urn: duplicate of resources[3] "
        "(urn:pulumi:dev::mlops::aws:s3/bucket:Bucket::lake)",
        "resources[5]: expected an object, got str",
    ]
    assert "resources[1].inputs" in str(info.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "file not found"),
        ("{oops", "not valid JSON: Expecting property name enclosed in double quotes at line 1"),
        ("[]", "expected a JSON object at the top level, got list"),
        ('{"format": "mlops-plan/1"}', "resources: expected a list of resources"),
    ],
)
def test_load_plan_rejects_unreadable_files(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(PlanError) as info:
        load_plan(path)
    assert info.value.problems[-1].startswith(problem)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------------------------
# CrossGuard adapter (no policy server: PolicyResource objects are built by hand).

PROVIDER = PolicyProviderResource(
    "pulumi:providers:aws",
    unknown_checking_proxy({"region": "us-east-1"}),
    "urn:pulumi:dev::mlops::pulumi:providers:aws::aws-us-east-1",
    "aws-us-east-1",
)


def policy_resource(
    rtype: str,
    name: str,
    props: dict[str, Any],
    *,
    protect: bool = False,
    parent: PolicyResource | None = None,
    dependencies: Sequence[PolicyResource] = (),
    property_dependencies: dict[str, list[PolicyResource]] | None = None,
) -> PolicyResource:
    """A PolicyResource as CrossGuard's AnalyzeStack builds it (props behind the proxy)."""
    opts = PolicyResourceOptions(
        protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent.urn if parent else None
    )
    return PolicyResource(
        rtype,
        unknown_checking_proxy(props),
        f"urn:pulumi:dev::mlops::{rtype}::{name}",
        name,
        opts,
        PROVIDER,
        parent,
        list(dependencies),
        property_dependencies or {},
    )


def run_policy(rule_id: str, resources: list[PolicyResource]) -> list[tuple[str, str | None]]:
    """Run the CrossGuard policy for `rule_id`; return the reported (message, urn) pairs."""
    (policy,) = [p for p in crossguard.build_policies() if p.name == rule_id]
    reported: list[tuple[str, str | None]] = []
    policy.validate(StackValidationArgs(resources), lambda m, u=None: reported.append((m, u)))
    return reported


def test_plain_unwraps_proxies_and_marks_unknowns() -> None:
    proxied = unknown_checking_proxy(
        {"a": {"b": [UNKNOWN_STRING_VALUE, "x"]}, "c": UNKNOWN_BOOLEAN_VALUE, "d": 3}
    )
    assert crossguard.plain(proxied) == {"a": {"b": [UNKNOWN, "x"]}, "c": UNKNOWN, "d": 3}


def test_to_resource_maps_region_parent_dependencies_and_options() -> None:
    stack_res = policy_resource("pulumi:pulumi:Stack", "mlops-dev", {})
    key = policy_resource("aws:kms/key:Key", "key", {"id": "k-1"})
    bucket = policy_resource(
        "aws:s3/bucket:Bucket",
        "lake",
        {"bucket": "lake", "id": "lake"},
        protect=True,
        parent=stack_res,
        dependencies=[key],
        property_dependencies={"kmsKey": [key]},
    )
    resource = crossguard.to_resource(bucket)
    assert resource.region == "us-east-1"
    assert resource.parent == stack_res.urn and resource.provider == PROVIDER.urn
    assert resource.dependencies == (key.urn,)
    assert resource.property_dependencies == {"kmsKey": (key.urn,)}
    assert resource.options.protect and resource.id == "lake"
    own_region = policy_resource("aws:s3/bucket:Bucket", "eu", {"region": "eu-west-1"})
    assert crossguard.to_resource(own_region).region == "eu-west-1"


def test_crossguard_policies_mirror_the_rules() -> None:
    policies = crossguard.build_policies()
    assert [p.name for p in policies] == [r.id for r in RULES]
    assert {p.enforcement_level for p in policies} == {EnforcementLevel.MANDATORY}


def test_crossguard_reports_violations_with_urn_and_fix_during_preview() -> None:
    # During preview the bucket id is unknown; the PAB's reference resolves through its
    # property dependency.
    bucket = policy_resource(
        "aws:s3/bucket:Bucket", "lake", {"bucket": "lake-1234", "id": UNKNOWN_STRING_VALUE}
    )
    pab_ok = policy_resource(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "pab",
        {
            "bucket": UNKNOWN_STRING_VALUE,
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        },
        dependencies=[bucket],
        property_dependencies={"bucket": [bucket]},
    )
    assert run_policy("s3-public-access-block", [bucket, pab_ok]) == []
    pab_bad = policy_resource(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "pab",
        {
            "bucket": UNKNOWN_STRING_VALUE,
            "blockPublicAcls": True,
            "blockPublicPolicy": False,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": UNKNOWN_BOOLEAN_VALUE,
        },
        dependencies=[bucket],
        property_dependencies={"bucket": [bucket]},
    )
    ((message, urn),) = run_policy("s3-public-access-block", [bucket, pab_bad])
    assert urn == bucket.urn
    assert message.startswith("public access block has blockPublicPolicy not true")
    assert "\nFix: Set block_public_policy=True on the BucketPublicAccessBlock." in message


def test_crossguard_does_not_report_exempted_violations() -> None:
    lb = policy_resource("aws:lb/loadBalancer:LoadBalancer", "alb", {"id": "lb-1"})
    https = policy_resource(
        "aws:lb/listener:Listener",
        "https",
        {
            "loadBalancerArn": "lb-1",
            "protocol": "HTTPS",
            "port": 443,
            "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        },
    )
    redirect = policy_resource(
        "aws:lb/listener:Listener",
        "http",
        {
            "loadBalancerArn": "lb-1",
            "protocol": "HTTP",
            "port": 80,
            "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTPS"}}],
        },
    )
    assert run_policy("alb-listener-https", [lb, https, redirect]) == []
    forward = policy_resource(
        "aws:lb/listener:Listener",
        "http",
        {
            "loadBalancerArn": "lb-1",
            "protocol": "HTTP",
            "port": 80,
            "defaultActions": [{"type": "forward"}],
        },
    )
    reported = run_policy("alb-listener-https", [lb, https, forward])
    assert [u for _, u in reported] == [forward.urn]


def test_crossguard_reports_stack_level_violations_without_urn() -> None:
    provider = policy_resource("pulumi:providers:aws", "aws", {"region": "us-east-1"})
    ((message, urn),) = run_policy("cloudtrail-single-trail", [provider])
    assert urn is None and "no aws:cloudtrail/trail:Trail" in message


@pytest.mark.subprocess
def test_pack_entry_point_imports_from_any_directory_without_starting_a_server(
    tmp_path: Path,
) -> None:
    """The CLI runs policies/__main__.py with the pack directory on sys.path."""
    code = (
        "import runpy, sys; g = runpy.run_path(sys.argv[1], run_name='probe'); "
        "print(g['PACK_NAME'], len(g['build_policies']()))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "policies")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [crossguard.PACK_NAME, str(len(RULES))]
    yaml_text = (ROOT / "policies" / "PulumiPolicy.yaml").read_text(encoding="utf-8")
    assert "runtime: python" in yaml_text
