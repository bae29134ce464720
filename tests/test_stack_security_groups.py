"""Security group and rule descriptions EC2 accepts, over both real stack files."""

from __future__ import annotations

import re

from stacks.offline import Plan

#: EC2's constraint on group and rule descriptions in a VPC (CreateSecurityGroup,
#: AuthorizeSecurityGroupIngress): up to 255 of these characters. Anything else
#: (an apostrophe, say) fails the deployment.
EC2_DESCRIPTION = re.compile(r"^[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]{0,255}$")

GROUP_TYPES = {
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
}


def descriptions(plan: Plan):
    for r in plan.resources:
        if r["type"] in GROUP_TYPES:
            inputs = r["inputs"]
            yield r["urn"], inputs.get("description")
            for rule in inputs.get("ingress", []) + inputs.get("egress", []):
                yield r["urn"], rule.get("description")


def test_every_description_is_one_ec2_accepts(stack_plan: Plan) -> None:
    found = list(descriptions(stack_plan))
    assert found
    bad = [(urn, text) for urn, text in found if text is None or not EC2_DESCRIPTION.match(text)]
    assert bad == []


def test_the_pattern_refuses_what_ec2_refuses() -> None:
    assert EC2_DESCRIPTION.match("HTTPS from the load balancer (443)")
    assert not EC2_DESCRIPTION.match("NFS from the pool's instances")
    assert not EC2_DESCRIPTION.match("x" * 256)
