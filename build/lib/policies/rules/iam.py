"""IAM rules: valid policy documents, no wildcard actions, `Resource "*"` only where
RESOURCE_STAR_ALLOWED says so, no decrypt on every key, no administrator managed policies, and
no resource or trust policy open to everyone."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from components.baseline import RESOURCE_STAR_ALLOWED
from policies.model import (
    DocumentError,
    Resource,
    Stack,
    as_list,
    as_mapping,
    condition_keys,
    is_allow,
    parse_document,
    principal_is_everyone,
    statement_actions,
    statement_resources,
    statements,
)
from policies.rules.helpers import parsed_or_none, quote
from policies.rules.registry import Finding, rule
from policies.rules.types import (
    BUCKET_POLICY,
    BUCKETS,
    ECR_REPOSITORY_POLICY,
    EFS_FILE_SYSTEM_POLICY,
    IAM_ATTACHMENTS,
    IAM_GROUP_POLICY,
    IAM_POLICY,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    IAM_USER_POLICY,
    KMS_KEY,
    KMS_KEY_POLICY,
    LOG_RESOURCE_POLICY,
    SNS_TOPIC,
    SNS_TOPIC_POLICY,
    SQS_QUEUE,
    SQS_QUEUE_POLICY,
)

_RESOURCE_STAR_ALLOWED_LOWER: Final = frozenset(a.lower() for a in RESOURCE_STAR_ALLOWED)


def _identity_documents(stack: Stack) -> Iterable[tuple[Resource, str, Any]]:
    """(resource, property path, raw document) for every identity policy in the stack."""
    for res in stack.of(IAM_ROLE_POLICY, IAM_POLICY, IAM_USER_POLICY, IAM_GROUP_POLICY):
        yield res, "policy", res.props.get("policy")
    for role in stack.of(IAM_ROLE):
        for i, inline in enumerate(as_list(role.props.get("inlinePolicies"))):
            yield role, f"inlinePolicies[{i}].policy", as_mapping(inline).get("policy")


_RESOURCE_POLICY_PROPS: Final[Mapping[str, str]] = {
    KMS_KEY: "policy",
    KMS_KEY_POLICY: "policy",
    BUCKETS[0]: "policy",
    BUCKETS[1]: "policy",
    BUCKET_POLICY[0]: "policy",
    SNS_TOPIC: "policy",
    SNS_TOPIC_POLICY: "policy",
    SQS_QUEUE: "policy",
    SQS_QUEUE_POLICY: "policy",
    ECR_REPOSITORY_POLICY: "policy",
    EFS_FILE_SYSTEM_POLICY: "policy",
    LOG_RESOURCE_POLICY: "policyDocument",
    IAM_ROLE: "assumeRolePolicy",
}


def _resource_documents(stack: Stack) -> Iterable[tuple[Resource, str, Any]]:
    """(resource, property, raw document) for key/bucket/topic/queue/... and trust policies."""
    for rtype, prop in _RESOURCE_POLICY_PROPS.items():
        for res in stack.of(rtype):
            yield res, prop, res.props.get(prop)


def _allow_statements(stack: Stack) -> Iterable[tuple[Resource, str, Mapping[str, Any]]]:
    """(resource, 'path.Statement[i]', statement) for every Allow in identity policies."""
    for res, where, raw in _identity_documents(stack):
        doc = parsed_or_none(raw)
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
            yield (
                res,
                f"{where} is {exc}",
                "Build the document in Python and serialise it with pulumi.Output.json_dumps(...).",
            )


@rule("iam-no-wildcard-action", 'No "*" or "service:*" action (and no NotAction) in an Allow.')
def iam_no_wildcard_action(stack: Stack) -> Iterable[Finding]:
    """Allow statements of identity policies list explicit actions."""
    for res, where, st in _allow_statements(stack):
        if "NotAction" in st:
            yield (
                res,
                f"{where} uses NotAction in an Allow, which grants every other action",
                "List the allowed actions explicitly in Action.",
            )
        wild = [a for a in statement_actions(st) if a == "*" or re.fullmatch(r"[\w-]+:\*", a)]
        if wild:
            yield (
                res,
                f"{where} allows wildcard action(s) {', '.join(wild)}; expected explicit actions",
                "Replace the wildcard with the specific actions the principal needs "
                "(use the component grant_* methods).",
            )


@rule(
    "iam-resource-star",
    'Resource "*" only for actions in RESOURCE_STAR_ALLOWED (no resource-level permissions).',
)
def iam_resource_star(stack: Stack) -> Iterable[Finding]:
    """An Allow on "*" (or with NotResource) may only list allow-listed actions."""
    for res, where, st in _allow_statements(stack):
        if "NotResource" in st:
            yield (
                res,
                f"{where} uses NotResource in an Allow, which grants every other resource",
                "List the resource ARNs explicitly in Resource.",
            )
            continue
        if "*" not in statement_resources(st):
            continue
        bad = [a for a in statement_actions(st) if a.lower() not in _RESOURCE_STAR_ALLOWED_LOWER]
        if bad:
            yield (
                res,
                f'{where} allows {", ".join(bad)} on Resource "*"; only actions without '
                "resource-level permissions listed in RESOURCE_STAR_ALLOWED may use "
                '"*"',
                "Scope these actions to the ARNs they act on (or, if an action truly "
                "supports no resource-level permissions, add it once to "
                "policies.rules.RESOURCE_STAR_ALLOWED with its reason).",
            )


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
            yield (
                res,
                f"{where} allows {', '.join(decrypt)} on {', '.join(keys)}; expected "
                "specific key ARNs",
                "Grant decrypt on the region's key ARN only (key.grant_decrypt(role)).",
            )


_ADMIN_POLICY_ARNS: Final = ("AdministratorAccess", "PowerUserAccess")


@rule(
    "iam-no-admin-managed-policy",
    "No AdministratorAccess or PowerUserAccess managed policy attached.",
)
def iam_no_admin_managed_policy(stack: Stack) -> Iterable[Finding]:
    """Attachments and Role.managedPolicyArns must not use the AWS admin policies."""

    def admin(arn: Any) -> bool:
        return isinstance(arn, str) and arn.rsplit("/", 1)[-1] in _ADMIN_POLICY_ARNS

    for res in stack.of(*IAM_ATTACHMENTS):
        if admin(res.props.get("policyArn")):
            yield (
                res,
                f"policyArn is {quote(res.props.get('policyArn'))}; administrator policies "
                "grant * on *",
                "Attach a least-privilege policy built from the component grant_* methods.",
            )
    for role in stack.of(IAM_ROLE):
        for arn in as_list(role.props.get("managedPolicyArns")):
            if admin(arn):
                yield (
                    role,
                    f"managedPolicyArns contains {quote(arn)}; administrator policies grant * on *",
                    "Remove it and grant the needed actions with the grant_* methods.",
                )


_RESTRICTING_CONDITION_KEYS: Final = frozenset(
    {
        "aws:sourceaccount",
        "aws:sourcearn",
        "aws:sourceowner",
        "aws:sourceorgid",
        "aws:sourceorgpaths",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalorgid",
        "aws:principalorgpaths",
        "aws:principalservicename",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceip",
        "aws:userid",
        "aws:username",
        "kms:calleraccount",
    }
)


@rule(
    "resource-policy-not-public",
    "No key, bucket, topic, queue, repository or trust policy allows a public principal.",
)
def resource_policy_not_public(stack: Stack) -> Iterable[Finding]:
    """An Allow to "*" / {"AWS": "*"} must carry a condition restricting who (account, org,
    source ARN, VPC endpoint...)."""
    for res, prop, raw in _resource_documents(stack):
        doc = parsed_or_none(raw)
        if doc is None:
            continue
        for i, st in enumerate(statements(doc)):
            if not is_allow(st) or not principal_is_everyone(st.get("Principal")):
                continue
            if condition_keys(st) & _RESTRICTING_CONDITION_KEYS:
                continue
            yield (
                res,
                f"{prop} Statement[{i}] allows Principal {quote(st.get('Principal'))} with "
                "no condition restricting the caller",
                "Name the principals (account root, role or service) or add a condition "
                "such as aws:SourceAccount, aws:SourceArn or aws:PrincipalOrgID.",
            )
