"""Compute rules: launch templates and instances (IMDSv2, encrypted EBS, no public IP), auto
scaling groups (AZs, instance types, ELB health checks) and EFS file systems."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from policies.model import Stack, as_list, as_mapping, is_true, is_unknown, present
from policies.rules.helpers import children, distinct_azs, quote
from policies.rules.registry import Finding, rule
from policies.rules.types import (
    ASG,
    EBS_VOLUME,
    EFS_ACCESS_POINT,
    EFS_BACKUP_POLICY,
    EFS_FILE_SYSTEM,
    INSTANCE,
    LAUNCH_TEMPLATE,
)

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
            yield (
                res,
                f"metadataOptions.httpTokens is {quote(tokens)}; expected 'required'",
                "Set metadata_options={'http_tokens': 'required', 'http_endpoint': "
                "'enabled'} (IMDSv2 only).",
            )


def _ebs_problem(ebs: Mapping[str, Any]) -> str | None:
    """What is wrong with an EBS block (encrypted + kmsKeyId), or None."""
    encrypted, key = ebs.get("encrypted"), ebs.get("kmsKeyId")
    if is_unknown(encrypted):
        return None
    if not is_true(encrypted):
        return f"encrypted is {quote(encrypted)}; expected true"
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
        ebs_mappings = [
            (i, as_mapping(m))
            for i, m in enumerate(as_list(mappings))
            if present(as_mapping(m).get("ebs"))
        ]
        if not ebs_mappings:
            yield (
                lt,
                "blockDeviceMappings declares no EBS volume, so root-volume encryption "
                "is left to the AMI; expected the root device with ebs.encrypted=true "
                "and ebs.kmsKeyId",
                fix,
            )
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
                yield (
                    lt,
                    f"networkInterfaces[{i}].associatePublicIpAddress is true; expected false",
                    fix,
                )
    for inst in stack.of(INSTANCE):
        if is_true(inst.props.get("associatePublicIpAddress")):
            yield (inst, "associatePublicIpAddress is true; expected false", fix)


@rule("asg-multi-az", "Auto scaling groups span at least 2 availability zones.")
def asg_multi_az(stack: Stack) -> Iterable[Finding]:
    """`vpcZoneIdentifiers` (resolved to AZs) or `availabilityZones`: at least 2 distinct."""
    for asg in stack.of(ASG):
        if present(asg.props.get("vpcZoneIdentifiers")):
            count = distinct_azs(
                stack, asg, "vpcZoneIdentifiers", asg.props.get("vpcZoneIdentifiers")
            )
            where = "vpcZoneIdentifiers"
        else:
            zones = asg.props.get("availabilityZones")
            count = None if is_unknown(zones) else len(set(as_list(zones)))
            where = "availabilityZones"
        if count is not None and count < 2:
            yield (
                asg,
                f"{where} covers {count} availability zone(s); expected at least 2",
                "Pass subnets in at least two AZs as vpc_zone_identifiers.",
            )


@rule(
    "asg-mixed-instance-types",
    "A mixed-instances auto scaling group offers at least 2 instance types.",
)
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
            yield (
                asg,
                f"mixedInstancesPolicy.launchTemplate.overrides lists {len(types)} "
                "instance type(s); expected at least 2",
                "List at least two interchangeable instance types in the overrides so "
                "capacity shortages in one type do not stop scaling.",
            )


@rule(
    "asg-elb-health-check", "An auto scaling group behind a load balancer uses ELB health checks."
)
def asg_elb_health_check(stack: Stack) -> Iterable[Finding]:
    """With `targetGroupArns`, `loadBalancers` or `trafficSources`: healthCheckType "ELB"."""
    for asg in stack.of(ASG):
        behind = [
            p
            for p in ("targetGroupArns", "loadBalancers", "trafficSources")
            if present(asg.props.get(p))
        ]
        check_type = asg.props.get("healthCheckType")
        if behind and not is_unknown(check_type) and check_type != "ELB":
            yield (
                asg,
                f"{behind[0]} is set but healthCheckType is {quote(check_type)}; expected 'ELB'",
                "Set health_check_type='ELB' (and a health_check_grace_period) so instances "
                "failing the load balancer's checks are replaced.",
            )


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
        policies = children(stack, fs, (EFS_BACKUP_POLICY,), "fileSystemId")
        statuses = [p.get("backupPolicy", "status") for p in policies]
        if not any(s == "ENABLED" or is_unknown(s) for s in statuses):
            found = f"status {quote(statuses[0])}" if statuses else "no aws:efs/backupPolicy"
            yield (
                fs,
                f"automatic backups are off ({found}); expected backupPolicy.status 'ENABLED'",
                "Create aws.efs.BackupPolicy(file_system_id=fs.id, "
                "backup_policy={'status': 'ENABLED'}).",
            )


@rule("efs-access-point", "EFS access points use a non-root path and a POSIX user.")
def efs_access_point(stack: Stack) -> Iterable[Finding]:
    """`rootDirectory.path` other than "/" and `posixUser` with uid and gid."""
    for ap in stack.of(EFS_ACCESS_POINT):
        path = ap.get("rootDirectory", "path")
        if not is_unknown(path) and (not present(path) or str(path).rstrip("/") == ""):
            yield (
                ap,
                f"rootDirectory.path is {quote(path)}; expected a sub-directory such as '/home'",
                "Set root_directory={'path': '/<dir>', 'creation_info': {...}}.",
            )
        posix = ap.props.get("posixUser")
        if not is_unknown(posix) and not (
            present(as_mapping(posix).get("uid")) and present(as_mapping(posix).get("gid"))
        ):
            yield (
                ap,
                "posixUser is not set with uid and gid; clients would act as "
                "themselves (possibly root)",
                "Set posix_user={'uid': ..., 'gid': ...}.",
            )
