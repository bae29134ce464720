"""The global HTTPS entry (``mlops:dns``, components/entry): per region a DNS-validated
certificate the HTTPS listener waits for, a health check with its alarm, and an alias record
with the configured routing; production serves no plain HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.runtime import mocks as pulumi_mocks
from render_cache import prod_latency_without_standby, render_config  # tests/render_cache.py

from components.entry import health_check_problems, worst_case_failover_seconds
from stacks.config import ConfigError, load_stack_config, parse_raw_config
from stacks.offline import MOCK_ACCOUNT_ID, PROJECT_DIR, Plan
from stacks.offline.mocks import RecordingMocks

CERT = "aws:acm/certificate:Certificate"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
HEALTH = "aws:route53/healthCheck:HealthCheck"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
LISTENER = "aws:lb/listener:Listener"


@pytest.fixture(scope="module")
def prod_entry_plan(prod_plan: Plan) -> Plan:
    """prod as the session rendered it (the offline mocks answer a certificate's DNS
    validation option as ACM does: one CNAME per domain name and account, the same in every
    region; stacks/offline/mocks.py)."""
    return prod_plan


def acm_validation_name(domain: str, account: str) -> str:
    """The validation record name ACM gives ``domain`` in ``account`` (as the mocks answer)."""
    mocks = RecordingMocks(account)
    args = pulumi_mocks.MockResourceArgs(
        typ=CERT, name="c", inputs={"domainName": domain}, provider="", resource_id=""
    )
    _, state = mocks.new_resource_at(f"urn:pulumi:s::p::{CERT}::c", args)
    (option,) = state["domainValidationOptions"]
    return str(option["resourceRecordName"])


def _in(plan: Plan, typ: str, region: str) -> list[dict[str, Any]]:
    return [r for r in plan.of_type(typ) if r["region"] == region]


def test_each_region_validates_its_own_certificate_through_one_shared_record(
    prod_entry_plan: Plan,
) -> None:
    cfg = load_stack_config(PROJECT_DIR, "prod")
    assert cfg.dns is not None
    records = [r for r in prod_entry_plan.of_type(RECORD) if r["inputs"].get("type") == "CNAME"]
    # One validation record, owned by the primary region.
    assert len(records) == 1 and records[0]["region"] == cfg.primary_region
    account = cfg.allowed_account_ids[0] if cfg.allowed_account_ids else MOCK_ACCOUNT_ID
    assert records[0]["inputs"]["name"] == acm_validation_name(cfg.dns.record_name, account)
    assert records[0]["inputs"]["zoneId"] == cfg.dns.zone_id
    for region in cfg.regions:
        (cert,) = _in(prod_entry_plan, CERT, region.name)
        assert cert["inputs"]["domainName"] == cfg.dns.record_name
        assert cert["inputs"]["validationMethod"] == "DNS"
        (validation,) = _in(prod_entry_plan, VALIDATION, region.name)
        assert validation["inputs"]["validationRecordFqdns"] == [records[0]["inputs"]["name"]]
        # Every region's validation waits for the shared record (created in the same update).
        assert records[0]["urn"] in validation["dependencies"]


def test_prod_serves_https_only_and_the_listener_waits_for_the_validation(
    prod_entry_plan: Plan,
) -> None:
    for region in load_stack_config(PROJECT_DIR, "prod").regions:
        listeners = _in(prod_entry_plan, LISTENER, region.name)
        (https,) = [li for li in listeners if li["inputs"]["protocol"] == "HTTPS"]
        (validation,) = _in(prod_entry_plan, VALIDATION, region.name)
        assert validation["urn"] in https["dependencies"]
        assert https["inputs"]["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
        # No HTTP listener forwards traffic: port 80 only redirects to 443.
        for li in listeners:
            if li["inputs"]["protocol"] == "HTTP":
                (action,) = li["inputs"]["defaultActions"]
                assert action["type"] == "redirect"
                assert action["redirect"]["protocol"] == "HTTPS"


def test_health_checks_alarms_and_failover_records_per_region(prod_entry_plan: Plan) -> None:
    cfg = load_stack_config(PROJECT_DIR, "prod")
    assert cfg.dns is not None
    roles = {cfg.regions[0].name: "PRIMARY", cfg.regions[1].name: "SECONDARY"}
    for region in cfg.regions:
        (health,) = _in(prod_entry_plan, HEALTH, region.name)
        (alb,) = _in(prod_entry_plan, "aws:lb/loadBalancer:LoadBalancer", region.name)
        assert health["inputs"]["type"] == "HTTPS" and health["inputs"]["port"] == 443
        assert health["inputs"]["resourcePath"] == "/health"
        assert (health["inputs"]["requestInterval"], health["inputs"]["failureThreshold"]) == (
            10,
            3,
        )
        assert health["inputs"]["fqdn"].endswith(f".{region.name}.elb.amazonaws.com")
        (alarm,) = [a for a in _in(prod_entry_plan, ALARM, region.name) if "entry" in a["name"]]
        assert alarm["inputs"]["region"] == "us-east-1"
        assert alarm["inputs"]["namespace"] == "AWS/Route53"
        assert alarm["inputs"]["metricName"] == "HealthCheckStatus"
        assert alarm["inputs"]["dimensions"] == {"HealthCheckId": health["id"]}
        assert alarm["inputs"]["alarmActions"] == [cfg.dns.health_alarm_topic_arn]
        (record,) = [
            r for r in _in(prod_entry_plan, RECORD, region.name) if r["inputs"]["type"] == "A"
        ]
        assert record["inputs"]["name"] == cfg.dns.record_name
        assert record["inputs"]["healthCheckId"] == health["id"]
        assert record["inputs"]["failoverRoutingPolicies"] == [{"type": roles[region.name]}]
        (alias,) = record["inputs"]["aliases"]
        assert alias["evaluateTargetHealth"] is True
        assert alias["name"] == alb["inputs"].get("dnsName", alias["name"])
    entry = prod_entry_plan.outputs["entry"]
    assert entry["url"] == f"https://{cfg.dns.record_name}/"
    assert entry["worstCaseFailoverSeconds"] == 10 * 3 + 60


def test_dev_keeps_the_entry_off_and_says_so(dev_plan: Plan) -> None:
    assert dev_plan.of_type(CERT) == [] and dev_plan.of_type(HEALTH) == []
    assert dev_plan.outputs["entry"]["url"] is None
    assert "mlops:dns" in dev_plan.outputs["entry"]["reason"]


def test_worst_case_failover_is_interval_times_threshold_plus_ttl() -> None:
    assert worst_case_failover_seconds(10, 3) == 90
    assert worst_case_failover_seconds(30, 10) == 360


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"interval": 20}, "use 10 or 30"),
        ({"failure_threshold": 0}, "outside 1..10"),
        ({"failure_threshold": 11}, "outside 1..10"),
        ({"regions": ["us-east-1", "eu-west-1"]}, "at least 3"),
        ({"regions": ["us-east-1", "eu-west-1", "mars-1"]}, "not Route 53 health checker"),
    ],
)
def test_health_check_settings_route53_rejects(kwargs: dict[str, Any], fragment: str) -> None:
    problems = health_check_problems(**kwargs)
    assert problems and fragment in problems[0]


# Bad input: one clear message naming the key ---------------------------------------------


def _flat(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def _problems(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_raw_config(_flat(config))
    return info.value.problems


def _prod(stack_config) -> dict[str, Any]:
    config = stack_config("prod")
    config["mlops:dns"] = dict(config["mlops:dns"])
    return config


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        ({"zoneId": None}, "mlops:dns.zoneId", "required key is missing"),
        ({"recordName": "api.example.org"}, "mlops:dns.recordName", "is not in the zone"),
        ({"healthCheck": {"interval": 15}}, "mlops:dns.healthCheck.interval", "use 10 or 30"),
        (
            {"healthCheck": {"failureThreshold": 12}},
            "mlops:dns.healthCheck.failureThreshold",
            "outside 1..10",
        ),
        ({"routing": "weighted"}, "mlops:dns.routing", "not a routing policy"),
        ({"zoneId": "example.com"}, "mlops:dns.zoneId", "not a Route 53 hosted zone id"),
        (
            {"healthAlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:t"},
            "mlops:dns.healthAlarmTopicArn",
            "in us-east-1",
        ),
    ],
)
def test_bad_dns_config_names_the_key(stack_config, change, key, fragment) -> None:
    config = _prod(stack_config)
    for k, v in change.items():
        if v is None:
            del config["mlops:dns"][k]
        else:
            config["mlops:dns"][k] = v
    problems = _problems(config)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{key}:") and fragment in problems[0]


def test_prod_without_dns_or_certificates_is_an_error_naming_the_keys(stack_config) -> None:
    config = _prod(stack_config)
    del config["mlops:dns"]
    (problem,) = _problems(config)
    assert problem.startswith("mlops:dns: production must not serve plain HTTP")
    assert "mlops:containers.certificateArns" in problem
    assert "eu-west-1" in problem and "eu-central-1" in problem


def test_prod_with_certificates_for_every_region_needs_no_dns(stack_config) -> None:
    config = _prod(stack_config)
    del config["mlops:dns"]
    config["mlops:containers"]["certificateArns"] = {
        r["name"]: f"arn:aws:acm:{r['name']}:123456789012:certificate/abc"
        for r in config["mlops:regions"]
    }
    assert parse_raw_config(_flat(config)).dns is None


def test_failover_between_more_than_two_regions_is_refused(stack_config) -> None:
    config = _prod(stack_config)
    config["mlops:regions"].append(
        {
            "name": "eu-north-1",
            "cidr": "10.22.0.0/16",
            "availabilityZones": ["eu-north-1a", "eu-north-1b", "eu-north-1c"],
        }
    )
    (problem,) = _problems(config)
    assert problem.startswith("mlops:dns.routing: failover serves from mlops:regions[0]")


def test_dns_and_certificate_arns_together_are_refused(stack_config) -> None:
    config = _prod(stack_config)
    config["mlops:containers"]["certificateArns"] = {
        "eu-west-1": "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
    }
    (problem,) = _problems(config)
    assert problem.startswith("mlops:dns: only one of mlops:dns")


def test_latency_routing_gives_every_region_a_latency_record(tmp_path_factory) -> None:
    # prod with routing: latency (and no standby pools, which test_standby_pools checks).
    plan = render_config(prod_latency_without_standby(), tmp_path_factory)
    assert plan.of_type(RECORD)
    for record in plan.of_type(RECORD):
        if record["inputs"].get("type") == "A":
            assert record["inputs"]["latencyRoutingPolicies"] == [{"region": record["region"]}]
            assert "failoverRoutingPolicies" not in record["inputs"]


def test_plan_prints_the_url_and_the_worst_case_failover_time(capsys, shared_render) -> None:
    from stacks.cli import main

    assert main(["plan", "prod"]) == 0
    out = capsys.readouterr().out
    assert (
        "Web entry: https://forecast.example.com/ (failover routing); worst-case failover 90 s"
        in out
    )
