"""The security baseline as plain rule functions (DESIGN.md, "Security baseline").

Every rule is a stack-level function `(resources) -> list[Violation]`: it may look at one
resource at a time or correlate several (a bucket and its public-access block). A rule only
fires on the resource types it is about; a stack without them passes. Values that cannot be
known yet (`UNKNOWN`, CrossGuard during preview) are never reported.

Registries, each defined once and imported by everyone who needs them:

- `RULES`: every rule with its id, description and enforcement ("mandatory" unless recorded
  otherwise).
- `EXCEPTIONS`: the only place a violation may be waived, each with its reason. The check
  reports an excepted violation as an exemption, never silently.
- The security constants the components build with (`RESOURCE_STAR_ALLOWED`,
  `CIS_METRIC_FILTERS`, `LAMBDA_RUNTIME_DEPRECATION`, `looks_like_secret`) are defined in
  `components.baseline` and re-exported here: the pack checks with what the components use.

"Protected stack" (prod-ness): a stack is protected when any resource in it has the `protect`
option, or any resource or provider carries an `environment`/`env`/`stage` tag of `prod` or
`production` (see `is_protected_stack`). Only the deletion-protection rules depend on it.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from components.baseline import (
    CIS_METRIC_FILTERS,
    LAMBDA_RUNTIME_DEPRECATION,
    RESOURCE_STAR_ALLOWED,
    CisMetricFilter,
    looks_like_secret,
    runtime_supported,
)
from policies.model import (
    AWS_PROVIDER_TYPE,
    SECRET,
    DocumentError,
    Enforcement,
    Options,
    Resource,
    Stack,
    Violation,
    as_list,
    as_mapping,
    condition_keys,
    denies_insecure_transport,
    is_allow,
    is_true,
    is_unknown,
    lower,
    parse_document,
    present,
    principal_is_everyone,
    statement_actions,
    statement_resources,
    statements,
    tags_of,
)

__all__ = [
    "CIS_METRIC_FILTERS", "EXCEPTIONS", "LAMBDA_RUNTIME_DEPRECATION", "RESOURCE_STAR_ALLOWED",
    "RULES", "RULES_BY_ID", "CisMetricFilter", "Options", "PolicyException", "Resource", "Rule",
    "Stack", "Violation", "has_https_listener", "is_protected_stack", "looks_like_secret",
    "redirects_to_https", "runtime_supported",
]

# ---------------------------------------------------------------------------------------------
# Resource type tokens (pulumi-aws 7).

VPC: Final = "aws:ec2/vpc:Vpc"
FLOW_LOG: Final = "aws:ec2/flowLog:FlowLog"
DEFAULT_SG: Final = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SUBNET: Final = "aws:ec2/subnet:Subnet"
SECURITY_GROUP: Final = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE: Final = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE: Final = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS_RULE: Final = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LAUNCH_TEMPLATE: Final = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE: Final = "aws:ec2/instance:Instance"
EBS_VOLUME: Final = "aws:ebs/volume:Volume"
ASG: Final = "aws:autoscaling/group:Group"
IAM_ROLE: Final = "aws:iam/role:Role"
IAM_ROLE_POLICY: Final = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY: Final = "aws:iam/policy:Policy"
IAM_USER_POLICY: Final = "aws:iam/userPolicy:UserPolicy"
IAM_GROUP_POLICY: Final = "aws:iam/groupPolicy:GroupPolicy"
IAM_ATTACHMENTS: Final = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
KMS_KEY: Final = "aws:kms/key:Key"
KMS_KEY_POLICY: Final = "aws:kms/keyPolicy:KeyPolicy"
LAMBDA_FUNCTION: Final = "aws:lambda/function:Function"
LAMBDA_PERMISSION: Final = "aws:lambda/permission:Permission"
LAMBDA_EVENT_INVOKE_CONFIG: Final = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
EFS_FILE_SYSTEM: Final = "aws:efs/fileSystem:FileSystem"
EFS_BACKUP_POLICY: Final = "aws:efs/backupPolicy:BackupPolicy"
EFS_ACCESS_POINT: Final = "aws:efs/accessPoint:AccessPoint"
EFS_FILE_SYSTEM_POLICY: Final = "aws:efs/fileSystemPolicy:FileSystemPolicy"
ECR_REPOSITORY: Final = "aws:ecr/repository:Repository"
ECR_LIFECYCLE_POLICY: Final = "aws:ecr/lifecyclePolicy:LifecyclePolicy"
ECR_REPOSITORY_POLICY: Final = "aws:ecr/repositoryPolicy:RepositoryPolicy"
ECS_CLUSTER: Final = "aws:ecs/cluster:Cluster"
ECS_SERVICE: Final = "aws:ecs/service:Service"
ECS_TASK_DEFINITION: Final = "aws:ecs/taskDefinition:TaskDefinition"
LOAD_BALANCERS: Final = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENERS: Final = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
BUCKETS: Final = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
BUCKET_PAB: Final = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
BUCKET_OWNERSHIP: Final = ("aws:s3/bucketOwnershipControls:BucketOwnershipControls",)
BUCKET_POLICY: Final = ("aws:s3/bucketPolicy:BucketPolicy",)
BUCKET_SSE: Final = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
BUCKET_VERSIONING: Final = (
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketVersioningV2:BucketVersioningV2",
)
BUCKET_LOGGING: Final = (
    "aws:s3/bucketLogging:BucketLogging",
    "aws:s3/bucketLoggingV2:BucketLoggingV2",
)
BUCKET_LIFECYCLE: Final = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
DYNAMODB_TABLE: Final = "aws:dynamodb/table:Table"
SNS_TOPIC: Final = "aws:sns/topic:Topic"
SNS_TOPIC_POLICY: Final = "aws:sns/topicPolicy:TopicPolicy"
SQS_QUEUE: Final = "aws:sqs/queue:Queue"
SQS_QUEUE_POLICY: Final = "aws:sqs/queuePolicy:QueuePolicy"
CLOUDTRAIL: Final = "aws:cloudtrail/trail:Trail"
LOG_GROUP: Final = "aws:cloudwatch/logGroup:LogGroup"
LOG_METRIC_FILTER: Final = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
LOG_RESOURCE_POLICY: Final = "aws:cloudwatch/logResourcePolicy:LogResourcePolicy"
METRIC_ALARM: Final = "aws:cloudwatch/metricAlarm:MetricAlarm"

# ---------------------------------------------------------------------------------------------
# Registries that other modules import.


_RESOURCE_STAR_ALLOWED_LOWER: Final = frozenset(a.lower() for a in RESOURCE_STAR_ALLOWED)


# ---------------------------------------------------------------------------------------------
# The rule registry.

Finding = tuple[Resource | None, str, str]
"""What a rule body yields: the resource (None for the stack), the message, how to fix it."""


@dataclass(frozen=True)
class Rule:
    """A registered rule: id, one-line description, enforcement level, the rule function."""

    id: str
    description: str
    enforcement: Enforcement
    function: Callable[[Sequence[Resource] | Stack], list[Violation]]


_REGISTRY: list[Rule] = []


def rule(rule_id: str, description: str, enforcement: Enforcement = "mandatory"
         ) -> Callable[[Callable[[Stack], Iterable[Finding]]],
                       Callable[[Sequence[Resource] | Stack], list[Violation]]]:
    """Register a rule body (a generator of findings over a `Stack`) under `rule_id`.

    The decorated name becomes the public rule function: it takes the resources (or a `Stack`)
    and returns `Violation`s carrying the rule's id and enforcement level.
    """
    if any(r.id == rule_id for r in _REGISTRY):
        raise ValueError(f"rule id {rule_id!r} registered twice")

    def decorate(body: Callable[[Stack], Iterable[Finding]]
                 ) -> Callable[[Sequence[Resource] | Stack], list[Violation]]:
        @functools.wraps(body)
        def run(resources: Sequence[Resource] | Stack) -> list[Violation]:
            stack = resources if isinstance(resources, Stack) else Stack(resources)
            violations: list[Violation] = []
            for resource, message, how_to_fix in body(stack):
                urn, rtype = ((stack.stack_urn(), "pulumi:pulumi:Stack") if resource is None
                              else (resource.urn, resource.type))
                violations.append(Violation(urn, rtype, rule_id, message, how_to_fix, enforcement))
            return violations

        _REGISTRY.append(Rule(rule_id, description, enforcement, run))
        return run

    return decorate


# ---------------------------------------------------------------------------------------------
# Shared helpers.


def _q(value: Any) -> str:
    """Render a property value for a message."""
    if value is None:
        return "not set"
    return f"'{value}'" if isinstance(value, str) else json.dumps(value, default=repr)


def is_protected_stack(resources: Sequence[Resource] | Stack) -> bool:
    """True when the stack is production-like (see the module docstring)."""
    items = resources.resources if isinstance(resources, Stack) else resources
    for r in items:
        if r.options.protect:
            return True
        for key, value in tags_of(r).items():
            if (isinstance(key, str) and key.lower() in ("environment", "env", "stage")
                    and lower(value) in ("prod", "production")):
                return True
    return False


def _children(stack: Stack, parent: Resource, types: Sequence[str], prop: str) -> list[Resource]:
    """Resources of `types` whose property `prop` refers to `parent`."""
    return stack.referencing(parent, stack.of(*types), prop)


def _int(value: Any) -> int | None:
    """`value` as an int when it is a number or a numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _distinct_azs(stack: Stack, owner: Resource, prop: str, subnet_ids: Any) -> int | None:
    """Number of distinct AZs behind `subnet_ids`, or None when it cannot be judged.

    Subnets found in the stack count by their `availabilityZone`/`availabilityZoneId`; ids of
    subnets outside the stack count one AZ each.
    """
    if is_unknown(subnet_ids):
        return None
    zones: set[str] = set()
    for sid in as_list(subnet_ids):
        if is_unknown(sid):
            return None
        subnets = stack.refers(owner, prop, sid, stack.of(SUBNET)) if isinstance(sid, str) else []
        if len(subnets) == 1:
            az = subnets[0].props.get("availabilityZone")
            if az is None:
                az = subnets[0].props.get("availabilityZoneId")
            if is_unknown(az):
                return None
            zones.add(az if isinstance(az, str) else f"subnet:{sid}")
        else:
            zones.add(f"subnet:{sid}")
    return len(zones)


# ---------------------------------------------------------------------------------------------
# VPC


@rule("vpc-flow-logs", "Every VPC has a flow log capturing ALL traffic.")
def vpc_flow_logs(stack: Stack) -> Iterable[Finding]:
    """A FlowLog whose `vpcId` is the VPC and `trafficType` is ALL must exist per VPC."""
    for vpc in stack.of(VPC):
        logs = _children(stack, vpc, (FLOW_LOG,), "vpcId")
        if not logs:
            yield (vpc, "no aws:ec2/flowLog:FlowLog has vpcId referring to this VPC",
                   "Create aws.ec2.FlowLog(vpc_id=vpc.id, traffic_type='ALL', "
                   "log_destination=<log group or bucket ARN>).")
        elif not any(is_unknown(f.props.get("trafficType"))
                     or f.props.get("trafficType") == "ALL" for f in logs):
            seen = sorted({str(f.props.get("trafficType")) for f in logs})
            yield (vpc, f"the VPC's flow logs capture trafficType {', '.join(seen)}; "
                        "expected 'ALL'",
                   "Set traffic_type='ALL' on the VPC's aws.ec2.FlowLog.")


@rule("vpc-default-sg-closed",
      "Every VPC's default security group is managed and has no rules.")
def vpc_default_sg_closed(stack: Stack) -> Iterable[Finding]:
    """A DefaultSecurityGroup with empty `ingress` and `egress` must exist per VPC."""
    for vpc in stack.of(VPC):
        groups = _children(stack, vpc, (DEFAULT_SG,), "vpcId")
        if not groups:
            yield (vpc, "the VPC's default security group is not managed: no "
                        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup has vpcId referring "
                        "to it",
                   "Create aws.ec2.DefaultSecurityGroup(vpc_id=vpc.id) with no ingress and "
                   "no egress, which removes the default rules.")
    for group in stack.of(DEFAULT_SG):
        for direction in ("ingress", "egress"):
            rules = group.props.get(direction)
            if present(rules) and not is_unknown(rules):
                yield (group, f"{direction} has {len(as_list(rules))} rule(s); the default "
                              "security group must have none",
                       f"Remove every {direction} rule from the DefaultSecurityGroup.")


@rule("vpc-subnet-no-public-ip", "No subnet auto-assigns public IPs.")
def vpc_subnet_no_public_ip(stack: Stack) -> Iterable[Finding]:
    """Subnet `mapPublicIpOnLaunch` must not be true."""
    for subnet in stack.of(SUBNET):
        if is_true(subnet.props.get("mapPublicIpOnLaunch")):
            yield (subnet, "mapPublicIpOnLaunch is true; expected false",
                   "Set map_public_ip_on_launch=False (load balancers and NAT gateways get "
                   "their public addresses explicitly).")


# ---------------------------------------------------------------------------------------------
# Security groups


@dataclass(frozen=True)
class _SgRule:
    """One security-group rule, wherever it is declared."""

    owner: Resource
    where: str
    direction: str
    group: Resource | None
    cidrs: tuple[Any, ...]
    protocol: Any
    from_port: Any
    to_port: Any
    description: Any

    def label(self) -> str:
        """Where the rule is declared, for messages."""
        return f"{self.where} " if self.where else ""


def _sg_rules(stack: Stack) -> list[_SgRule]:
    """Every ingress/egress rule: inline on groups, SecurityGroupRule and the vpc rule types."""
    groups = stack.of(SECURITY_GROUP, DEFAULT_SG)
    found: list[_SgRule] = []
    for group in groups:
        for direction in ("ingress", "egress"):
            items = group.props.get(direction)
            if is_unknown(items):
                continue
            for i, item in enumerate(as_list(items)):
                item = as_mapping(item)
                found.append(_SgRule(
                    group, f"{direction}[{i}]", direction, group,
                    tuple(as_list(item.get("cidrBlocks")) + as_list(item.get("ipv6CidrBlocks"))),
                    item.get("protocol"), item.get("fromPort"), item.get("toPort"),
                    item.get("description")))
    for r in stack.of(SG_RULE):
        owner_groups = stack.refers(r, "securityGroupId", r.props.get("securityGroupId"), groups)
        found.append(_SgRule(
            r, "", str(r.props.get("type")), owner_groups[0] if owner_groups else None,
            tuple(as_list(r.props.get("cidrBlocks")) + as_list(r.props.get("ipv6CidrBlocks"))),
            r.props.get("protocol"), r.props.get("fromPort"), r.props.get("toPort"),
            r.props.get("description")))
    for rtype, direction in ((SG_INGRESS_RULE, "ingress"), (SG_EGRESS_RULE, "egress")):
        for r in stack.of(rtype):
            owner_groups = stack.refers(r, "securityGroupId", r.props.get("securityGroupId"),
                                        groups)
            found.append(_SgRule(
                r, "", direction, owner_groups[0] if owner_groups else None,
                tuple(c for c in (r.props.get("cidrIpv4"), r.props.get("cidrIpv6")) if c),
                r.props.get("ipProtocol"), r.props.get("fromPort"), r.props.get("toPort"),
                r.props.get("description")))
    return found


_ALL_PROTOCOLS: Final = ("-1", "all")
_OPEN_CIDRS: Final = ("0.0.0.0/0", "::/0")


def _covers_port(sg_rule: _SgRule, port: int) -> bool:
    """True when the rule certainly admits TCP `port`."""
    protocol = str(sg_rule.protocol).lower() if sg_rule.protocol is not None else None
    if protocol in _ALL_PROTOCOLS:
        return True
    if protocol not in ("tcp", "6"):
        return False
    low, high = _int(sg_rule.from_port), _int(sg_rule.to_port)
    return low is not None and high is not None and low <= port <= high


def _is_web_port_only(sg_rule: _SgRule) -> bool:
    """True when the rule admits exactly TCP 80 or exactly TCP 443."""
    protocol = str(sg_rule.protocol).lower()
    low, high = _int(sg_rule.from_port), _int(sg_rule.to_port)
    return protocol in ("tcp", "6") and low == high and low in (80, 443)


def _is_load_balancer_group(stack: Stack, group: Resource) -> bool:
    """True when a load balancer's `securityGroups` refers to `group`."""
    return bool(stack.referencing(group, stack.of(*LOAD_BALANCERS), "securityGroups"))


@rule("sg-open-ingress",
      "0.0.0.0/0 (or ::/0) ingress only on TCP 80/443 and only on a load balancer's group.")
def sg_open_ingress(stack: Stack) -> Iterable[Finding]:
    """Ingress from anywhere must be TCP 80 or 443 into a group a load balancer uses."""
    for r in _sg_rules(stack):
        if r.direction != "ingress":
            continue
        open_cidrs = [c for c in r.cidrs if c in _OPEN_CIDRS]
        if not open_cidrs or any(is_unknown(v) for v in (r.protocol, r.from_port, r.to_port)):
            continue
        source = " and ".join(open_cidrs)
        if not _is_web_port_only(r):
            yield (r.owner, f"{r.label()}admits {source} on protocol {_q(r.protocol)} ports "
                            f"{_q(r.from_port)}-{_q(r.to_port)}; open ingress is allowed only "
                            "on TCP 80 or TCP 443",
                   "Restrict the source to a security group or a private CIDR, or limit the "
                   "rule to from_port=to_port=443 (or 80) with protocol 'tcp'.")
        elif r.group is None or not _is_load_balancer_group(stack, r.group):
            yield (r.owner, f"{r.label()}admits {source} on port {_q(r.from_port)} into a "
                            "security group no load balancer uses (securityGroups of an "
                            "aws:lb/loadBalancer:LoadBalancer)",
                   "Open 80/443 to the internet only on the load balancer's security group; "
                   "let other groups admit traffic from that group "
                   "(referenced_security_group_id).")


@rule("sg-descriptions", "Every security group and every rule has a description.")
def sg_descriptions(stack: Stack) -> Iterable[Finding]:
    """`description` set (and not Pulumi's default) on groups and every rule."""
    for group in stack.of(SECURITY_GROUP):
        description = group.props.get("description")
        if not present(description) or description == "Managed by Pulumi":
            yield (group, f"description is {_q(description)}; expected a sentence saying what "
                          "the group admits",
                   "Set description= on the security group (it cannot be changed later "
                   "without replacing the group).")
    for r in _sg_rules(stack):
        if not present(r.description):
            yield (r.owner, f"{r.label()}{r.direction} rule has no description",
                   "Set description= on every ingress/egress rule, saying who connects and "
                   "why.")


@rule("ec2-no-ssh", "SSM Session Manager instead of SSH: no port 22 ingress, no key pairs.")
def ec2_no_ssh(stack: Stack) -> Iterable[Finding]:
    """No ingress rule admitting TCP 22; no `keyName` on launch templates or instances."""
    for r in _sg_rules(stack):
        if r.direction == "ingress" and _covers_port(r, 22):
            yield (r.owner, f"{r.label()}admits TCP port 22 (SSH)",
                   "Remove the rule; reach instances with SSM Session Manager "
                   "(AmazonSSMManagedInstanceCore on the instance role).")
    for res in stack.of(LAUNCH_TEMPLATE, INSTANCE):
        if present(res.props.get("keyName")) and not is_unknown(res.props.get("keyName")):
            yield (res, f"keyName is {_q(res.props.get('keyName'))}; expected not set",
                   "Drop key_name; use SSM Session Manager for shell access.")


# ---------------------------------------------------------------------------------------------
# Launch templates, instances, auto scaling groups


@rule("ec2-imdsv2", "Launch templates and instances require IMDSv2.")
def ec2_imdsv2(stack: Stack) -> Iterable[Finding]:
    """`metadataOptions.httpTokens` must be "required"."""
    for res in stack.of(LAUNCH_TEMPLATE, INSTANCE):
        tokens = res.get("metadataOptions", "httpTokens")
        if is_unknown(tokens):
            continue
        if res.type == INSTANCE and present(res.props.get("launchTemplate")) and tokens is None:
            continue  # the instance's launch template is checked on its own
        if tokens != "required":
            yield (res, f"metadataOptions.httpTokens is {_q(tokens)}; expected 'required'",
                   "Set metadata_options={'http_tokens': 'required', 'http_endpoint': "
                   "'enabled'} (IMDSv2 only).")


def _ebs_problem(ebs: Mapping[str, Any]) -> str | None:
    """What is wrong with an EBS block (encrypted + kmsKeyId), or None."""
    encrypted, key = ebs.get("encrypted"), ebs.get("kmsKeyId")
    if is_unknown(encrypted):
        return None
    if not is_true(encrypted):
        return f"encrypted is {_q(encrypted)}; expected true"
    if not present(key):
        return "kmsKeyId is not set; expected the region's KMS key ARN"
    return None


@rule("ec2-ebs-encrypted", "EBS volumes are encrypted with a KMS key.")
def ec2_ebs_encrypted(stack: Stack) -> Iterable[Finding]:
    """Launch template block devices, instance volumes and EBS volumes: encrypted + kmsKeyId."""
    fix = "Set encrypted=True and kms_key_id=<region key ARN> on every EBS block device."
    for lt in stack.of(LAUNCH_TEMPLATE):
        mappings = lt.props.get("blockDeviceMappings")
        if is_unknown(mappings):
            continue
        ebs_mappings = [(i, as_mapping(m)) for i, m in enumerate(as_list(mappings))
                        if present(as_mapping(m).get("ebs"))]
        if not ebs_mappings:
            yield (lt, "blockDeviceMappings declares no EBS volume, so root-volume encryption "
                       "is left to the AMI; expected the root device with ebs.encrypted=true "
                       "and ebs.kmsKeyId", fix)
        for i, mapping in ebs_mappings:
            problem = _ebs_problem(as_mapping(mapping.get("ebs")))
            if problem:
                yield (lt, f"blockDeviceMappings[{i}].ebs.{problem}", fix)
    for inst in stack.of(INSTANCE):
        root = inst.props.get("rootBlockDevice")
        if root is None and present(inst.props.get("launchTemplate")):
            continue
        problem = _ebs_problem(as_mapping(root))
        if problem:
            yield (inst, f"rootBlockDevice.{problem}", fix)
        for i, dev in enumerate(as_list(inst.props.get("ebsBlockDevices"))):
            problem = _ebs_problem(as_mapping(dev))
            if problem:
                yield (inst, f"ebsBlockDevices[{i}].{problem}", fix)
    for vol in stack.of(EBS_VOLUME):
        problem = _ebs_problem(vol.props)
        if problem:
            yield (vol, problem, fix)


@rule("ec2-no-public-ip", "Launch templates and instances get no public IP.")
def ec2_no_public_ip(stack: Stack) -> Iterable[Finding]:
    """`associatePublicIpAddress` must not be true."""
    fix = "Set associate_public_ip_address=False (or leave it unset in a private subnet)."
    for lt in stack.of(LAUNCH_TEMPLATE):
        for i, nic in enumerate(as_list(lt.props.get("networkInterfaces"))):
            if is_true(as_mapping(nic).get("associatePublicIpAddress")):
                yield (lt, f"networkInterfaces[{i}].associatePublicIpAddress is true; "
                           "expected false", fix)
    for inst in stack.of(INSTANCE):
        if is_true(inst.props.get("associatePublicIpAddress")):
            yield (inst, "associatePublicIpAddress is true; expected false", fix)


@rule("asg-multi-az", "Auto scaling groups span at least 2 availability zones.")
def asg_multi_az(stack: Stack) -> Iterable[Finding]:
    """`vpcZoneIdentifiers` (resolved to AZs) or `availabilityZones`: at least 2 distinct."""
    for asg in stack.of(ASG):
        if present(asg.props.get("vpcZoneIdentifiers")):
            count = _distinct_azs(stack, asg, "vpcZoneIdentifiers",
                                  asg.props.get("vpcZoneIdentifiers"))
            where = "vpcZoneIdentifiers"
        else:
            zones = asg.props.get("availabilityZones")
            count = None if is_unknown(zones) else len(set(as_list(zones)))
            where = "availabilityZones"
        if count is not None and count < 2:
            yield (asg, f"{where} covers {count} availability zone(s); expected at least 2",
                   "Pass subnets in at least two AZs as vpc_zone_identifiers.")


@rule("asg-mixed-instance-types",
      "A mixed-instances auto scaling group offers at least 2 instance types.")
def asg_mixed_instance_types(stack: Stack) -> Iterable[Finding]:
    """`mixedInstancesPolicy.launchTemplate.overrides`: >= 2 distinct instanceType values
    (or attribute-based `instanceRequirements`)."""
    for asg in stack.of(ASG):
        policy = asg.props.get("mixedInstancesPolicy")
        if not present(policy) or is_unknown(policy):
            continue
        overrides = as_list(asg.get("mixedInstancesPolicy", "launchTemplate", "overrides"))
        if any(present(as_mapping(o).get("instanceRequirements")) for o in overrides):
            continue
        types = {as_mapping(o).get("instanceType") for o in overrides} - {None}
        if any(is_unknown(t) for t in types):
            continue
        if len(types) < 2:
            yield (asg, f"mixedInstancesPolicy.launchTemplate.overrides lists {len(types)} "
                        "instance type(s); expected at least 2",
                   "List at least two interchangeable instance types in the overrides so "
                   "capacity shortages in one type do not stop scaling.")


@rule("asg-elb-health-check",
      "An auto scaling group behind a load balancer uses ELB health checks.")
def asg_elb_health_check(stack: Stack) -> Iterable[Finding]:
    """With `targetGroupArns`, `loadBalancers` or `trafficSources`: healthCheckType "ELB"."""
    for asg in stack.of(ASG):
        behind = [p for p in ("targetGroupArns", "loadBalancers", "trafficSources")
                  if present(asg.props.get(p))]
        check_type = asg.props.get("healthCheckType")
        if behind and not is_unknown(check_type) and check_type != "ELB":
            yield (asg, f"{behind[0]} is set but healthCheckType is {_q(check_type)}; "
                        "expected 'ELB'",
                   "Set health_check_type='ELB' (and a health_check_grace_period) so instances "
                   "failing the load balancer's checks are replaced.")


# ---------------------------------------------------------------------------------------------
# IAM and KMS


def _identity_documents(stack: Stack) -> Iterable[tuple[Resource, str, Any]]:
    """(resource, property path, raw document) for every identity policy in the stack."""
    for res in stack.of(IAM_ROLE_POLICY, IAM_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY):
        yield res, "policy", res.props.get("policy")
    for role in stack.of(IAM_ROLE):
        for i, inline in enumerate(as_list(role.props.get("inlinePolicies"))):
            yield role, f"inlinePolicies[{i}].policy", as_mapping(inline).get("policy")


_RESOURCE_POLICY_PROPS: Final[Mapping[str, str]] = {
    KMS_KEY: "policy", KMS_KEY_POLICY: "policy",
    BUCKETS[0]: "policy", BUCKETS[1]: "policy", BUCKET_POLICY[0]: "policy",
    SNS_TOPIC: "policy", SNS_TOPIC_POLICY: "policy",
    SQS_QUEUE: "policy", SQS_QUEUE_POLICY: "policy",
    ECR_REPOSITORY_POLICY: "policy", EFS_FILE_SYSTEM_POLICY: "policy",
    LOG_RESOURCE_POLICY: "policyDocument", IAM_ROLE: "assumeRolePolicy",
}


def _resource_documents(stack: Stack) -> Iterable[tuple[Resource, str, Any]]:
    """(resource, property, raw document) for key/bucket/topic/queue/... and trust policies."""
    for rtype, prop in _RESOURCE_POLICY_PROPS.items():
        for res in stack.of(rtype):
            yield res, prop, res.props.get(prop)


def _parsed(raw: Any) -> dict[str, Any] | None:
    """The parsed document, or None when absent, unknown or invalid (see iam-policy-json)."""
    try:
        return parse_document(raw)
    except DocumentError:
        return None


def _allow_statements(stack: Stack) -> Iterable[tuple[Resource, str, Mapping[str, Any]]]:
    """(resource, 'path.Statement[i]', statement) for every Allow in identity policies."""
    for res, where, raw in _identity_documents(stack):
        doc = _parsed(raw)
        if doc is None:
            continue
        for i, st in enumerate(statements(doc)):
            if is_allow(st):
                yield res, f"{where} Statement[{i}]", st


@rule("iam-policy-json", "Every policy document is a valid JSON object.")
def iam_policy_json(stack: Stack) -> Iterable[Finding]:
    """Identity, resource and trust policies must parse as JSON objects."""
    for res, where, raw in list(_identity_documents(stack)) + list(_resource_documents(stack)):
        try:
            parse_document(raw)
        except DocumentError as exc:
            yield (res, f"{where} is {exc}",
                   "Build the document in Python and serialise it with "
                   "pulumi.Output.json_dumps(...).")


@rule("iam-no-wildcard-action", 'No "*" or "service:*" action (and no NotAction) in an Allow.')
def iam_no_wildcard_action(stack: Stack) -> Iterable[Finding]:
    """Allow statements of identity policies list explicit actions."""
    for res, where, st in _allow_statements(stack):
        if "NotAction" in st:
            yield (res, f"{where} uses NotAction in an Allow, which grants every other action",
                   "List the allowed actions explicitly in Action.")
        wild = [a for a in statement_actions(st) if a == "*" or re.fullmatch(r"[\w-]+:\*", a)]
        if wild:
            yield (res, f"{where} allows wildcard action(s) {', '.join(wild)}; expected "
                        "explicit actions",
                   "Replace the wildcard with the specific actions the principal needs "
                   "(use the component grant_* methods).")


@rule("iam-resource-star",
      'Resource "*" only for actions in RESOURCE_STAR_ALLOWED (no resource-level permissions).')
def iam_resource_star(stack: Stack) -> Iterable[Finding]:
    """An Allow on "*" (or with NotResource) may only list allow-listed actions."""
    for res, where, st in _allow_statements(stack):
        if "NotResource" in st:
            yield (res, f"{where} uses NotResource in an Allow, which grants every other "
                        "resource",
                   "List the resource ARNs explicitly in Resource.")
            continue
        if "*" not in statement_resources(st):
            continue
        bad = [a for a in statement_actions(st) if a.lower() not in _RESOURCE_STAR_ALLOWED_LOWER]
        if bad:
            yield (res, f'{where} allows {", ".join(bad)} on Resource "*"; only actions without '
                        "resource-level permissions listed in RESOURCE_STAR_ALLOWED may use "
                        '"*"',
                   "Scope these actions to the ARNs they act on (or, if an action truly "
                   "supports no resource-level permissions, add it once to "
                   "policies.rules.RESOURCE_STAR_ALLOWED with its reason).")


def _grants_decrypt(action: str) -> bool:
    """True when the action pattern covers kms:Decrypt."""
    return fnmatch.fnmatchcase("kms:decrypt", action.lower())


def _all_keys(resource: str) -> bool:
    """True for "*" or a KMS ARN pattern that matches every key."""
    if resource == "*":
        return True
    return bool(re.fullmatch(r"arn:[^:]+:kms:[^:]*:[^:]*:(\*|key/\*)", resource))


@rule("iam-no-decrypt-on-star", 'No kms:Decrypt on every key ("*" or key/*) in identity policies.')
def iam_no_decrypt_on_star(stack: Stack) -> Iterable[Finding]:
    """Identity policies grant kms:Decrypt only on named keys (key policies are exempt: their
    "*" means "this key")."""
    for res, where, st in _allow_statements(stack):
        decrypt = [a for a in statement_actions(st) if _grants_decrypt(a)]
        keys = [r for r in statement_resources(st) if _all_keys(r)]
        if decrypt and keys:
            yield (res, f"{where} allows {', '.join(decrypt)} on {', '.join(keys)}; expected "
                        "specific key ARNs",
                   "Grant decrypt on the region's key ARN only (key.grant_decrypt(role)).")


_ADMIN_POLICY_ARNS: Final = ("AdministratorAccess", "PowerUserAccess")


@rule("iam-no-admin-managed-policy",
      "No AdministratorAccess or PowerUserAccess managed policy attached.")
def iam_no_admin_managed_policy(stack: Stack) -> Iterable[Finding]:
    """Attachments and Role.managedPolicyArns must not use the AWS admin policies."""
    def admin(arn: Any) -> bool:
        return isinstance(arn, str) and arn.rsplit("/", 1)[-1] in _ADMIN_POLICY_ARNS

    for res in stack.of(*IAM_ATTACHMENTS):
        if admin(res.props.get("policyArn")):
            yield (res, f"policyArn is {_q(res.props.get('policyArn'))}; administrator policies "
                        "grant * on *",
                   "Attach a least-privilege policy built from the component grant_* methods.")
    for role in stack.of(IAM_ROLE):
        for arn in as_list(role.props.get("managedPolicyArns")):
            if admin(arn):
                yield (role, f"managedPolicyArns contains {_q(arn)}; administrator policies "
                             "grant * on *",
                       "Remove it and grant the needed actions with the grant_* methods.")


_RESTRICTING_CONDITION_KEYS: Final = frozenset({
    "aws:sourceaccount", "aws:sourcearn", "aws:sourceowner", "aws:sourceorgid",
    "aws:sourceorgpaths", "aws:principalaccount", "aws:principalarn", "aws:principalorgid",
    "aws:principalorgpaths", "aws:principalservicename", "aws:sourcevpc", "aws:sourcevpce",
    "aws:sourceip", "aws:userid", "aws:username", "kms:calleraccount",
})


@rule("resource-policy-not-public",
      "No key, bucket, topic, queue, repository or trust policy allows a public principal.")
def resource_policy_not_public(stack: Stack) -> Iterable[Finding]:
    """An Allow to "*" / {"AWS": "*"} must carry a condition restricting who (account, org,
    source ARN, VPC endpoint...)."""
    for res, prop, raw in _resource_documents(stack):
        doc = _parsed(raw)
        if doc is None:
            continue
        for i, st in enumerate(statements(doc)):
            if not is_allow(st) or not principal_is_everyone(st.get("Principal")):
                continue
            if condition_keys(st) & _RESTRICTING_CONDITION_KEYS:
                continue
            yield (res, f"{prop} Statement[{i}] allows Principal {_q(st.get('Principal'))} with "
                        "no condition restricting the caller",
                   "Name the principals (account root, role or service) or add a condition "
                   "such as aws:SourceAccount, aws:SourceArn or aws:PrincipalOrgID.")


@rule("kms-key-rotation", "Symmetric KMS keys rotate automatically.")
def kms_key_rotation(stack: Stack) -> Iterable[Finding]:
    """`enableKeyRotation` must be true for symmetric encryption keys."""
    for key in stack.of(KMS_KEY):
        spec = key.props.get("customerMasterKeySpec") or "SYMMETRIC_DEFAULT"
        usage = key.props.get("keyUsage") or "ENCRYPT_DECRYPT"
        if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
            continue
        rotation = key.props.get("enableKeyRotation")
        if not is_unknown(rotation) and not is_true(rotation):
            yield (key, f"enableKeyRotation is {_q(rotation)}; expected true",
                   "Set enable_key_rotation=True.")


# ---------------------------------------------------------------------------------------------
# Lambda


@rule("lambda-runtime", "Lambda functions use a supported, not yet deprecated runtime.")
def lambda_runtime(stack: Stack) -> Iterable[Finding]:
    """`runtime` must be in LAMBDA_RUNTIME_DEPRECATION and before its deprecation date."""
    today = date.today()
    for fn in stack.of(LAMBDA_FUNCTION):
        runtime = fn.props.get("runtime")
        if fn.props.get("packageType") == "Image" or is_unknown(runtime):
            continue
        if not isinstance(runtime, str) or not runtime_supported(runtime, today):
            accepted = ", ".join(r for r in LAMBDA_RUNTIME_DEPRECATION
                                 if runtime_supported(r, today))
            yield (fn, f"runtime is {_q(runtime)}; expected one of {accepted}",
                   "Move the function to a supported runtime (see "
                   "policies.rules.LAMBDA_RUNTIME_DEPRECATION).")


@rule("lambda-no-public-permission",
      "No Lambda permission lets anyone (or any account of a service) invoke a function.")
def lambda_no_public_permission(stack: Stack) -> Iterable[Finding]:
    """Permission with principal "*" or a service principal needs sourceArn/sourceAccount
    (or principalOrgId); function URLs need IAM auth."""
    for perm in stack.of(LAMBDA_PERMISSION):
        principal = perm.props.get("principal")
        if is_unknown(principal):
            continue
        if perm.props.get("functionUrlAuthType") == "NONE":
            yield (perm, "functionUrlAuthType is 'NONE'; the function URL is public",
                   "Use function_url_auth_type='AWS_IAM'.")
        scoped = any(present(perm.props.get(p))
                     for p in ("sourceArn", "sourceAccount", "principalOrgId"))
        service = isinstance(principal, str) and principal.endswith(".amazonaws.com")
        if (principal == "*" or service) and not scoped:
            yield (perm, f"principal is {_q(principal)} with no sourceArn, sourceAccount or "
                         "principalOrgId; anyone (any account's resources) can invoke it",
                   "Set source_arn to the invoking resource's ARN (and source_account).")


@rule("lambda-vpc-multi-az", "A Lambda function in a VPC uses subnets in at least 2 AZs.")
def lambda_vpc_multi_az(stack: Stack) -> Iterable[Finding]:
    """`vpcConfig.subnetIds`, when set, covers at least 2 availability zones."""
    for fn in stack.of(LAMBDA_FUNCTION):
        subnet_ids = fn.get("vpcConfig", "subnetIds")
        if not present(subnet_ids):
            continue
        count = _distinct_azs(stack, fn, "vpcConfig", subnet_ids)
        if count is not None and count < 2:
            yield (fn, f"vpcConfig.subnetIds covers {count} availability zone(s); expected at "
                       "least 2",
                   "Pass private subnets from at least two AZs in vpc_config.subnet_ids.")


@rule("lambda-dlq", "Lambda functions have a dead-letter queue or an on-failure destination.")
def lambda_dlq(stack: Stack) -> Iterable[Finding]:
    """`deadLetterConfig.targetArn`, or a FunctionEventInvokeConfig with
    `destinationConfig.onFailure.destination` for the function."""
    configs = stack.of(LAMBDA_EVENT_INVOKE_CONFIG)
    for fn in stack.of(LAMBDA_FUNCTION):
        if present(fn.get("deadLetterConfig", "targetArn")):
            continue
        destinations = [c for c in stack.referencing(fn, configs, "functionName")
                        if present(c.get("destinationConfig", "onFailure", "destination"))]
        if not destinations:
            yield (fn, "deadLetterConfig.targetArn is not set and no "
                       "FunctionEventInvokeConfig gives an onFailure destination",
                   "Set dead_letter_config={'target_arn': <SQS queue or SNS topic ARN>}.")


@rule("lambda-log-group", "Every Lambda function has a managed log group.")
def lambda_log_group(stack: Stack) -> Iterable[Finding]:
    """`loggingConfig.logGroup` names a LogGroup of the stack, or a LogGroup named
    /aws/lambda/<function name> exists."""
    groups = stack.of(LOG_GROUP)
    for fn in stack.of(LAMBDA_FUNCTION):
        named = fn.get("loggingConfig", "logGroup")
        if present(named):
            if is_unknown(named) or stack.refers(fn, "loggingConfig", named, groups):
                continue
            yield (fn, f"loggingConfig.logGroup is {_q(named)}, which is not a log group of "
                       "this stack",
                   "Create the aws.cloudwatch.LogGroup (with retention and KMS) and pass its "
                   "name as logging_config.log_group.")
            continue
        names = {n for n in (fn.props.get("name"), fn.id) if isinstance(n, str)}
        if any(g.props.get("name") in {f"/aws/lambda/{n}" for n in names} for g in groups):
            continue
        if is_unknown(fn.props.get("name")):
            continue
        yield (fn, "no log group: loggingConfig.logGroup is not set and no "
                   "aws:cloudwatch/logGroup:LogGroup is named /aws/lambda/<function name>",
               "Create an aws.cloudwatch.LogGroup with retention and KMS and set "
               "logging_config={'log_format': 'JSON', 'log_group': group.name}.")


# ---------------------------------------------------------------------------------------------
# EFS


@rule("efs-encrypted", "EFS file systems are encrypted with a KMS key.")
def efs_encrypted(stack: Stack) -> Iterable[Finding]:
    """`encrypted` true and `kmsKeyId` set."""
    for fs in stack.of(EFS_FILE_SYSTEM):
        problem = _ebs_problem(fs.props)
        if problem:
            yield (fs, problem, "Set encrypted=True and kms_key_id=<region key ARN>.")


@rule("efs-backup-policy", "EFS file systems have automatic backups enabled.")
def efs_backup_policy(stack: Stack) -> Iterable[Finding]:
    """A BackupPolicy for the file system with `backupPolicy.status` ENABLED."""
    for fs in stack.of(EFS_FILE_SYSTEM):
        policies = _children(stack, fs, (EFS_BACKUP_POLICY,), "fileSystemId")
        statuses = [p.get("backupPolicy", "status") for p in policies]
        if not any(s == "ENABLED" or is_unknown(s) for s in statuses):
            found = f"status {_q(statuses[0])}" if statuses else "no aws:efs/backupPolicy"
            yield (fs, f"automatic backups are off ({found}); expected backupPolicy.status "
                       "'ENABLED'",
                   "Create aws.efs.BackupPolicy(file_system_id=fs.id, "
                   "backup_policy={'status': 'ENABLED'}).")


@rule("efs-access-point", "EFS access points use a non-root path and a POSIX user.")
def efs_access_point(stack: Stack) -> Iterable[Finding]:
    """`rootDirectory.path` other than "/" and `posixUser` with uid and gid."""
    for ap in stack.of(EFS_ACCESS_POINT):
        path = ap.get("rootDirectory", "path")
        if not is_unknown(path) and (not present(path) or str(path).rstrip("/") == ""):
            yield (ap, f"rootDirectory.path is {_q(path)}; expected a sub-directory such as "
                       "'/home'",
                   "Set root_directory={'path': '/<dir>', 'creation_info': {...}}.")
        posix = ap.props.get("posixUser")
        if not is_unknown(posix) and not (present(as_mapping(posix).get("uid"))
                                          and present(as_mapping(posix).get("gid"))):
            yield (ap, "posixUser is not set with uid and gid; clients would act as "
                       "themselves (possibly root)",
                   "Set posix_user={'uid': ..., 'gid': ...}.")


# ---------------------------------------------------------------------------------------------
# ECR


@rule("ecr-scan-on-push", "ECR repositories scan images on push.")
def ecr_scan_on_push(stack: Stack) -> Iterable[Finding]:
    """`imageScanningConfiguration.scanOnPush` true."""
    for repo in stack.of(ECR_REPOSITORY):
        scan = repo.get("imageScanningConfiguration", "scanOnPush")
        if not is_unknown(scan) and not is_true(scan):
            yield (repo, f"imageScanningConfiguration.scanOnPush is {_q(scan)}; expected true",
                   "Set image_scanning_configuration={'scan_on_push': True}.")


@rule("ecr-immutable-tags", "ECR repositories have immutable tags.")
def ecr_immutable_tags(stack: Stack) -> Iterable[Finding]:
    """`imageTagMutability` IMMUTABLE."""
    for repo in stack.of(ECR_REPOSITORY):
        mutability = repo.props.get("imageTagMutability")
        if not is_unknown(mutability) and mutability != "IMMUTABLE":
            yield (repo, f"imageTagMutability is {_q(mutability)}; expected 'IMMUTABLE'",
                   "Set image_tag_mutability='IMMUTABLE' and tag images by digest/commit.")


@rule("ecr-lifecycle-policy", "ECR repositories have a lifecycle policy.")
def ecr_lifecycle_policy(stack: Stack) -> Iterable[Finding]:
    """A LifecyclePolicy whose `repository` is the repository."""
    for repo in stack.of(ECR_REPOSITORY):
        if not _children(stack, repo, (ECR_LIFECYCLE_POLICY,), "repository"):
            yield (repo, "no aws:ecr/lifecyclePolicy:LifecyclePolicy refers to this repository",
                   "Create aws.ecr.LifecyclePolicy(repository=repo.name, policy=...) expiring "
                   "untagged and old images.")


@rule("ecr-kms", "ECR repositories are encrypted with a KMS key.")
def ecr_kms(stack: Stack) -> Iterable[Finding]:
    """`encryptionConfigurations[0].encryptionType` KMS with `kmsKey`."""
    for repo in stack.of(ECR_REPOSITORY):
        enc = repo.get("encryptionConfigurations", 0)
        if is_unknown(enc) or is_unknown(repo.props.get("encryptionConfigurations")):
            continue
        kind, key = as_mapping(enc).get("encryptionType"), as_mapping(enc).get("kmsKey")
        if is_unknown(kind):
            continue
        if kind != "KMS" or not present(key):
            yield (repo, f"encryptionConfigurations[0] is encryptionType {_q(kind)}, kmsKey "
                         f"{_q(key)}; expected 'KMS' with the region's key",
                   "Set encryption_configurations=[{'encryption_type': 'KMS', 'kms_key': "
                   "key.arn}].")


# ---------------------------------------------------------------------------------------------
# ECS


@rule("ecs-no-public-ip", "ECS services do not assign public IPs to tasks.")
def ecs_no_public_ip(stack: Stack) -> Iterable[Finding]:
    """`networkConfiguration.assignPublicIp` not true."""
    for svc in stack.of(ECS_SERVICE):
        if is_true(svc.get("networkConfiguration", "assignPublicIp")):
            yield (svc, "networkConfiguration.assignPublicIp is true; expected false",
                   "Run tasks in private subnets with assign_public_ip=False.")


@rule("ecs-platform-version", "Fargate services use platform version LATEST.")
def ecs_platform_version(stack: Stack) -> Iterable[Finding]:
    """`platformVersion` unset or "LATEST"."""
    for svc in stack.of(ECS_SERVICE):
        version = svc.props.get("platformVersion")
        if present(version) and not is_unknown(version) and version != "LATEST":
            yield (svc, f"platformVersion is {_q(version)}; expected 'LATEST' (or not set)",
                   "Remove platform_version or set it to 'LATEST'.")


@rule("ecs-container-insights", "ECS clusters have Container Insights enabled.")
def ecs_container_insights(stack: Stack) -> Iterable[Finding]:
    """A `settings` entry containerInsights = enabled|enhanced."""
    for cluster in stack.of(ECS_CLUSTER):
        settings = cluster.props.get("settings")
        if is_unknown(settings):
            continue
        values = [as_mapping(s).get("value") for s in as_list(settings)
                  if as_mapping(s).get("name") == "containerInsights"]
        if not any(v in ("enabled", "enhanced") or is_unknown(v) for v in values):
            yield (cluster, f"settings containerInsights is {_q(values[0] if values else None)}; "
                            "expected 'enabled' or 'enhanced'",
                   "Set settings=[{'name': 'containerInsights', 'value': 'enhanced'}].")


def _containers(task: Resource) -> list[Mapping[str, Any]] | None:
    """The task definition's container definitions, or None when they cannot be read."""
    raw = task.props.get("containerDefinitions")
    if isinstance(raw, list):
        return [c for c in raw if isinstance(c, Mapping)]
    if not isinstance(raw, str) or raw == SECRET:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    return [c for c in parsed if isinstance(c, Mapping)] if isinstance(parsed, list) else None


def _container_findings(stack: Stack, check: Callable[[Mapping[str, Any]], str | None],
                        fix: str) -> Iterable[Finding]:
    """Apply `check` to every container of every task definition."""
    for task in stack.of(ECS_TASK_DEFINITION):
        for i, container in enumerate(_containers(task) or []):
            problem = check(container)
            if problem:
                name = container.get("name", f"#{i}")
                yield (task, f"containerDefinitions[{i}] ({name}): {problem}", fix)


@rule("ecs-not-privileged", "ECS containers are not privileged.")
def ecs_not_privileged(stack: Stack) -> Iterable[Finding]:
    """`privileged` not true in any container definition."""
    yield from _container_findings(
        stack, lambda c: "privileged is true; expected false" if is_true(c.get("privileged"))
        else None, "Remove privileged (Fargate rejects it; on EC2 it gives root on the host).")


@rule("ecs-readonly-root", "ECS containers have a read-only root filesystem.")
def ecs_readonly_root(stack: Stack) -> Iterable[Finding]:
    """`readonlyRootFilesystem` true in every container definition."""
    yield from _container_findings(
        stack, lambda c: None if is_true(c.get("readonlyRootFilesystem"))
        else f"readonlyRootFilesystem is {_q(c.get('readonlyRootFilesystem'))}; expected true",
        "Set readonlyRootFilesystem: true and mount writable paths as volumes (e.g. /tmp).")


@rule("ecs-container-logging", "Every ECS container has a log configuration.")
def ecs_container_logging(stack: Stack) -> Iterable[Finding]:
    """`logConfiguration.logDriver` set in every container definition."""
    yield from _container_findings(
        stack, lambda c: None if present(as_mapping(c.get("logConfiguration")).get("logDriver"))
        else "logConfiguration.logDriver is not set; expected 'awslogs' (or firelens)",
        "Add logConfiguration {logDriver: 'awslogs', options: {awslogs-group, awslogs-region, "
        "awslogs-stream-prefix}}.")




@rule("ecs-no-plaintext-secrets", "ECS containers take secrets from `secrets`, not `environment`.")
def ecs_no_plaintext_secrets(stack: Stack) -> Iterable[Finding]:
    """No `environment` entry whose name looks like a secret (see looks_like_secret)."""
    def check(container: Mapping[str, Any]) -> str | None:
        names = [as_mapping(e).get("name") for e in as_list(container.get("environment"))]
        bad = [n for n in names if isinstance(n, str) and looks_like_secret(n)]
        return (f"environment has {', '.join(bad)}, which look(s) like secrets in plain text"
                if bad else None)

    yield from _container_findings(
        stack, check, "Move the value to Secrets Manager or SSM Parameter Store and reference "
                      "it under secrets [{name, valueFrom}].")


# ---------------------------------------------------------------------------------------------
# Load balancers


def _lb_type(lb: Resource) -> Any:
    """The load balancer's type (application when not set)."""
    return lb.props.get("loadBalancerType") or "application"


def _listener_lbs(stack: Stack, listener: Resource) -> list[Resource]:
    """The load balancers the listener belongs to."""
    return stack.refers(listener, "loadBalancerArn", listener.props.get("loadBalancerArn"),
                        stack.of(*LOAD_BALANCERS))


def _listener_protocol(stack: Stack, listener: Resource) -> Any:
    """The listener's protocol; HTTP when not set on an application load balancer."""
    protocol = listener.props.get("protocol")
    if protocol is None:
        lbs = _listener_lbs(stack, listener)
        if not lbs or _lb_type(lbs[0]) == "application":
            return "HTTP"
    return protocol


def redirects_to_https(listener: Resource) -> bool:
    """True when every default action of the listener redirects to HTTPS."""
    actions = as_list(listener.props.get("defaultActions"))
    return bool(actions) and all(
        as_mapping(a).get("type") == "redirect"
        and as_mapping(as_mapping(a).get("redirect")).get("protocol") == "HTTPS"
        for a in actions)


def has_https_listener(stack: Stack, lb: Resource) -> bool:
    """True when any listener of `lb` uses HTTPS."""
    return any(_listener_protocol(stack, li) == "HTTPS" and lb in _listener_lbs(stack, li)
               for li in stack.of(*LISTENERS))


@rule("alb-drop-invalid-headers", "Application load balancers drop invalid header fields.")
def alb_drop_invalid_headers(stack: Stack) -> Iterable[Finding]:
    """`dropInvalidHeaderFields` true on application load balancers."""
    for lb in stack.of(*LOAD_BALANCERS):
        value = lb.props.get("dropInvalidHeaderFields")
        if _lb_type(lb) == "application" and not is_unknown(value) and not is_true(value):
            yield (lb, f"dropInvalidHeaderFields is {_q(value)}; expected true",
                   "Set drop_invalid_header_fields=True.")


@rule("alb-desync-mitigation",
      "Application load balancers use desync mitigation 'defensive' or 'strictest'.")
def alb_desync_mitigation(stack: Stack) -> Iterable[Finding]:
    """`desyncMitigationMode` defensive (the AWS default when unset) or strictest."""
    for lb in stack.of(*LOAD_BALANCERS):
        mode = lb.props.get("desyncMitigationMode")
        if (_lb_type(lb) == "application" and mode is not None and not is_unknown(mode)
                and mode not in ("defensive", "strictest")):
            yield (lb, f"desyncMitigationMode is {_q(mode)}; expected 'defensive' or "
                       "'strictest'",
                   "Set desync_mitigation_mode='defensive' (or 'strictest').")


@rule("lb-access-logs", "Load balancers write access logs to S3.")
def lb_access_logs(stack: Stack) -> Iterable[Finding]:
    """`accessLogs.enabled` true with `accessLogs.bucket` on application/network LBs."""
    for lb in stack.of(*LOAD_BALANCERS):
        if _lb_type(lb) not in ("application", "network"):
            continue
        enabled, bucket = lb.get("accessLogs", "enabled"), lb.get("accessLogs", "bucket")
        if is_unknown(enabled):
            continue
        if not is_true(enabled) or not present(bucket):
            yield (lb, f"accessLogs.enabled is {_q(enabled)}, accessLogs.bucket {_q(bucket)}; "
                       "expected enabled true with a bucket",
                   "Set access_logs={'enabled': True, 'bucket': log_bucket.id, 'prefix': ...}.")


@rule("lb-deletion-protection", "Load balancers of a protected (prod) stack have deletion "
                                "protection.")
def lb_deletion_protection(stack: Stack) -> Iterable[Finding]:
    """In a protected stack, `enableDeletionProtection` true."""
    if not is_protected_stack(stack):
        return
    for lb in stack.of(*LOAD_BALANCERS):
        value = lb.props.get("enableDeletionProtection")
        if not is_unknown(value) and not is_true(value):
            yield (lb, f"enableDeletionProtection is {_q(value)} in a protected stack; "
                       "expected true",
                   "Set enable_deletion_protection=True when the stack is protected.")


@rule("alb-listener-https", "Application load balancer listeners serve HTTPS, not plain HTTP.")
def alb_listener_https(stack: Stack) -> Iterable[Finding]:
    """Every listener with protocol HTTP is a violation; the redirect-only listener and the
    listener of a load balancer without certificate are recorded in EXCEPTIONS."""
    for listener in stack.of(*LISTENERS):
        if _listener_protocol(stack, listener) == "HTTP":
            yield (listener, f"protocol is 'HTTP' on port {_q(listener.props.get('port'))}; "
                             "expected 'HTTPS' with a certificate",
                   "Serve HTTPS (protocol='HTTPS', certificate_arn, a TLS 1.3 ssl_policy) and "
                   "keep port 80 only as a redirect to HTTPS.")


@rule("alb-http-redirect",
      "When a load balancer has an HTTPS listener, its HTTP listeners redirect to HTTPS.")
def alb_http_redirect(stack: Stack) -> Iterable[Finding]:
    """HTTP listeners on a load balancer with an HTTPS listener only redirect to HTTPS."""
    for listener in stack.of(*LISTENERS):
        if _listener_protocol(stack, listener) != "HTTP":
            continue
        if any(has_https_listener(stack, lb) for lb in _listener_lbs(stack, listener)):
            if not redirects_to_https(listener):
                yield (listener, "the load balancer has an HTTPS listener but this HTTP "
                                 "listener's defaultActions do not all redirect to HTTPS",
                       "Set default_actions=[{'type': 'redirect', 'redirect': {'protocol': "
                       "'HTTPS', 'port': '443', 'status_code': 'HTTP_301'}}].")


@rule("alb-tls13-policy", "HTTPS/TLS listeners use a TLS 1.3 security policy.")
def alb_tls13_policy(stack: Stack) -> Iterable[Finding]:
    """`sslPolicy` starts with ELBSecurityPolicy-TLS13- on HTTPS/TLS listeners."""
    for listener in stack.of(*LISTENERS):
        if _listener_protocol(stack, listener) not in ("HTTPS", "TLS"):
            continue
        policy = listener.props.get("sslPolicy")
        if not is_unknown(policy) and not (isinstance(policy, str)
                                           and policy.startswith("ELBSecurityPolicy-TLS13-")):
            yield (listener, f"sslPolicy is {_q(policy)}; expected an ELBSecurityPolicy-TLS13-* "
                             "policy",
                   "Set ssl_policy='ELBSecurityPolicy-TLS13-1-2-2021-06'.")


# ---------------------------------------------------------------------------------------------
# S3


def _bucket_children(stack: Stack, bucket: Resource, types: Sequence[str]) -> list[Resource]:
    """Bucket configuration resources of `types` whose `bucket` is this bucket."""
    return _children(stack, bucket, types, "bucket")


def _bucket_policies(stack: Stack, bucket: Resource) -> list[dict[str, Any]]:
    """Parsed policies of the bucket (BucketPolicy resources and the legacy inline policy)."""
    raws = [p.props.get("policy") for p in _bucket_children(stack, bucket, BUCKET_POLICY)]
    raws.append(bucket.props.get("policy"))
    return [d for d in (_parsed(r) for r in raws) if d is not None]


def _bucket_policy_unknown(stack: Stack, bucket: Resource) -> bool:
    """True when some policy of the bucket cannot be read yet (UNKNOWN)."""
    return any(is_unknown(p.props.get("policy"))
               for p in _bucket_children(stack, bucket, BUCKET_POLICY))


def _bucket_name(bucket: Resource) -> str | None:
    """The bucket's name when known (its `bucket` input, else its id)."""
    name = bucket.props.get("bucket")
    if isinstance(name, str) and name:
        return name
    return bucket.id if isinstance(bucket.id, str) and bucket.id else None


def _covers_bucket(resources: list[str], name: str | None) -> bool:
    """True when the statement resources cover the bucket and its objects."""
    if "*" in resources:
        return True
    if not resources:
        return False
    if name is None:
        return True
    patterns = [m.group(1) for r in resources
                if (m := re.fullmatch(r"arn:[^:]+:s3:::(.+)", r))]
    bucket_level = any(fnmatch.fnmatchcase(name, p) for p in patterns)
    object_level = any(fnmatch.fnmatchcase(f"{name}/any/key", p) for p in patterns)
    return bucket_level and object_level


def _is_log_delivery_target(bucket: Resource, stack: Stack, *, s3_only: bool = False) -> bool:
    """True when S3 server access logs (or, unless `s3_only`, load balancer access logs) are
    delivered to `bucket`."""
    if stack.referencing(bucket, stack.of(*BUCKET_LOGGING), "targetBucket"):
        return True
    if s3_only:
        return False
    return any(bucket in stack.refers(lb, "accessLogs", lb.get("accessLogs", "bucket"), [bucket])
               for lb in stack.of(*LOAD_BALANCERS) if present(lb.get("accessLogs", "bucket")))


def _sse_defaults(stack: Stack, bucket: Resource) -> list[Mapping[str, Any]]:
    """`applyServerSideEncryptionByDefault` blocks of the bucket's SSE configurations."""
    blocks: list[Mapping[str, Any]] = []
    for conf in _bucket_children(stack, bucket, BUCKET_SSE):
        for r in as_list(conf.props.get("rules")):
            blocks.append(as_mapping(as_mapping(r).get("applyServerSideEncryptionByDefault")))
    return blocks


@rule("s3-public-access-block", "Buckets block public access with all four flags.")
def s3_public_access_block(stack: Stack) -> Iterable[Finding]:
    """A BucketPublicAccessBlock for the bucket with blockPublicAcls, blockPublicPolicy,
    ignorePublicAcls and restrictPublicBuckets all true."""
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for bucket in stack.of(*BUCKETS):
        blocks = _bucket_children(stack, bucket, BUCKET_PAB)
        if not blocks:
            yield (bucket, "no aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock refers to "
                           "this bucket",
                   "Create aws.s3.BucketPublicAccessBlock(bucket=bucket.id, "
                   "block_public_acls=True, block_public_policy=True, ignore_public_acls=True, "
                   "restrict_public_buckets=True).")
            continue
        off = sorted({f for b in blocks for f in flags
                      if not is_unknown(b.props.get(f)) and not is_true(b.props.get(f))})
        if off:
            yield (bucket, f"public access block has {', '.join(off)} not true; expected all "
                           "four flags true",
                   "Set " + ", ".join(re.sub(r"([A-Z])", r"_\1", f).lower() + "=True"
                                      for f in off) + " on the BucketPublicAccessBlock.")


@rule("s3-ownership-enforced", "Buckets use BucketOwnerEnforced object ownership (no ACLs).")
def s3_ownership_enforced(stack: Stack) -> Iterable[Finding]:
    """A BucketOwnershipControls with `rule.objectOwnership` BucketOwnerEnforced."""
    for bucket in stack.of(*BUCKETS):
        controls = _bucket_children(stack, bucket, BUCKET_OWNERSHIP)
        values = [c.get("rule", "objectOwnership") for c in controls]
        if not any(v == "BucketOwnerEnforced" or is_unknown(v) for v in values):
            found = f"objectOwnership is {_q(values[0])}" if values else \
                "no aws:s3/bucketOwnershipControls:BucketOwnershipControls refers to it"
            yield (bucket, f"{found}; expected 'BucketOwnerEnforced'",
                   "Create aws.s3.BucketOwnershipControls(bucket=bucket.id, "
                   "rule={'object_ownership': 'BucketOwnerEnforced'}).")


@rule("s3-tls-only", "Bucket policies deny requests without TLS (aws:SecureTransport=false).")
def s3_tls_only(stack: Stack) -> Iterable[Finding]:
    """A Deny of s3:* to "*" on the bucket and its objects when aws:SecureTransport is false."""
    for bucket in stack.of(*BUCKETS):
        if _bucket_policy_unknown(stack, bucket):
            continue
        name = _bucket_name(bucket)
        ok = any(denies_insecure_transport(st)
                 and any(a in ("*", "s3:*") for a in statement_actions(st))
                 and _covers_bucket(statement_resources(st), name)
                 for doc in _bucket_policies(stack, bucket) for st in statements(doc))
        if not ok:
            yield (bucket, "no bucket policy statement denies s3:* to Principal '*' on the "
                           "bucket and bucket/* when aws:SecureTransport is false",
                   "Add to the bucket policy: {Effect: Deny, Principal: '*', Action: 's3:*', "
                   "Resource: [bucket ARN, bucket ARN + '/*'], Condition: {Bool: "
                   "{'aws:SecureTransport': 'false'}}}.")


@rule("s3-sse-kms", "Buckets default to SSE-KMS with a customer key.")
def s3_sse_kms(stack: Stack) -> Iterable[Finding]:
    """A BucketServerSideEncryptionConfiguration rule with sseAlgorithm aws:kms (or
    aws:kms:dsse) and kmsMasterKeyId."""
    for bucket in stack.of(*BUCKETS):
        defaults = _sse_defaults(stack, bucket)
        if any(is_unknown(d.get("sseAlgorithm")) for d in defaults):
            continue
        if any(d.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse")
               and present(d.get("kmsMasterKeyId")) for d in defaults):
            continue
        found = ", ".join(f"sseAlgorithm {_q(d.get('sseAlgorithm'))} kmsMasterKeyId "
                          f"{_q(d.get('kmsMasterKeyId'))}" for d in defaults) \
            or "no aws:s3/bucketServerSideEncryptionConfiguration refers to it"
        yield (bucket, f"default encryption: {found}; expected sseAlgorithm 'aws:kms' with "
                       "kmsMasterKeyId",
               "Create aws.s3.BucketServerSideEncryptionConfiguration(bucket=bucket.id, "
               "rules=[{'apply_server_side_encryption_by_default': {'sse_algorithm': 'aws:kms',"
               " 'kms_master_key_id': key.arn}, 'bucket_key_enabled': True}]).")


@rule("s3-versioning", "Buckets have versioning enabled.")
def s3_versioning(stack: Stack) -> Iterable[Finding]:
    """A BucketVersioning with `versioningConfiguration.status` Enabled."""
    for bucket in stack.of(*BUCKETS):
        configs = _bucket_children(stack, bucket, BUCKET_VERSIONING)
        statuses = [c.get("versioningConfiguration", "status") for c in configs]
        if not any(s == "Enabled" or is_unknown(s) for s in statuses):
            found = f"status {_q(statuses[0])}" if statuses else \
                "no aws:s3/bucketVersioning:BucketVersioning refers to it"
            yield (bucket, f"versioning: {found}; expected versioningConfiguration.status "
                           "'Enabled'",
                   "Create aws.s3.BucketVersioning(bucket=bucket.id, "
                   "versioning_configuration={'status': 'Enabled'}).")


@rule("s3-access-logging", "Buckets write server access logs to a log bucket.")
def s3_access_logging(stack: Stack) -> Iterable[Finding]:
    """A BucketLogging whose `bucket` is the bucket, with a `targetBucket`."""
    for bucket in stack.of(*BUCKETS):
        logs = _bucket_children(stack, bucket, BUCKET_LOGGING)
        if not any(present(entry.props.get("targetBucket")) for entry in logs):
            yield (bucket, "no aws:s3/bucketLogging:BucketLogging with a targetBucket refers to "
                           "this bucket",
                   "Create aws.s3.BucketLogging(bucket=bucket.id, "
                   "target_bucket=access_log_bucket.id, target_prefix='<bucket>/').")


@rule("s3-lifecycle", "Buckets have lifecycle rules.")
def s3_lifecycle(stack: Stack) -> Iterable[Finding]:
    """A BucketLifecycleConfiguration for the bucket with at least one Enabled rule."""
    for bucket in stack.of(*BUCKETS):
        configs = _bucket_children(stack, bucket, BUCKET_LIFECYCLE)
        rules = [as_mapping(r) for c in configs for r in as_list(c.props.get("rules"))]
        if not any(r.get("status") == "Enabled" or is_unknown(r.get("status")) for r in rules):
            yield (bucket, "no aws:s3/bucketLifecycleConfiguration with an Enabled rule refers "
                           "to this bucket",
                   "Create aws.s3.BucketLifecycleConfiguration(bucket=bucket.id, rules=[...]) "
                   "expiring noncurrent versions and aborting incomplete uploads.")


# ---------------------------------------------------------------------------------------------
# DynamoDB


@rule("dynamodb-on-demand", "DynamoDB tables use on-demand billing.")
def dynamodb_on_demand(stack: Stack) -> Iterable[Finding]:
    """`billingMode` PAY_PER_REQUEST."""
    for table in stack.of(DYNAMODB_TABLE):
        mode = table.props.get("billingMode")
        if not is_unknown(mode) and mode != "PAY_PER_REQUEST":
            yield (table, f"billingMode is {_q(mode)}; expected 'PAY_PER_REQUEST'",
                   "Set billing_mode='PAY_PER_REQUEST'.")


@rule("dynamodb-pitr", "DynamoDB tables have point-in-time recovery.")
def dynamodb_pitr(stack: Stack) -> Iterable[Finding]:
    """`pointInTimeRecovery.enabled` true."""
    for table in stack.of(DYNAMODB_TABLE):
        enabled = table.get("pointInTimeRecovery", "enabled")
        if not is_unknown(enabled) and not is_true(enabled):
            yield (table, f"pointInTimeRecovery.enabled is {_q(enabled)}; expected true",
                   "Set point_in_time_recovery={'enabled': True}.")


@rule("dynamodb-kms", "DynamoDB tables are encrypted with a customer KMS key.")
def dynamodb_kms(stack: Stack) -> Iterable[Finding]:
    """`serverSideEncryption.enabled` true with `kmsKeyArn`."""
    for table in stack.of(DYNAMODB_TABLE):
        enabled = table.get("serverSideEncryption", "enabled")
        key = table.get("serverSideEncryption", "kmsKeyArn")
        if is_unknown(enabled):
            continue
        if not is_true(enabled) or not present(key):
            yield (table, f"serverSideEncryption.enabled is {_q(enabled)}, kmsKeyArn {_q(key)}; "
                          "expected enabled true with the region's key",
                   "Set server_side_encryption={'enabled': True, 'kms_key_arn': key.arn}.")


@rule("dynamodb-deletion-protection",
      "DynamoDB tables of a protected (prod) stack have deletion protection.")
def dynamodb_deletion_protection(stack: Stack) -> Iterable[Finding]:
    """In a protected stack, `deletionProtectionEnabled` true."""
    if not is_protected_stack(stack):
        return
    for table in stack.of(DYNAMODB_TABLE):
        value = table.props.get("deletionProtectionEnabled")
        if not is_unknown(value) and not is_true(value):
            yield (table, f"deletionProtectionEnabled is {_q(value)} in a protected stack; "
                          "expected true",
                   "Set deletion_protection_enabled=True when the stack is protected.")


# ---------------------------------------------------------------------------------------------
# SNS


def _topic_policies(stack: Stack, topic: Resource) -> list[Any]:
    """Raw policies of the topic: its inline `policy` and TopicPolicy resources."""
    raws = [topic.props.get("policy")]
    raws += [p.props.get("policy") for p in _children(stack, topic, (SNS_TOPIC_POLICY,), "arn")]
    return [r for r in raws if r is not None]


@rule("sns-kms", "SNS topics are encrypted with a KMS key.")
def sns_kms(stack: Stack) -> Iterable[Finding]:
    """`kmsMasterKeyId` set."""
    for topic in stack.of(SNS_TOPIC):
        if not present(topic.props.get("kmsMasterKeyId")):
            yield (topic, "kmsMasterKeyId is not set; expected the region's KMS key",
                   "Set kms_master_key_id=key.arn (the key policy must let the publishing "
                   "services use it).")


@rule("sns-tls-publish", "SNS topic policies deny publishing without TLS.")
def sns_tls_publish(stack: Stack) -> Iterable[Finding]:
    """A Deny covering sns:Publish to "*" when aws:SecureTransport is false."""
    for topic in stack.of(SNS_TOPIC):
        raws = _topic_policies(stack, topic)
        if any(is_unknown(r) for r in raws):
            continue
        ok = any(denies_insecure_transport(st)
                 and any(fnmatch.fnmatchcase("sns:publish", a.lower())
                         for a in statement_actions(st))
                 for doc in (_parsed(r) for r in raws) if doc is not None
                 for st in statements(doc))
        if not ok:
            yield (topic, "no topic policy statement denies sns:Publish to Principal '*' when "
                          "aws:SecureTransport is false",
                   "Add an aws.sns.TopicPolicy with {Effect: Deny, Principal: '*', Action: "
                   "'sns:Publish', Resource: topic ARN, Condition: {Bool: "
                   "{'aws:SecureTransport': 'false'}}}.")


# ---------------------------------------------------------------------------------------------
# CloudTrail


@rule("cloudtrail-single-trail", "An AWS stack has exactly one CloudTrail trail.")
def cloudtrail_single_trail(stack: Stack) -> Iterable[Finding]:
    """Zero trails in a stack with an aws provider, or more than one trail, is a violation."""
    trails = stack.of(CLOUDTRAIL)
    if not trails and stack.of(AWS_PROVIDER_TYPE):
        yield (None, "the stack has no aws:cloudtrail/trail:Trail; expected one multi-region "
                     "trail in the primary region",
               "Create the audit trail in the primary region (audit.py).")
    for extra in trails[1:]:
        yield (extra, f"the stack has {len(trails)} trails (first: {trails[0].urn}); expected "
                      "exactly one multi-region trail",
               "Keep one multi-region trail; remove the others.")


@rule("cloudtrail-configuration", "The trail is multi-region, validated, KMS-encrypted and "
                                  "delivers to CloudWatch Logs.")
def cloudtrail_configuration(stack: Stack) -> Iterable[Finding]:
    """isMultiRegionTrail, includeGlobalServiceEvents (default true), enableLogFileValidation,
    enableLogging (default true), kmsKeyId, cloudWatchLogsGroupArn and cloudWatchLogsRoleArn."""
    for trail in stack.of(CLOUDTRAIL):
        p = trail.props
        for prop, default, fix in (
                ("isMultiRegionTrail", False, "is_multi_region_trail=True"),
                ("includeGlobalServiceEvents", True, "include_global_service_events=True"),
                ("enableLogFileValidation", False, "enable_log_file_validation=True"),
                ("enableLogging", True, "enable_logging=True")):
            value = default if p.get(prop) is None else p.get(prop)
            if not is_unknown(value) and not is_true(value):
                yield (trail, f"{prop} is {_q(p.get(prop))}; expected true", f"Set {fix}.")
        for prop, fix in (("kmsKeyId", "kms_key_id=<region key ARN>"),
                          ("cloudWatchLogsGroupArn", "cloud_watch_logs_group_arn=f'{group.arn}:*'"),
                          ("cloudWatchLogsRoleArn", "cloud_watch_logs_role_arn=<delivery role>")):
            if not present(p.get(prop)):
                yield (trail, f"{prop} is not set", f"Set {fix}.")


def _field_selectors(selector: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """An advanced event selector's field selectors by field name."""
    return {as_mapping(f).get("field"): as_mapping(f)
            for f in as_list(selector.get("fieldSelectors"))}


@rule("cloudtrail-management-events", "The trail records read and write management events.")
def cloudtrail_management_events(stack: Stack) -> Iterable[Finding]:
    """No selectors (the default), an event selector with includeManagementEvents and
    readWriteType All, or an advanced selector for eventCategory Management without readOnly."""
    for trail in stack.of(CLOUDTRAIL):
        basic = trail.props.get("eventSelectors")
        advanced = trail.props.get("advancedEventSelectors")
        if is_unknown(basic) or is_unknown(advanced) or not (present(basic) or present(advanced)):
            continue
        ok = any(as_mapping(s).get("includeManagementEvents", True) is not False
                 and as_mapping(s).get("readWriteType", "All") == "All" for s in as_list(basic))
        for sel in as_list(advanced):
            fields = _field_selectors(as_mapping(sel))
            if ("Management" in as_list(fields.get("eventCategory", {}).get("equals"))
                    and "readOnly" not in fields):
                ok = True
        if not ok:
            yield (trail, "no event selector records all management events (read and write)",
                   "Add an event selector with include_management_events=True and "
                   "read_write_type='All' (or an advanced selector eventCategory=Management).")


@rule("cloudtrail-s3-data-events", "The trail records S3 data events.")
def cloudtrail_s3_data_events(stack: Stack) -> Iterable[Finding]:
    """An event selector with a dataResources type AWS::S3::Object, or an advanced selector
    eventCategory Data + resources.type AWS::S3::Object."""
    for trail in stack.of(CLOUDTRAIL):
        basic = trail.props.get("eventSelectors")
        advanced = trail.props.get("advancedEventSelectors")
        if is_unknown(basic) or is_unknown(advanced):
            continue
        ok = any(as_mapping(d).get("type") == "AWS::S3::Object"
                 and present(as_mapping(d).get("values"))
                 for s in as_list(basic) for d in as_list(as_mapping(s).get("dataResources")))
        for sel in as_list(advanced):
            fields = _field_selectors(as_mapping(sel))
            if ("Data" in as_list(fields.get("eventCategory", {}).get("equals"))
                    and "AWS::S3::Object" in as_list(fields.get("resources.type", {})
                                                     .get("equals"))):
                ok = True
        if not ok:
            yield (trail, "no event selector records S3 data events (AWS::S3::Object)",
                   "Add event_selectors=[{..., 'data_resources': [{'type': 'AWS::S3::Object', "
                   "'values': [f'{lake_bucket.arn}/']}]}].")


# ---------------------------------------------------------------------------------------------
# CloudWatch


@rule("logs-retention", "Log groups have a retention period.")
def logs_retention(stack: Stack) -> Iterable[Finding]:
    """`retentionInDays` set and positive (0 means never expire)."""
    for group in stack.of(LOG_GROUP):
        days = group.props.get("retentionInDays")
        if is_unknown(days):
            continue
        value = _int(days)
        if value is None or value <= 0:
            yield (group, f"retentionInDays is {_q(days)}; expected a positive number of days",
                   "Set retention_in_days from the stack's retention config.")


@rule("logs-kms", "Log groups are encrypted with a KMS key.")
def logs_kms(stack: Stack) -> Iterable[Finding]:
    """`kmsKeyId` set."""
    for group in stack.of(LOG_GROUP):
        if not present(group.props.get("kmsKeyId")):
            yield (group, "kmsKeyId is not set; expected the region's KMS key ARN",
                   "Set kms_key_id=key.arn (the key policy must allow "
                   "logs.<region>.amazonaws.com).")


def _log_group_name_from_arn(arn: Any) -> str | None:
    """The log group name inside a log-group ARN (trailing ':*' allowed)."""
    if not isinstance(arn, str):
        return None
    m = re.search(r":log-group:([^:]+)", arn)
    return m.group(1) if m else None


def _alarmed(stack: Stack, metric_filter: Resource) -> bool:
    """True when a MetricAlarm with alarm actions watches the filter's metric."""
    transform = as_mapping(metric_filter.props.get("metricTransformation"))
    name, namespace = transform.get("name"), transform.get("namespace")
    for alarm in stack.of(METRIC_ALARM):
        if not all(is_unknown(want) or is_unknown(got) or want == got
                   for want, got in ((name, alarm.props.get("metricName")),
                                     (namespace, alarm.props.get("namespace")))):
            continue
        if alarm.props.get("actionsEnabled") is False:
            continue
        if present(alarm.props.get("alarmActions")):
            return True
    return False


@rule("cis-metric-filters", "With a trail, every CIS metric filter exists on its log group and "
                            "raises an alarm with actions.")
def cis_metric_filters(stack: Stack) -> Iterable[Finding]:
    """For each CIS_METRIC_FILTERS entry: a LogMetricFilter on the trail's log group whose
    pattern has the entry's terms, and a MetricAlarm on its metric with alarmActions."""
    trails = stack.of(CLOUDTRAIL)
    if not trails:
        return
    trail = trails[0]
    trail_arn = trail.props.get("cloudWatchLogsGroupArn")
    group_name = _log_group_name_from_arn(trail_arn)
    filters = [f for f in stack.of(LOG_METRIC_FILTER)
               if is_unknown(trail_arn) or group_name is None
               or is_unknown(f.props.get("logGroupName"))
               or f.props.get("logGroupName") == group_name]
    for cis in CIS_METRIC_FILTERS.values():
        matching = [f for f in filters
                    if is_unknown(f.props.get("pattern"))
                    or (isinstance(f.props.get("pattern"), str)
                        and cis.matches(f.props["pattern"]))]
        on = f"log group {_q(group_name)}" if group_name else "the trail's log group"
        if not matching:
            yield (trail, f"no CloudWatch metric filter on {on} covers CIS '{cis.id}' "
                          f"({cis.title}); its pattern must mention "
                          f"{', '.join(cis.required_terms)}",
                   f"Create aws.cloudwatch.LogMetricFilter with pattern "
                   f"CIS_METRIC_FILTERS['{cis.id}'].pattern and an alarm on its metric.")
        elif not any(_alarmed(stack, f) for f in matching):
            yield (trail, f"the metric filter for CIS '{cis.id}' ({cis.title}) has no "
                          "MetricAlarm with alarmActions on its metric",
                   "Create aws.cloudwatch.MetricAlarm(metric_name=<filter metric>, "
                   "namespace=<filter namespace>, threshold=1, alarm_actions=[alert_topic.arn]).")


# ---------------------------------------------------------------------------------------------
# Registries built from the rules above, and the exceptions.

RULES: Final[tuple[Rule, ...]] = tuple(_REGISTRY)
RULES_BY_ID: Final[Mapping[str, Rule]] = {r.id: r for r in RULES}


@dataclass(frozen=True)
class PolicyException:
    """A recorded waiver: violations of `rule` by resources `applies` to become exemptions."""

    rule: str
    name: str
    applies: Callable[[Resource, Stack], bool]
    reason: str


def _http_listener_without_certificate(listener: Resource, stack: Stack) -> bool:
    """An HTTP listener whose load balancer has no HTTPS listener (no certificate configured)."""
    lbs = _listener_lbs(stack, listener)
    return bool(lbs) and not any(has_https_listener(stack, lb) for lb in lbs)


def _log_target_with_sse_s3(bucket: Resource, stack: Stack) -> bool:
    """A bucket receiving S3/ELB access logs whose default encryption is SSE-S3 (AES256)."""
    return (_is_log_delivery_target(bucket, stack)
            and any(d.get("sseAlgorithm") == "AES256" for d in _sse_defaults(stack, bucket)))


EXCEPTIONS: Final[tuple[PolicyException, ...]] = (
    PolicyException(
        "alb-listener-https", "http-redirect-listener",
        lambda r, s: redirects_to_https(r),
        "The port-80 listener only redirects clients to HTTPS; it serves no content."),
    PolicyException(
        "alb-listener-https", "http-listener-without-certificate",
        _http_listener_without_certificate,
        "The load balancer has no certificate configured (no HTTPS listener), so HTTP is the "
        "only listener; once a certificate is configured, alb-http-redirect applies."),
    PolicyException(
        "s3-sse-kms", "log-delivery-bucket-sse-s3",
        _log_target_with_sse_s3,
        "S3 server access logs and load balancer access logs can only be delivered to buckets "
        "encrypted with SSE-S3 (AES256); SSE-KMS is not supported for these destinations."),
    PolicyException(
        "s3-access-logging", "access-log-bucket",
        lambda r, s: _is_log_delivery_target(r, s, s3_only=True),
        "The server-access-log bucket is the end of the logging chain: logging it into itself "
        "would loop, logging it elsewhere would need another log bucket."),
)
"""The only list of waivers. Each violation they match is reported as an exemption."""
