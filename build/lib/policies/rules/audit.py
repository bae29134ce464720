"""Audit rules: the one CloudTrail trail and its configuration, CloudWatch log groups, and the
CIS metric filters with their alarms."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from components.baseline import CIS_METRIC_FILTERS
from policies.model import (
    AWS_PROVIDER_TYPE,
    Resource,
    Stack,
    as_list,
    as_mapping,
    is_true,
    is_unknown,
    present,
)
from policies.rules.helpers import as_int, quote
from policies.rules.registry import Finding, rule
from policies.rules.types import CLOUDTRAIL, LOG_GROUP, LOG_METRIC_FILTER, METRIC_ALARM

# ---------------------------------------------------------------------------------------------
# CloudTrail


@rule("cloudtrail-single-trail", "An AWS stack has exactly one CloudTrail trail.")
def cloudtrail_single_trail(stack: Stack) -> Iterable[Finding]:
    """Zero trails in a stack with an aws provider, or more than one trail, is a violation."""
    trails = stack.of(CLOUDTRAIL)
    if not trails and stack.of(AWS_PROVIDER_TYPE):
        yield (
            None,
            "the stack has no aws:cloudtrail/trail:Trail; expected one multi-region "
            "trail in the primary region",
            "Create the audit trail in the primary region (audit.py).",
        )
    for extra in trails[1:]:
        yield (
            extra,
            f"the stack has {len(trails)} trails (first: {trails[0].urn}); expected "
            "exactly one multi-region trail",
            "Keep one multi-region trail; remove the others.",
        )


@rule(
    "cloudtrail-configuration",
    "The trail is multi-region, validated, KMS-encrypted and delivers to CloudWatch Logs.",
)
def cloudtrail_configuration(stack: Stack) -> Iterable[Finding]:
    """isMultiRegionTrail, includeGlobalServiceEvents (default true), enableLogFileValidation,
    enableLogging (default true), kmsKeyId, cloudWatchLogsGroupArn and cloudWatchLogsRoleArn."""
    for trail in stack.of(CLOUDTRAIL):
        p = trail.props
        for prop, default, fix in (
            ("isMultiRegionTrail", False, "is_multi_region_trail=True"),
            ("includeGlobalServiceEvents", True, "include_global_service_events=True"),
            ("enableLogFileValidation", False, "enable_log_file_validation=True"),
            ("enableLogging", True, "enable_logging=True"),
        ):
            value = default if p.get(prop) is None else p.get(prop)
            if not is_unknown(value) and not is_true(value):
                yield (trail, f"{prop} is {quote(p.get(prop))}; expected true", f"Set {fix}.")
        for prop, fix in (
            ("kmsKeyId", "kms_key_id=<region key ARN>"),
            ("cloudWatchLogsGroupArn", "cloud_watch_logs_group_arn=f'{group.arn}:*'"),
            ("cloudWatchLogsRoleArn", "cloud_watch_logs_role_arn=<delivery role>"),
        ):
            if not present(p.get(prop)):
                yield (trail, f"{prop} is not set", f"Set {fix}.")


def _field_selectors(selector: Mapping[str, Any]) -> dict[Any, Mapping[str, Any]]:
    """An advanced event selector's field selectors by field name."""
    return {
        as_mapping(f).get("field"): as_mapping(f) for f in as_list(selector.get("fieldSelectors"))
    }


@rule("cloudtrail-management-events", "The trail records read and write management events.")
def cloudtrail_management_events(stack: Stack) -> Iterable[Finding]:
    """No selectors (the default), an event selector with includeManagementEvents and
    readWriteType All, or an advanced selector for eventCategory Management without readOnly."""
    for trail in stack.of(CLOUDTRAIL):
        basic = trail.props.get("eventSelectors")
        advanced = trail.props.get("advancedEventSelectors")
        if is_unknown(basic) or is_unknown(advanced) or not (present(basic) or present(advanced)):
            continue
        ok = any(
            as_mapping(s).get("includeManagementEvents", True) is not False
            and as_mapping(s).get("readWriteType", "All") == "All"
            for s in as_list(basic)
        )
        for sel in as_list(advanced):
            fields = _field_selectors(as_mapping(sel))
            if (
                "Management" in as_list(fields.get("eventCategory", {}).get("equals"))
                and "readOnly" not in fields
            ):
                ok = True
        if not ok:
            yield (
                trail,
                "no event selector records all management events (read and write)",
                "Add an event selector with include_management_events=True and "
                "read_write_type='All' (or an advanced selector eventCategory=Management).",
            )


@rule("cloudtrail-s3-data-events", "The trail records S3 data events.")
def cloudtrail_s3_data_events(stack: Stack) -> Iterable[Finding]:
    """An event selector with a dataResources type AWS::S3::Object, or an advanced selector
    eventCategory Data + resources.type AWS::S3::Object."""
    for trail in stack.of(CLOUDTRAIL):
        basic = trail.props.get("eventSelectors")
        advanced = trail.props.get("advancedEventSelectors")
        if is_unknown(basic) or is_unknown(advanced):
            continue
        ok = any(
            as_mapping(d).get("type") == "AWS::S3::Object" and present(as_mapping(d).get("values"))
            for s in as_list(basic)
            for d in as_list(as_mapping(s).get("dataResources"))
        )
        for sel in as_list(advanced):
            fields = _field_selectors(as_mapping(sel))
            if "Data" in as_list(
                fields.get("eventCategory", {}).get("equals")
            ) and "AWS::S3::Object" in as_list(fields.get("resources.type", {}).get("equals")):
                ok = True
        if not ok:
            yield (
                trail,
                "no event selector records S3 data events (AWS::S3::Object)",
                "Add event_selectors=[{..., 'data_resources': [{'type': 'AWS::S3::Object', "
                "'values': [f'{lake_bucket.arn}/']}]}].",
            )


# ---------------------------------------------------------------------------------------------
# CloudWatch


@rule("logs-retention", "Log groups have a retention period.")
def logs_retention(stack: Stack) -> Iterable[Finding]:
    """`retentionInDays` set and positive (0 means never expire)."""
    for group in stack.of(LOG_GROUP):
        days = group.props.get("retentionInDays")
        if is_unknown(days):
            continue
        value = as_int(days)
        if value is None or value <= 0:
            yield (
                group,
                f"retentionInDays is {quote(days)}; expected a positive number of days",
                "Set retention_in_days from the stack's retention config.",
            )


@rule("logs-kms", "Log groups are encrypted with a KMS key.")
def logs_kms(stack: Stack) -> Iterable[Finding]:
    """`kmsKeyId` set."""
    for group in stack.of(LOG_GROUP):
        if not present(group.props.get("kmsKeyId")):
            yield (
                group,
                "kmsKeyId is not set; expected the region's KMS key ARN",
                "Set kms_key_id=key.arn (the key policy must allow logs.<region>.amazonaws.com).",
            )


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
        if not all(
            is_unknown(want) or is_unknown(got) or want == got
            for want, got in (
                (name, alarm.props.get("metricName")),
                (namespace, alarm.props.get("namespace")),
            )
        ):
            continue
        if alarm.props.get("actionsEnabled") is False:
            continue
        if present(alarm.props.get("alarmActions")):
            return True
    return False


@rule(
    "cis-metric-filters",
    "With a trail, every CIS metric filter exists on its log group and "
    "raises an alarm with actions.",
)
def cis_metric_filters(stack: Stack) -> Iterable[Finding]:
    """For each CIS_METRIC_FILTERS entry: a LogMetricFilter on the trail's log group whose
    pattern has the entry's terms, and a MetricAlarm on its metric with alarmActions."""
    trails = stack.of(CLOUDTRAIL)
    if not trails:
        return
    trail = trails[0]
    trail_arn = trail.props.get("cloudWatchLogsGroupArn")
    group_name = _log_group_name_from_arn(trail_arn)
    filters = [
        f
        for f in stack.of(LOG_METRIC_FILTER)
        if is_unknown(trail_arn)
        or group_name is None
        or is_unknown(f.props.get("logGroupName"))
        or f.props.get("logGroupName") == group_name
    ]
    for cis in CIS_METRIC_FILTERS.values():
        matching = [
            f
            for f in filters
            if is_unknown(f.props.get("pattern"))
            or (isinstance(f.props.get("pattern"), str) and cis.matches(f.props["pattern"]))
        ]
        on = f"log group {quote(group_name)}" if group_name else "the trail's log group"
        if not matching:
            yield (
                trail,
                f"no CloudWatch metric filter on {on} covers CIS '{cis.id}' "
                f"({cis.title}); its pattern must mention "
                f"{', '.join(cis.required_terms)}",
                f"Create aws.cloudwatch.LogMetricFilter with pattern "
                f"CIS_METRIC_FILTERS['{cis.id}'].pattern and an alarm on its metric.",
            )
        elif not any(_alarmed(stack, f) for f in matching):
            yield (
                trail,
                f"the metric filter for CIS '{cis.id}' ({cis.title}) has no "
                "MetricAlarm with alarmActions on its metric",
                "Create aws.cloudwatch.MetricAlarm(metric_name=<filter metric>, "
                "namespace=<filter namespace>, threshold=1, alarm_actions=[alert_topic.arn]).",
            )
