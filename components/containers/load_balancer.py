"""The service's entry: an internet-facing application load balancer, its access-log bucket,
its target group and listeners, and the security groups of the load balancer and the tasks.

The load balancer sits in public subnets (invalid headers dropped, defensive desync
mitigation, access logs to a locked-down bucket, optional deletion protection). With a
certificate it serves HTTPS with a TLS 1.3 policy and port 80 redirects; otherwise one plain
HTTP listener (``<name>-http``, tagged ``listener=http-without-certificate``; recorded in the
policy pack's exceptions). Only the load balancer is reachable from the internet, and the
tasks only from the load balancer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.buckets import SecureBucket, SecureBucketArgs
from components.containers.args import ContainerServiceArgs, service_tags
from components.containers.validators import HEALTH_CHECK_TIMEOUT_SECONDS

#: Access-log delivery for Application Load Balancers, as AWS documents it ("Enable access
#: logs for your Application Load Balancer", Step 2 "Attach a policy to your S3 bucket",
#: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html):
#: in Regions available before August 2022 the bucket policy grants s3:PutObject on
#: ``bucket/prefix/AWSLogs/<account>/*`` to the Region's Elastic Load Balancing account
#: (``arn:aws:iam::<elb-account-id>:root``); in every other Region to this service principal.
#: Neither policy has conditions (aws:SourceAccount / aws:SourceArn are not documented for
#: this delivery). No dependency ships the account table (botocore has none, and
#: ``aws.elb.get_service_account`` is an invoke), so it is kept here.
ELB_LOG_DELIVERY_PRINCIPAL = "logdelivery.elasticloadbalancing.amazonaws.com"
#: The Elastic Load Balancing account of each Region available before August 2022, from the
#: same page (China: "Getting Started with AWS in China", Elastic Load Balancing,
#: https://docs.amazonaws.cn/en_us/aws/latest/userguide/elb.html). The same IDs are in the
#: provider's ``aws_elb_service_account`` table (terraform-provider-aws
#: internal/service/elb/service_account_data_source.go).
ELB_ACCOUNT_IDS: Mapping[str, str] = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-1": "027434742980",
    "us-west-2": "797873946194",
    "af-south-1": "098369216593",
    "ca-central-1": "985666609251",
    "eu-central-1": "054676820928",
    "eu-west-1": "156460612806",
    "eu-west-2": "652711504416",
    "eu-south-1": "635631232127",
    "eu-west-3": "009996457667",
    "eu-north-1": "897822967062",
    "ap-east-1": "754344448648",
    "ap-northeast-1": "582318560864",
    "ap-northeast-2": "600734575887",
    "ap-northeast-3": "383597477331",
    "ap-southeast-1": "114774131450",
    "ap-southeast-2": "783225319266",
    "ap-south-1": "718504428378",
    "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
    "us-gov-west-1": "048591011584",
    "us-gov-east-1": "190560391635",
    "cn-north-1": "638102146993",
    "cn-northwest-1": "037604701340",
}
#: Prefix of the load balancer's access logs in its log bucket.
ALB_LOG_PREFIX = "alb"
#: Tag that marks how a listener is used (``listener`` key), for readers of the plan.
LISTENER_ROLE_TAG = "listener"


def elb_log_delivery_principal(region: str, partition: str) -> dict[str, str]:
    """Who delivers application load balancer access logs in ``region`` (see
    :data:`ELB_LOG_DELIVERY_PRINCIPAL`): the Region's Elastic Load Balancing account, or the
    log delivery service principal in Regions without one."""
    account = ELB_ACCOUNT_IDS.get(region)
    if account is not None:
        return {"AWS": f"arn:{partition}:iam::{account}:root"}
    return {"Service": ELB_LOG_DELIVERY_PRINCIPAL}


def elb_log_delivery_statement(
    bucket_arn: str, account_id: str, region: str, partition: str, prefix: str = ALB_LOG_PREFIX
) -> dict[str, Any]:
    """Bucket policy statement that lets Elastic Load Balancing in ``region`` write this
    account's application load balancer access logs under ``prefix``, and nothing else: the
    policy AWS documents for the Region (:data:`ELB_LOG_DELIVERY_PRINCIPAL`)."""
    return {
        "Sid": "ElbAccessLogDelivery",
        "Effect": "Allow",
        "Principal": elb_log_delivery_principal(region, partition),
        "Action": "s3:PutObject",
        "Resource": f"{bucket_arn}/{prefix}/AWSLogs/{account_id}/*",
    }


def _late_bound() -> tuple[asyncio.Future[Any], pulumi.Output[Any]]:
    """A future to set later and an Output of the value it will be set to.

    For a value that only exists once a resource that needs it has been declared (the log
    bucket's policy names the bucket's own ARN): set the future to that Output right after
    the declaration; Outputs set into it are unwrapped (unknown stays unknown in previews).
    """
    future: asyncio.Future[Any] = asyncio.get_event_loop().create_future()
    return future, pulumi.Output.from_input(future)


# Security groups -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityGroups:
    """The load balancer's and the tasks' security groups and their rules."""

    listener_ports: tuple[int, ...]
    """The ports clients reach the load balancer on (80, and 443 with a certificate)."""
    load_balancer: aws.ec2.SecurityGroup
    tasks: aws.ec2.SecurityGroup
    rules: list[pulumi.CustomResource]
    """Every rule of both groups."""
    task_rules: list[pulumi.CustomResource]
    """The rules a task needs to start and pass its health checks: HTTPS out (image, logs,
    secrets), the container port in from the load balancer and the load balancer's way to
    it. The service waits for them."""


def security_groups(
    name: str, args: ContainerServiceArgs, parent: pulumi.Resource
) -> SecurityGroups:
    """``<name>-alb-sg`` (HTTP(S) from the internet, out to the tasks) and ``<name>-tasks-sg``
    (the container port from the load balancer, HTTPS out), each rule its own resource."""
    child = pulumi.ResourceOptions(parent=parent)
    listener_ports = (80, 443) if args.certificate_arn else (80,)
    lb_sg = aws.ec2.SecurityGroup(
        f"{name}-alb-sg",
        vpc_id=args.vpc_id,
        description=f"{name} load balancer: HTTP(S) from the internet, out to the tasks only",
        tags=service_tags(name, args, "alb-sg"),
        opts=child,
    )
    task_sg = aws.ec2.SecurityGroup(
        f"{name}-tasks-sg",
        vpc_id=args.vpc_id,
        description=f"{name} tasks: the container port from the load balancer only",
        tags=service_tags(name, args, "tasks-sg"),
        opts=child,
    )
    rules: list[pulumi.CustomResource] = [
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-alb-in-{port}",
            security_group_id=lb_sg.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            cidr_ipv4="0.0.0.0/0",
            description=f"Clients on the internet reach the load balancer on {port}",
            tags=service_tags(name, args, f"alb-in-{port}"),
            opts=child,
        )
        for port in listener_ports
    ]
    task_rules = _load_balancer_to_task_rules(name, args, lb_sg, task_sg, child)
    return SecurityGroups(listener_ports, lb_sg, task_sg, rules + task_rules, task_rules)


def _load_balancer_to_task_rules(
    name: str,
    args: ContainerServiceArgs,
    lb_sg: aws.ec2.SecurityGroup,
    task_sg: aws.ec2.SecurityGroup,
    child: pulumi.ResourceOptions,
) -> list[pulumi.CustomResource]:
    """Load balancer -> tasks on the container port (both sides), tasks -> HTTPS."""
    port = args.container_port
    return [
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-to-tasks",
            security_group_id=lb_sg.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=task_sg.id,
            description=f"The load balancer forwards to the tasks on {port}",
            tags=service_tags(name, args, "alb-to-tasks"),
            opts=child,
        ),
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-tasks-from-alb",
            security_group_id=task_sg.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=lb_sg.id,
            description=f"Only the load balancer reaches the container port {port}",
            tags=service_tags(name, args, "tasks-from-alb"),
            opts=child,
        ),
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-tasks-out-https",
            security_group_id=task_sg.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4="0.0.0.0/0",
            description="Tasks call AWS APIs (ECR, S3, logs, secrets) over HTTPS via NAT or endpoints",
            tags=service_tags(name, args, "tasks-out-https"),
            opts=child,
        ),
    ]


# Load balancer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadBalancerParts:
    """What :func:`load_balancer` created."""

    access_log_prefix: str
    """Prefix of the log bucket's own S3 server access logs in ``access_log_bucket``."""
    log_bucket: SecureBucket | None
    """The created access-log bucket; none when ``load_balancer_log_bucket`` was given."""
    load_balancer: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    https_listener: aws.lb.Listener | None
    """The HTTPS listener; none without a certificate."""
    http_listener: aws.lb.Listener
    """Port 80: redirects to HTTPS with a certificate, otherwise forwards."""

    @property
    def listeners(self) -> list[aws.lb.Listener]:
        """Every listener (HTTPS first)."""
        return [li for li in (self.https_listener, self.http_listener) if li is not None]


def load_balancer(
    name: str,
    args: ContainerServiceArgs,
    *,
    parent: pulumi.Resource,
    security_group: aws.ec2.SecurityGroup,
    account_id: pulumi.Output[str],
    region: pulumi.Output[str],
    partition: pulumi.Output[str],
) -> LoadBalancerParts:
    """The log bucket (unless an existing one is given), the load balancer, its target group
    and listeners, in that order."""
    access_log_prefix = f"{name}-alb-logs/"
    log_bucket = (
        _log_bucket(name, args, parent, access_log_prefix, account_id, region, partition)
        if args.load_balancer_log_bucket is None
        else None
    )
    alb = _application_load_balancer(name, args, parent, security_group, log_bucket)
    target_group = _target_group(name, args, parent)
    https, http = _listeners(name, args, parent, alb, target_group)
    return LoadBalancerParts(access_log_prefix, log_bucket, alb, target_group, https, http)


def _log_bucket(
    name: str,
    args: ContainerServiceArgs,
    parent: pulumi.Resource,
    access_log_prefix: str,
    account_id: pulumi.Output[str],
    region: pulumi.Output[str],
    partition: pulumi.Output[str],
) -> SecureBucket:
    """``<name>-alb-logs``: SSE-S3 (as ELB log delivery requires), writable by ELB only."""
    bucket_arn_slot, bucket_arn = _late_bound()
    delivery = pulumi.Output.all(bucket_arn, account_id, region, partition).apply(
        lambda v: elb_log_delivery_statement(v[0], v[1], v[2], v[3])
    )
    bucket = SecureBucket(
        f"{name}-alb-logs",
        SecureBucketArgs(
            key=None,
            purpose="load balancer access logs",
            sse_s3_for_log_delivery=True,
            expiration_days=args.access_log_expiration_days,
            access_log_bucket=args.access_log_bucket,
            access_log_prefix=access_log_prefix,
            force_destroy=args.force_delete,
            protect=args.protect,
            extra_policy_statements=[delivery],
            tags=args.tags,
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    bucket_arn_slot.set_result(bucket.arn)
    return bucket


def _application_load_balancer(
    name: str,
    args: ContainerServiceArgs,
    parent: pulumi.Resource,
    security_group: aws.ec2.SecurityGroup,
    log_bucket: SecureBucket | None,
) -> aws.lb.LoadBalancer:
    """``<name>-alb``: internet-facing, hardened, logging to its bucket (created or given)."""
    bucket = log_bucket.name if log_bucket is not None else args.load_balancer_log_bucket
    assert bucket is not None  # load_balancer() creates the bucket when none is given
    return aws.lb.LoadBalancer(
        f"{name}-alb",
        load_balancer_type="application",
        internal=False,
        ip_address_type="ipv4",
        subnets=list(args.public_subnet_ids),
        security_groups=[security_group.id],
        drop_invalid_header_fields=True,
        desync_mitigation_mode="defensive",
        enable_deletion_protection=args.deletion_protection,
        idle_timeout=args.idle_timeout,
        enable_http2=True,
        access_logs=aws.lb.LoadBalancerAccessLogsArgs(
            bucket=bucket, prefix=ALB_LOG_PREFIX, enabled=True
        ),
        tags=service_tags(name, args, "alb"),
        # The bucket policy must let ELB write before access logs are enabled: AWS checks
        # the bucket then ("Verify bucket permissions" on the page cited at
        # ELB_LOG_DELIVERY_PRINCIPAL; otherwise "Access Denied for bucket ... Please check
        # S3bucket permission", widdix/aws-cf-templates#349, aws/aws-cdk#21947).
        opts=pulumi.ResourceOptions(parent=parent, depends_on=_log_bucket_grants(args, log_bucket)),
    )


def _log_bucket_grants(
    args: ContainerServiceArgs, log_bucket: SecureBucket | None
) -> list[pulumi.Resource]:
    """The policy that lets ELB write to the log bucket: the created bucket's, or the one
    given with an existing bucket (``load_balancer_log_bucket_policy``), if any."""
    if log_bucket is not None:
        return [log_bucket.policy]
    policy = args.load_balancer_log_bucket_policy
    return [policy] if policy is not None else []


def _target_group(
    name: str, args: ContainerServiceArgs, parent: pulumi.Resource
) -> aws.lb.TargetGroup:
    """``<name>-tg``: the tasks' IPs, health-checked on ``health_check_path``."""
    return aws.lb.TargetGroup(
        f"{name}-tg",
        port=args.container_port,
        protocol="HTTP",
        protocol_version="HTTP1",
        target_type="ip",
        vpc_id=args.vpc_id,
        deregistration_delay=args.deregistration_delay_seconds,
        health_check=aws.lb.TargetGroupHealthCheckArgs(
            enabled=True,
            path=args.health_check_path,
            protocol="HTTP",
            port="traffic-port",
            matcher="200",
            interval=args.health_check_interval_seconds,
            timeout=HEALTH_CHECK_TIMEOUT_SECONDS,
            healthy_threshold=args.healthy_threshold,
            unhealthy_threshold=args.unhealthy_threshold,
        ),
        tags=service_tags(name, args, "tg"),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _listeners(
    name: str,
    args: ContainerServiceArgs,
    parent: pulumi.Resource,
    alb: aws.lb.LoadBalancer,
    target_group: aws.lb.TargetGroup,
) -> tuple[aws.lb.Listener | None, aws.lb.Listener]:
    """With a certificate: HTTPS on 443 and port 80 redirecting to it; otherwise plain HTTP."""
    child = pulumi.ResourceOptions(parent=parent)
    forward = [aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)]
    if not args.certificate_arn:
        return None, aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=forward,
            tags=service_tags(
                name, args, "http", **{LISTENER_ROLE_TAG: "http-without-certificate"}
            ),
            opts=child,
        )
    https = aws.lb.Listener(
        f"{name}-https",
        load_balancer_arn=alb.arn,
        port=443,
        protocol="HTTPS",
        ssl_policy=args.ssl_policy,
        certificate_arn=args.certificate_arn,
        default_actions=forward,
        tags=service_tags(name, args, "https", **{LISTENER_ROLE_TAG: "https"}),
        opts=child,
    )
    http = aws.lb.Listener(
        f"{name}-http",
        load_balancer_arn=alb.arn,
        port=80,
        protocol="HTTP",
        default_actions=[
            aws.lb.ListenerDefaultActionArgs(
                type="redirect",
                redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                    protocol="HTTPS", port="443", status_code="HTTP_301"
                ),
            )
        ],
        tags=service_tags(name, args, "http", **{LISTENER_ROLE_TAG: "redirect-to-https"}),
        opts=child,
    )
    return https, http
