"""Managed Apache Airflow (MWAA): the environment, its DAG bucket, log groups, security group
and a least-privilege execution role, only reachable from inside the VPC.

:class:`Airflow` is optional in :class:`~components.jobs.region.Jobs`; the execution role's
permissions and trust policy are plain functions with plain tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.buckets import SecureBucket, SecureBucketArgs
from components.checks import raise_problems
from components.iam import CONFUSED_DEPUTY_KEYS, Statement, policy_document
from components.jobs.validators import key_input_problems
from components.kms import ExistingKey, KeyInput, RegionKey, as_key
from components.monitoring import LOG_RETENTION_DAYS

MWAA_ENVIRONMENT_CLASSES = (
    "mw1.micro",
    "mw1.small",
    "mw1.medium",
    "mw1.large",
    "mw1.xlarge",
    "mw1.2xlarge",
)
#: The modules MWAA logs, and the suffix of each one's log group (``airflow-<env>-<suffix>``),
#: named as MWAA names the groups it would otherwise create itself, without retention or our
#: key (MWAA User Guide, "Viewing Airflow logs in Amazon CloudWatch" for the suffixes,
#: "Troubleshooting: CloudWatch Logs and CloudTrail errors" for ``airflow-{environmentName}-Task``;
#: MWAA API Reference, ModuleLoggingConfiguration: ``log-group:airflow-...-DAGProcessing``).
MWAA_LOG_MODULES: Mapping[str, str] = {
    "dag_processing_logs": "DAGProcessing",
    "scheduler_logs": "Scheduler",
    "task_logs": "Task",
    "webserver_logs": "WebServer",
    "worker_logs": "Worker",
}
MWAA_SERVICES = ("airflow.amazonaws.com", "airflow-env.amazonaws.com")
#: Prefix of the DAG bucket's server access logs in their log bucket.
AIRFLOW_DAGS_LOG_PREFIX = "airflow-dags"
_MWAA_NAME_RE = re.compile(r"^[a-zA-Z][0-9a-zA-Z_-]{0,79}$")


@dataclass(frozen=True)
class AirflowArgs:
    """Arguments of :class:`Airflow`."""

    environment_name: str
    """The MWAA environment's name, e.g. ``mlops-prod-airflow`` (its log groups are
    ``airflow-<name>-*``)."""
    key: KeyInput
    """The region key, or the ARN of an existing KMS key (its key policy must let CloudWatch
    Logs, S3 and SQS in this region and the Airflow environment use it, as AWS documents for
    MWAA with a customer managed key): encrypts the environment, its DAG bucket and log
    groups."""
    vpc_id: pulumi.Input[str]
    """The VPC of the environment."""
    subnet_ids: Sequence[pulumi.Input[str]]
    """Exactly two private subnets in different AZs (MWAA's requirement)."""
    access_log_bucket: pulumi.Input[str] | None = None
    """Default: the DAG bucket gets its own server-access-log bucket. When given (e.g. the
    data lake's log bucket), logs go there under ``airflow-dags/``; its policy must accept
    them (``DataLake.accept_access_logs``)."""
    environment_class: str = "mw1.small"
    """Default: mw1.small (up to about 400 DAGs)."""
    airflow_version: str = "2.10.3"
    """Default: Apache Airflow 2.10.3."""
    max_workers: int = 2
    """Default: at most two workers (one always runs)."""
    log_retention_days: int = 30
    """Default: Airflow logs are kept 30 days."""
    force_destroy: bool = False
    """Default: the DAG bucket cannot be deleted while it holds objects. When true
    (ephemeral stacks), it is emptied and deleted with the stack."""
    protect: bool = False
    """Default: unprotected. When true, the DAG bucket and log groups are protected."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: no extra tags beyond ``Name``."""

    def problems(self) -> list[str]:
        out = []
        if not _MWAA_NAME_RE.match(self.environment_name):
            out.append(
                f"environment_name: {self.environment_name!r} must be 1-80 letters, digits, '-' or '_', starting with a letter"
            )
        out += key_input_problems(self.key)
        if self.environment_class not in MWAA_ENVIRONMENT_CLASSES:
            out.append(
                f"environment_class: {self.environment_class!r} is not one of {list(MWAA_ENVIRONMENT_CLASSES)}"
            )
        if len(self.subnet_ids) != 2:
            out.append(
                f"subnet_ids: MWAA needs exactly two private subnets, got {len(self.subnet_ids)}"
            )
        if (
            isinstance(self.max_workers, bool)
            or not isinstance(self.max_workers, int)
            or not 1 <= self.max_workers <= 25
        ):
            out.append(f"max_workers: {self.max_workers!r} must be 1 to 25")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            out.append(
                f"log_retention_days: {self.log_retention_days!r} is not a CloudWatch Logs retention"
            )
        if self.force_destroy and self.protect:
            out.append("Only one of [force_destroy] and [protect] can be given")
        return out


def airflow_execution_statements(
    *,
    partition: str,
    region: str,
    account_id: str,
    environment_name: str,
    dag_bucket_arn: str,
    key_arn: str,
) -> list[Statement]:
    """The MWAA execution role's permissions, as AWS documents them for a customer managed
    key, with the wildcard actions spelled out: report health, read the DAG bucket, write
    its own log groups, use its own Celery queues, use the key only through SQS and S3."""
    logs = f"arn:{partition}:logs:{region}:{account_id}:log-group:airflow-{environment_name}-*"
    return [
        Statement(
            sid="PublishEnvironmentHealth",
            actions=("airflow:PublishMetrics",),
            resources=[
                f"arn:{partition}:airflow:{region}:{account_id}:environment/{environment_name}"
            ],
        ),
        Statement(
            sid="ReadDagBucket",
            actions=(
                "s3:GetBucketLocation",
                "s3:GetBucketPublicAccessBlock",
                "s3:GetBucketVersioning",
                "s3:GetEncryptionConfiguration",
                "s3:ListBucket",
                "s3:ListBucketVersions",
            ),
            resources=[dag_bucket_arn],
        ),
        Statement(
            sid="ReadDags",
            actions=("s3:GetObject", "s3:GetObjectVersion"),
            resources=[f"{dag_bucket_arn}/*"],
        ),
        Statement(
            sid="WriteOwnLogGroups",
            actions=(
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:GetLogEvents",
                "logs:GetLogGroupFields",
            ),
            resources=[logs, f"{logs}:log-stream:*"],
        ),
        Statement(sid="FindLogGroups", actions=("logs:DescribeLogGroups",), resources=["*"]),
        Statement(
            sid="PublishAirflowMetrics",
            actions=("cloudwatch:PutMetricData",),
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": "AmazonMWAA"}},
        ),
        Statement(
            sid="UseCeleryQueues",
            actions=(
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
                "sqs:SendMessage",
            ),
            resources=[f"arn:{partition}:sqs:{region}:*:airflow-celery-*"],
        ),
        Statement(
            sid="UseKeyThroughSqsAndS3",
            actions=("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"),
            resources=[key_arn],
            conditions={
                "StringEquals": {
                    "kms:ViaService": [f"sqs.{region}.amazonaws.com", f"s3.{region}.amazonaws.com"]
                }
            },
        ),
    ]


def airflow_trust_policy(account_id: str, environment_arn: str) -> dict[str, Any]:
    """Both MWAA principals may assume the role, only for this environment of this account
    (one statement per principal)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": service},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": environment_arn},
                },
            }
            for service in MWAA_SERVICES
        ],
    }


class Airflow(pulumi.ComponentResource):
    """Managed Apache Airflow (MWAA) with DAGs in a locked-down bucket, private web server."""

    def __init__(
        self, name: str, args: AirflowArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = args.problems()
        raise_problems(f"Airflow {name!r}", problems)
        assert all(s in CONFUSED_DEPUTY_KEYS for s in MWAA_SERVICES)
        key = as_key(args.key, "key")
        super().__init__("mlops:jobs:Airflow", name, None, opts)
        #: The resolved key (an existing key ARN becomes an object offering the same ``arn``).
        self.key: RegionKey | ExistingKey = key
        invoke = pulumi.InvokeOptions(parent=self)
        self._account = aws.get_caller_identity_output(opts=invoke).account_id
        self._partition = aws.get_partition_output(opts=invoke).partition
        self._region = aws.get_region_output(opts=invoke).region

        self._buckets(name, args, self._account)
        self._log_groups(name, args)
        self._security_group(name, args)
        self._execution_role(name, args)
        self._environment(name, args)
        self.arn = self.environment.arn
        self.register_outputs({"arn": self.environment.arn, "dag_bucket": self.dag_bucket.name})

    def _log_groups(self, name: str, args: AirflowArgs) -> None:
        """One encrypted log group per Airflow module, named as MWAA names them, so that MWAA
        writes to the stack's groups (retention, key, tags, deleted with the stack) instead of
        creating its own; the environment is created after them."""
        keep = pulumi.ResourceOptions(
            parent=self, protect=args.protect, retain_on_delete=args.protect
        )
        self.log_groups = {
            module: aws.cloudwatch.LogGroup(
                f"{name}-{suffix.lower()}-logs",
                name=f"airflow-{args.environment_name}-{suffix}",
                retention_in_days=args.log_retention_days,
                kms_key_id=self.key.arn,
                tags={"Name": f"{name}-{suffix.lower()}-logs", **args.tags},
                opts=keep,
            )
            for module, suffix in MWAA_LOG_MODULES.items()
        }

    def _security_group(self, name: str, args: AirflowArgs) -> None:
        """Airflow's components reach each other (web server, metadata database); HTTPS out."""
        child = pulumi.ResourceOptions(parent=self)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=f"{args.environment_name}: Airflow components talk to each other; HTTPS out",
            tags={"Name": f"{name}-sg", **args.tags},
            opts=child,
        )
        sg = self.security_group.id
        self.security_group_rules = [
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-in-{port}",
                security_group_id=sg,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                referenced_security_group_id=sg,
                description=f"Airflow components reach each other on {port} ({what})",
                opts=child,
            )
            for port, what in ((443, "web server"), (5432, "metadata database"))
        ] + [
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-out-5432",
                security_group_id=sg,
                ip_protocol="tcp",
                from_port=5432,
                to_port=5432,
                referenced_security_group_id=sg,
                description="Airflow components reach the metadata database",
                opts=child,
            ),
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-out-https",
                security_group_id=sg,
                ip_protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_ipv4="0.0.0.0/0",
                description="Airflow calls AWS APIs (S3, SQS, logs) over HTTPS via NAT or endpoints",
                opts=child,
            ),
        ]

    def _execution_role(self, name: str, args: AirflowArgs) -> None:
        """The role only this environment of this account may assume, and its permissions."""
        child = pulumi.ResourceOptions(parent=self)
        partition, region, account = self._partition, self._region, self._account
        environment_arn = pulumi.Output.format(
            "arn:{0}:airflow:{1}:{2}:environment/{3}",
            partition,
            region,
            account,
            args.environment_name,
        )
        trust: pulumi.Output[str] = pulumi.Output.all(account, environment_arn).apply(
            lambda v: pulumi.Output.json_dumps(airflow_trust_policy(v[0], v[1]))
        )
        self.execution_role = aws.iam.Role(
            f"{name}-execution-role",
            description=f"{args.environment_name}: what the Airflow environment may do",
            assume_role_policy=trust,
            tags={"Name": f"{name}-execution-role", **args.tags},
            opts=child,
        )
        permissions: pulumi.Output[str] = pulumi.Output.all(
            partition, region, account, self.dag_bucket.arn, self.key.arn
        ).apply(
            lambda v: policy_document(
                airflow_execution_statements(
                    partition=v[0],
                    region=v[1],
                    account_id=v[2],
                    environment_name=args.environment_name,
                    dag_bucket_arn=v[3],
                    key_arn=v[4],
                )
            )
        )
        self.execution_policy = aws.iam.RolePolicy(
            f"{name}-execution",
            role=self.execution_role.id,
            policy=permissions,
            opts=child,
        )

    def _environment(self, name: str, args: AirflowArgs) -> None:
        """The MWAA environment: private web server, DAGs from the bucket, every module logged."""
        # One entry per module (the SDK's TypedDict cannot be typed from a loop, hence Any).
        logging: Any = {
            module: {"enabled": True, "log_level": "INFO"} for module in MWAA_LOG_MODULES
        }
        self.environment = aws.mwaa.Environment(
            f"{name}-environment",
            name=args.environment_name,
            airflow_version=args.airflow_version,
            environment_class=args.environment_class,
            max_workers=args.max_workers,
            min_workers=1,
            execution_role_arn=self.execution_role.arn,
            kms_key=self.key.arn,
            source_bucket_arn=self.dag_bucket.arn,
            dag_s3_path="dags/",
            webserver_access_mode="PRIVATE_ONLY",
            network_configuration=aws.mwaa.EnvironmentNetworkConfigurationArgs(
                security_group_ids=[self.security_group.id], subnet_ids=list(args.subnet_ids)
            ),
            logging_configuration=logging,
            tags={"Name": f"{name}-environment", **args.tags},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.execution_policy, *self.log_groups.values()]
            ),
        )

    def _buckets(self, name: str, args: AirflowArgs, account: pulumi.Output[str]) -> None:
        """The DAG bucket (the environment's key), logging to ``access_log_bucket`` when given,
        else to a log bucket of its own that accepts only the DAG bucket's access logs."""
        child = pulumi.ResourceOptions(parent=self)
        self.access_log_bucket: SecureBucket | None = None
        log_bucket_name = args.access_log_bucket
        dag_bucket_arn: pulumi.Output[str]
        resolve_dag_bucket_arn: Callable[[pulumi.Output[str]], None]
        dag_bucket_arn, resolve_dag_bucket_arn = pulumi.deferred_output()
        if log_bucket_name is None:
            log_bucket_arn: pulumi.Output[str]
            resolve_log_bucket_arn: Callable[[pulumi.Output[str]], None]
            log_bucket_arn, resolve_log_bucket_arn = pulumi.deferred_output()
            self.access_log_bucket = SecureBucket(
                f"{name}-access-logs",
                SecureBucketArgs(
                    key=None,
                    purpose="airflow-access-logs",
                    sse_s3_for_log_delivery=True,
                    expiration_days=90,
                    force_destroy=args.force_destroy,
                    protect=args.protect,
                    extra_policy_statements=[
                        {
                            "Sid": "S3ServerAccessLogsForDagBucket",
                            "Effect": "Allow",
                            "Principal": {"Service": "logging.s3.amazonaws.com"},
                            "Action": "s3:PutObject",
                            "Resource": pulumi.Output.concat(
                                log_bucket_arn, f"/{AIRFLOW_DAGS_LOG_PREFIX}/*"
                            ),
                            "Condition": {
                                "ArnLike": {"aws:SourceArn": dag_bucket_arn},
                                "StringEquals": {"aws:SourceAccount": account},
                            },
                        }
                    ],
                    tags=dict(args.tags),
                ),
                opts=child,
            )
            resolve_log_bucket_arn(self.access_log_bucket.arn)
            log_bucket_name = self.access_log_bucket.name
        self.dag_bucket = SecureBucket(
            f"{name}-dags",
            SecureBucketArgs(
                key=self.key,
                purpose="airflow-dags",
                access_log_bucket=log_bucket_name,
                access_log_prefix=f"{AIRFLOW_DAGS_LOG_PREFIX}/",
                force_destroy=args.force_destroy,
                protect=args.protect,
                tags=dict(args.tags),
            ),
            opts=child,
        )
        resolve_dag_bucket_arn(self.dag_bucket.arn)
