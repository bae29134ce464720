"""One region's ACM certificate for the service's name, validated through Route 53, and the
validation the HTTPS listener waits for.

ACM certificates are regional: a load balancer in each region needs one requested there
("Supported Regions", https://docs.aws.amazon.com/acm/latest/userguide/acm-regions.html).
The DNS validation record is the same for every certificate of a name in the account: "each
record, created specifically for your domain and your account" and "since the CNAME
validation token works for any AWS Region, you can re-create the same certificate in
multiple Regions" ("DNS validation",
https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html). So the record is
created once, by the primary region's certificate (``create_validation_record``); every
region's validation names the same record and, in the same update, waits for it. One owner
means no region's delete removes the record another region's renewals rely on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

#: TTL of the validation CNAME (ACM only reads it; the value never changes).
VALIDATION_RECORD_TTL = 300


@dataclass(frozen=True)
class EntryCertificateArgs:
    """Arguments of :class:`EntryCertificate`."""

    domain_name: str
    """The service's name (``api.example.com``)."""
    zone_id: str
    """The Route 53 hosted zone the name and its validation record live in."""
    create_validation_record: bool
    """True for exactly one region (the primary): it owns the shared validation record."""
    validation_record: pulumi.Resource | None = None
    """Default: none. The primary's validation record, which the other regions' validations
    wait for when they are created in the same update."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default: only ``Name``."""


def _value(option: Any, snake: str) -> Any:
    """A field of a domain validation option (an output type, or a plain mapping)."""
    if hasattr(type(option), snake):  # the provider's output type: its property getter
        return getattr(option, snake)
    if isinstance(option, Mapping):
        camel = "".join(p if i == 0 else p.title() for i, p in enumerate(snake.split("_")))
        return option.get(snake, option.get(camel))
    return getattr(option, snake, None)


def validation_option(options: Sequence[Any] | None, domain_name: str) -> Any:
    """The validation option ACM gives for ``domain_name`` (None until ACM answers)."""
    for option in options or []:
        if _value(option, "domain_name") == domain_name:
            return option
    return None


class EntryCertificate(pulumi.ComponentResource):
    """``<name>-cert`` (DNS-validated), the shared validation record (primary only) and
    ``<name>-cert-validation``, whose ``certificate_arn`` the HTTPS listener uses."""

    def __init__(
        self, name: str, args: EntryCertificateArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:entry:EntryCertificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=args.domain_name,
            validation_method="DNS",
            tags={"Name": f"{name}-cert", **args.tags},
            opts=child,
        )
        option = self.certificate.domain_validation_options.apply(
            lambda options: validation_option(options, args.domain_name)
        )
        record_name = option.apply(lambda o: _value(o, "resource_record_name"))
        self.validation_record: aws.route53.Record | None = None
        if args.create_validation_record:
            self.validation_record = aws.route53.Record(
                f"{name}-cert-record",
                zone_id=args.zone_id,
                name=record_name,
                type=option.apply(lambda o: _value(o, "resource_record_type")),
                records=[option.apply(lambda o: _value(o, "resource_record_value"))],
                ttl=VALIDATION_RECORD_TTL,
                # The record may exist already (an earlier certificate of the name in this
                # account has the same one); adopt it rather than fail.
                allow_overwrite=True,
                opts=child,
            )
        waits_for = self.validation_record or args.validation_record
        self.validation = aws.acm.CertificateValidation(
            f"{name}-cert-validation",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=[record_name],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[waits_for] if waits_for is not None else []
            ),
        )
        #: The validated certificate's ARN: known only once ACM has issued it, so whatever
        #: uses it (the HTTPS listener) waits for the validation.
        self.certificate_arn: pulumi.Output[str] = self.validation.certificate_arn
        self.register_outputs({"certificate_arn": self.certificate_arn})
