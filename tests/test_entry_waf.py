"""A WAF (WAFv2 regional web ACL) on every internet-facing load balancer in production:
AWS managed rule groups, a rate-based rule from config, logs to a KMS-encrypted
``aws-waf-logs-*`` log group with retention, metrics on the dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest
from render_cache import dev_with_certificate_and_waf, render_config  # tests/render_cache.py

from components.entry import MANAGED_RULE_GROUPS
from stacks.config import ConfigError, load_stack_config, parse_raw_config
from stacks.offline import PROJECT_DIR, Plan

ACL = "aws:wafv2/webAcl:WebAcl"
ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"


def test_every_prod_load_balancer_has_the_web_acl(prod_plan: Plan) -> None:
    cfg = load_stack_config(PROJECT_DIR, "prod")
    for region in cfg.regions:
        here = prod_plan.in_region(region.name)
        (acl,) = [r for r in here if r["type"] == ACL]
        (alb,) = [r for r in here if r["type"] == "aws:lb/loadBalancer:LoadBalancer"]
        assert alb["inputs"]["internal"] is False
        (association,) = [r for r in here if r["type"] == ASSOCIATION]
        assert association["inputs"]["resourceArn"] == alb["id"] or association["inputs"][
            "resourceArn"
        ].startswith(f"arn:aws:elasticloadbalancing:{region.name}:")
        assert acl["inputs"]["scope"] == "REGIONAL"
        rules = acl["inputs"]["rules"]
        managed = [
            r["statement"]["managedRuleGroupStatement"]["name"]
            for r in rules
            if "managedRuleGroupStatement" in r["statement"]
        ]
        assert managed == list(MANAGED_RULE_GROUPS)
        (rate,) = [r for r in rules if "rateBasedStatement" in r["statement"]]
        assert rate["statement"]["rateBasedStatement"] == {
            "limit": cfg.containers.waf.rate_limit if cfg.containers else 0,
            "aggregateKeyType": "IP",
        }
        assert "block" in rate["action"]
        assert all(r["visibilityConfig"]["cloudwatchMetricsEnabled"] for r in rules)
        (logging,) = [r for r in here if r["type"] == LOGGING]
        (group,) = [
            r
            for r in here
            if r["type"] == "aws:cloudwatch/logGroup:LogGroup"
            and str(r["inputs"].get("name", "")).startswith("aws-waf-logs-")
        ]
        assert logging["inputs"]["logDestinationConfigs"] == [
            f"arn:aws:logs:{region.name}:123456789012:log-group:{group['inputs']['name']}"
        ]
        assert group["inputs"]["retentionInDays"] == cfg.log_retention_days
        assert f":{region.name}:" in group["inputs"]["kmsKeyId"]


def test_waf_metrics_are_on_the_dashboard(prod_plan: Plan) -> None:
    for dashboard in prod_plan.of_type("aws:cloudwatch/dashboard:Dashboard"):
        assert "AWS/WAFV2" in dashboard["inputs"]["dashboardBody"]


def test_dev_has_no_waf_unless_asked(dev_plan: Plan, tmp_path_factory) -> None:
    assert dev_plan.of_type(ACL) == []
    # dev with the WAF on (and a certificate test_stack_containers checks).
    config = dev_with_certificate_and_waf()
    assert config["mlops:containers"]["waf"] == {"enabled": True, "rateLimit": 100}
    plan = render_config(config, tmp_path_factory)
    acls = plan.of_type(ACL)
    assert len(acls) == len(config["mlops:regions"])
    for acl in acls:
        (rate,) = [r for r in acl["inputs"]["rules"] if "rateBasedStatement" in r["statement"]]
        assert rate["statement"]["rateBasedStatement"]["limit"] == 100


def _problems(config: dict[str, Any]) -> list[str]:
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat)
    return info.value.problems


def test_prod_cannot_turn_the_waf_off(stack_config) -> None:
    config = stack_config("prod")
    config["mlops:containers"]["waf"] = {"enabled": False}
    assert _problems(config) == [
        "mlops:containers.waf.enabled: production serves the web service behind a WAF; remove "
        "the key or set it to true"
    ]


def test_rate_limit_below_the_minimum_names_the_key(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:containers"]["waf"] = {"rateLimit": 5}
    (problem,) = _problems(config)
    assert problem.startswith("mlops:containers.waf.rateLimit:") and "minimum" in problem
