"""The component: :class:`LambdaService`, one Lambda function deployed from a source
directory with everything the baseline asks for around it.

- an execution role (:class:`~components.iam.ServiceRole`) holding only the grants the
  caller gives (``grants=[table.grant_write, ...]``) plus what the function itself needs:
  writing its own log streams, sending to its dead-letter queue, and, in a VPC, managing its
  network interfaces (a scoped inline statement rather than the broad managed policy
  ``AWSLambdaVPCAccessExecutionRole``); X-Ray only when tracing is on;
- its log group ``/aws/lambda/<function name>`` (retention, KMS), created before the
  function so Lambda never creates an unencrypted one that lives forever;
- its environment variables encrypted at rest with the region key;
- a KMS-encrypted SQS dead-letter queue (:mod:`.queues`) used both as the function's DLQ
  and as the on-failure destination of its asynchronous invocations;
- alarms to the alert topic: errors, throttles, failed dead-letter deliveries and messages
  waiting in the dead-letter queue(s), and the function's dashboard widgets;
- optional placement in private subnets of at least two AZs with its own security group
  (no ingress, egress HTTPS only);
- an optional object-created trigger (:mod:`.triggers`).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.checks import present, raise_problems
from components.iam import ServiceRole, ServiceRoleArgs, Statement
from components.kms import ExistingKey, RegionKey, as_key, key_input_problem
from components.monitoring import (
    AlarmArgs,
    AlertTopic,
    ExistingAlertTopic,
    Metric,
    MetricWidget,
    Widget,
    alert_topic_input_problem,
    as_alert_topic,
    metric_alarm,
)
from components.serverless.args import LambdaServiceArgs, LambdaVpcPlacement
from components.serverless.grants import eni_statements, via_service
from components.serverless.packaging import package_files
from components.serverless.queues import dead_letter_queue, tls_only_queue_policy
from components.serverless.triggers import object_created_trigger


class LambdaService(pulumi.ComponentResource):
    """One Lambda function with its role, log group, dead-letter queue, alarms, optional VPC
    placement and optional object-created trigger (see the module docstring)."""

    def __init__(
        self, name: str, args: LambdaServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        problems = args.problems()
        problems += present(
            key_input_problem(args.key, "key"),
            alert_topic_input_problem(args.alert_topic, "alert_topic"),
        )
        raise_problems(f"LambdaService {name!r}", problems)
        key = as_key(args.key, "key")
        topic = as_alert_topic(args.alert_topic, "alert_topic")
        super().__init__("mlops:serverless:LambdaService", name, None, opts)
        self._name = name
        self._args = args
        invoke = pulumi.InvokeOptions(parent=self)
        self.account_id = aws.get_caller_identity_output(opts=invoke).account_id
        self.function_name = args.function_name
        #: The key given (a RegionKey, or an existing key used by its ARN).
        self.key: RegionKey | ExistingKey = key
        #: The alert topic given (an AlertTopic, or an existing topic used by its ARN).
        self.alert_topic: AlertTopic | ExistingAlertTopic = topic

        self._role_and_log_group()
        self._dead_letter_queue()
        self._role_policies()
        self._function()
        self._invoke_config()
        self._trigger()
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = self._alarms()
        self.register_outputs(
            {
                "function_name": self.function.name,
                "function_arn": self.function.arn,
                "role_arn": self.role.arn,
                "dead_letter_queue_url": self.dead_letter_queue.url,
            }
        )

    # --- steps --------------------------------------------------------------------------------

    def _role_and_log_group(self) -> None:
        """The execution role (no policy yet) and the function's log group."""
        args, name = self._args, self._name
        child = pulumi.ResourceOptions(parent=self)
        self.role = ServiceRole(
            f"{name}-exec",
            ServiceRoleArgs(
                service="lambda.amazonaws.com",
                description=f"Execution role of the Lambda function {args.function_name}",
                tags=dict(args.tags),
            ),
            opts=child,
        )
        # Created before the function: Lambda would otherwise create the group itself,
        # unencrypted and kept forever.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{args.function_name}",
            retention_in_days=args.log_retention_days,
            kms_key_id=self.key.arn,
            tags={"Name": f"{name}-logs", **args.tags},
            opts=child,
        )

    def _dead_letter_queue(self) -> None:
        """The function's DLQ, also the on-failure destination of asynchronous invocations.

        Lambda sends a discarded event to both, so each failure arrives twice in the queue:
        once as the raw event (message attributes give the error) and once as an invocation
        record (request, response and error). Replaying either is safe for idempotent
        handlers such as the ingest function.
        """
        logical = f"{self._name}-dlq"
        self.dead_letter_queue = dead_letter_queue(
            logical, key=self.key, tags=self._args.tags, parent=self
        )
        self.dead_letter_queue_policy = tls_only_queue_policy(
            logical, self.dead_letter_queue, parent=self
        )

    def _role_policies(self) -> None:
        """The function's own grants (logs, DLQ, ENIs in a VPC, X-Ray), then the caller's."""
        args = self._args
        policies = [self._grant_logs(), self._grant_dead_letters()]
        self.security_group: aws.ec2.SecurityGroup | None = None
        if args.vpc is not None:
            self.security_group = self._security_group(args.vpc)
            policies.append(self._grant_network_interfaces(args.vpc, self.security_group))
        if args.tracing:
            policies.append(self._grant_tracing())
        policies += [grant(self.role) for grant in args.grants]
        self.role_policies: list[aws.iam.RolePolicy] = policies

    def _function(self) -> None:
        """The function, created once its log group and every role policy exist."""
        args, name = self._args, self._name
        files = package_files(args.source_dir)
        self.code = pulumi.AssetArchive({k: pulumi.FileAsset(str(p)) for k, p in files.items()})
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            description=args.description,
            role=self.role.arn,
            runtime=args.runtime,
            handler=args.handler,
            architectures=[args.architecture],
            code=self.code,
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            reserved_concurrent_executions=(
                args.reserved_concurrency if args.reserved_concurrency is not None else -1
            ),
            environment=(
                aws.lambda_.FunctionEnvironmentArgs(variables=dict(args.environment))
                if args.environment
                else None
            ),
            # Environment variables at rest under the region key, not Lambda's AWS managed
            # key. Lambda creates a grant on the key with the deployer's kms:CreateGrant and
            # kms:Encrypt and decrypts through it; the execution role needs kms:Decrypt only
            # for client-side ("in transit") encryption, which is not used ("Securing Lambda
            # environment variables", Managing permissions to your server-side encryption KMS
            # key: https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-encryption.html).
            kms_key_arn=self.key.arn,
            dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(
                target_arn=self.dead_letter_queue.arn
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=self.log_group.name
            ),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(
                mode="Active" if args.tracing else "PassThrough"
            ),
            vpc_config=(
                aws.lambda_.FunctionVpcConfigArgs(
                    subnet_ids=list(args.vpc.subnet_ids),
                    security_group_ids=[self.security_group.id],
                )
                if args.vpc is not None and self.security_group is not None
                else None
            ),
            tags={"Name": f"{name}-function", **args.tags},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.log_group, *self.role_policies]
            ),
        )
        self.function_arn = self.function.arn

    def _invoke_config(self) -> None:
        """Asynchronous invocations: retries, maximum event age, failures to the DLQ."""
        args = self._args
        self.invoke_config = aws.lambda_.FunctionEventInvokeConfig(
            f"{self._name}-async",
            function_name=self.function.name,
            maximum_retry_attempts=args.maximum_retry_attempts,
            maximum_event_age_in_seconds=args.maximum_event_age_seconds,
            destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                    destination=self.dead_letter_queue.arn
                )
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _trigger(self) -> None:
        """The object-created trigger, when asked for (see :mod:`.triggers`)."""
        self.rule: aws.cloudwatch.EventRule | None = None
        self.delivery_dead_letter_queue: aws.sqs.Queue | None = None
        self.delivery_dead_letter_queue_policy: aws.sqs.QueuePolicy | None = None
        self.target: aws.cloudwatch.EventTarget | None = None
        self.permission: aws.lambda_.Permission | None = None
        trigger = self._args.trigger
        if trigger is None:
            return
        parts = object_created_trigger(
            self._name,
            trigger,
            parent=self,
            function=self.function,
            function_name=self.function_name,
            depends_on=[self.invoke_config],
            account_id=self.account_id,
            key=self.key,
            tags=self._args.tags,
        )
        self.rule = parts.rule
        self.delivery_dead_letter_queue = parts.delivery_dead_letter_queue
        self.delivery_dead_letter_queue_policy = parts.delivery_dead_letter_queue_policy
        self.permission = parts.permission
        self.target = parts.target

    def _security_group(self, vpc: LambdaVpcPlacement) -> aws.ec2.SecurityGroup:
        """The function's group: nothing may connect to it; it may open HTTPS connections."""
        return aws.ec2.SecurityGroup(
            f"{self._name}-sg",
            vpc_id=vpc.vpc_id,
            description=f"Lambda {self.function_name}: no inbound, HTTPS to AWS APIs only",
            ingress=[],
            egress=[
                aws.ec2.SecurityGroupEgressArgs(
                    description="HTTPS to AWS service endpoints (S3, DynamoDB, ...)",
                    protocol="tcp",
                    from_port=443,
                    to_port=443,
                    cidr_blocks=["0.0.0.0/0"],
                )
            ],
            tags={"Name": f"{self._name}-sg", **self._args.tags},
            opts=pulumi.ResourceOptions(parent=self),
        )

    # --- the function's own grants ------------------------------------------------------------

    def _grant_logs(self) -> aws.iam.RolePolicy:
        """Write log streams of the function's own log group (no CreateLogGroup: it exists)."""
        return self.role.grant(
            "write-logs",
            [
                Statement(
                    sid="WriteOwnLogStreams",
                    actions=("logs:CreateLogStream", "logs:PutLogEvents"),
                    resources=[pulumi.Output.concat(self.log_group.arn, ":log-stream:*")],
                )
            ],
        )

    def _grant_dead_letters(self) -> aws.iam.RolePolicy:
        """Send failed events to the dead-letter queue, encrypting them through SQS."""
        return self.role.grant(
            "send-dead-letters",
            [
                Statement(
                    sid="SendToDeadLetterQueue",
                    actions=("sqs:SendMessage",),
                    resources=[self.dead_letter_queue.arn],
                ),
                Statement(
                    sid="EncryptDeadLetters",
                    actions=("kms:Decrypt", "kms:GenerateDataKey"),
                    resources=[self.key.arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": self.key.context.apply(via_service("sqs"))
                        }
                    },
                ),
            ],
        )

    def _grant_network_interfaces(
        self, vpc: LambdaVpcPlacement, group: aws.ec2.SecurityGroup
    ) -> aws.iam.RolePolicy:
        """The scoped ENI statements (see :func:`eni_statements`), in the function's account
        (an existing key may belong to another) and region (the key's: it encrypts the
        function's log group, so it is in the function's region)."""
        arn_prefix = pulumi.Output.all(self.key.context, self.account_id).apply(
            lambda v: f"arn:{v[0].partition}:ec2:{v[0].region}:{v[1]}"
        )
        return self.role.grant(
            "vpc-network-interfaces", eni_statements(arn_prefix, list(vpc.subnet_ids), group.id)
        )

    def _grant_tracing(self) -> aws.iam.RolePolicy:
        """Send trace segments to X-Ray (actions without resource-level permissions)."""
        return self.role.grant(
            "xray-tracing",
            [
                Statement(
                    sid="WriteTraces",
                    actions=("xray:PutTelemetryRecords", "xray:PutTraceSegments"),
                    resources=["*"],
                )
            ],
        )

    # --- alarms and dashboard -------------------------------------------------------------------

    def _alarms(self) -> dict[str, aws.cloudwatch.MetricAlarm]:
        """Errors, throttles, failed DLQ deliveries and messages waiting in each DLQ."""
        args, name = self._args, self._name
        child = pulumi.ResourceOptions(parent=self)
        fn = {"FunctionName": self.function.name}
        specs: dict[str, AlarmArgs] = {
            "errors": AlarmArgs(
                namespace="AWS/Lambda",
                metric_name="Errors",
                dimensions=fn,
                statistic="Sum",
                threshold=args.error_alarm_threshold,
                period=args.alarm_period_seconds,
                treat_missing_data="notBreaching",
                description=(
                    f"{self.function_name}: invocations failed. Failed events are retried, then "
                    "land in the dead-letter queue; read the function's log group for the cause."
                ),
            ),
            "throttles": AlarmArgs(
                namespace="AWS/Lambda",
                metric_name="Throttles",
                dimensions=fn,
                statistic="Sum",
                threshold=args.throttle_alarm_threshold,
                period=args.alarm_period_seconds,
                treat_missing_data="notBreaching",
                description=(
                    f"{self.function_name}: invocations were throttled (reserved concurrency or "
                    "account limit reached). Raise the reservation or find the burst's source."
                ),
            ),
            "dead-letter-errors": AlarmArgs(
                namespace="AWS/Lambda",
                metric_name="DeadLetterErrors",
                dimensions=fn,
                statistic="Sum",
                threshold=1,
                period=args.alarm_period_seconds,
                treat_missing_data="notBreaching",
                description=(
                    f"{self.function_name}: failed events could not be sent to the dead-letter "
                    "queue and are lost. Check the role's SQS/KMS permissions and the queue."
                ),
            ),
            "dlq-messages": self._queue_alarm(
                self.dead_letter_queue,
                "events the function failed to process are waiting in its dead-letter queue; "
                "fix the cause, then replay or discard them",
            ),
        }
        if self.delivery_dead_letter_queue is not None:
            specs["delivery-dlq-messages"] = self._queue_alarm(
                self.delivery_dead_letter_queue,
                "EventBridge could not deliver object-created events to the function; they "
                "wait in the delivery dead-letter queue (check the Lambda permission)",
            )
        return {
            key: metric_alarm(f"{name}-{key}", spec, self.alert_topic, child)
            for key, spec in specs.items()
        }

    def _queue_alarm(self, queue: aws.sqs.Queue, what: str) -> AlarmArgs:
        return AlarmArgs(
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": queue.name},
            statistic="Maximum",
            comparison="GreaterThanThreshold",
            threshold=0,
            period=self._args.alarm_period_seconds,
            treat_missing_data="notBreaching",
            description=f"{self.function_name}: {what}.",
        )

    def widgets(self) -> list[Widget]:
        """Dashboard widgets: invocations/errors/throttles, duration, dead-letter messages."""
        fn = {"FunctionName": self.function.name}
        queues = [("function failures", self.dead_letter_queue)]
        if self.delivery_dead_letter_queue is not None:
            queues.append(("delivery failures", self.delivery_dead_letter_queue))
        return [
            MetricWidget(
                title=f"Lambda {self.function_name}: invocations",
                metrics=[
                    Metric("AWS/Lambda", metric, fn, label=metric.lower())
                    for metric in ("Invocations", "Errors", "Throttles")
                ],
                stat="Sum",
            ),
            MetricWidget(
                title=f"Lambda {self.function_name}: duration (ms)",
                metrics=[Metric("AWS/Lambda", "Duration", fn, label="duration")],
                stat="Maximum",
            ),
            MetricWidget(
                title=f"Lambda {self.function_name}: dead-letter messages",
                metrics=[
                    Metric(
                        "AWS/SQS",
                        "ApproximateNumberOfMessagesVisible",
                        {"QueueName": queue.name},
                        label=label,
                    )
                    for label, queue in queues
                ],
                stat="Maximum",
            ),
        ]
