"""boto3 clients for ``failover``/``failback``: short timeouts, few retries, per-region endpoints.

An outage must not hang the command: every client connects and reads with a short timeout
(``--timeout``, default :data:`DEFAULT_TIMEOUT_SECONDS`) and makes at most
:data:`MAX_ATTEMPTS` attempts per call (botocore's ``total_max_attempts`` counts the first
try), so an unreachable region costs seconds, not the minutes of botocore's defaults
(60 s connect and read timeouts).

``--region-endpoint REGION=URL`` sends every call of that region to URL (botocore's
``endpoint_url``): a local emulator, or a closed port to rehearse that region's outage while
the real region keeps running. Without it, clients use boto3's ordinary endpoint resolution
(``AWS_ENDPOINT_URL`` and the config file included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_ATTEMPTS = 2


class UsageError(ValueError):
    """Bad command-line input (exit 2)."""


def parse_endpoints(values: Sequence[str], regions: Sequence[str]) -> dict[str, str]:
    """``REGION=URL`` pairs into a map; each region must be one of the stack's."""
    endpoints: dict[str, str] = {}
    for value in values:
        region, sep, url = value.partition("=")
        if not sep or not region or not url.startswith(("http://", "https://")):
            raise UsageError(f"--region-endpoint {value!r}: give REGION=http(s)://HOST[:PORT]")
        if region not in regions:
            raise UsageError(
                f"--region-endpoint {value!r}: {region!r} is not one of the stack's regions "
                f"({', '.join(regions)})"
            )
        endpoints[region] = url
    return endpoints


def credentials_problem() -> str | None:
    """Why boto3's credential chain finds no credentials (None when it does).

    A missing or broken profile (``AWS_PROFILE`` naming no profile, an unreadable config
    file) is a credentials problem too, reported the same way rather than as a traceback.
    """
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        found = boto3.session.Session().get_credentials()
    except BotoCoreError as exc:
        return str(exc)
    return (
        None
        if found is not None
        else ("no AWS credentials found (environment, AWS_PROFILE, config files, instance role)")
    )


#: Error codes with which AWS refuses the credentials themselves, not a permission: IAM API
#: Reference, "Common Error Types"
#: (https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html: ExpiredTokenException
#: "The security token included in the request has expired", IncompleteSignature,
#: InvalidClientTokenId "The X.509 certificate or AWS access key ID provided does not exist in
#: our records", MissingAuthenticationToken); STS's query protocol spells an expired session
#: ExpiredToken ("An error occurred (ExpiredToken) when calling the GetCallerIdentity
#: operation": aws/aws-cli#7870, prowler-cloud/prowler#789).
CREDENTIAL_ERROR_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
    }
)


def caller_problem(clients: Clients, region: str) -> tuple[str | None, str | None]:
    """(why the credentials are refused, why STS could not be asked), at most one given.

    Finding credentials (:func:`credentials_problem`) does not prove them valid: expired
    session tokens and deleted keys are found all the same. STS GetCallerIdentity proves them
    and needs no permission ("No permissions are required to perform this operation": STS
    API Reference, https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
    It is asked in the target region through :class:`Clients`, so ``--region-endpoint`` and
    ``AWS_ENDPOINT_URL`` apply as to every other call. An STS that cannot be reached (or
    answers otherwise) proves nothing either way: the command then goes on, and each step
    reports what the region's services answer.
    """
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        CredentialRetrievalError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    try:
        clients("sts", region).get_caller_identity()
    except ClientError as exc:
        if error_code(exc) in CREDENTIAL_ERROR_CODES:
            return f"the credentials were refused: {error_code(exc)}: {error_message(exc)}", None
        return None, f"{error_code(exc)}: {error_message(exc)}"
    except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as exc:
        return str(exc), None
    except BotoCoreError as exc:
        if type(exc).__name__ in ("TokenRetrievalError", "SSOTokenLoadError"):
            return str(exc), None  # an expired AWS IAM Identity Center (SSO) login
        return None, str(exc)
    return None, None


class Clients:
    """One cached boto3 client per (service, region)."""

    def __init__(self, endpoints: Mapping[str, str], timeout: float) -> None:
        from botocore.config import Config

        if timeout <= 0:
            raise UsageError(f"--timeout must be more than 0 seconds, got {timeout}")
        self.endpoints = dict(endpoints)
        self.config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        )
        self._cache: dict[tuple[str, str], Any] = {}
        self._session: Any = None

    def __call__(self, service: str, region: str) -> Any:
        key = (service, region)
        if key not in self._cache:
            import boto3

            if self._session is None:
                self._session = boto3.session.Session()
            extra = {"endpoint_url": self.endpoints[region]} if region in self.endpoints else {}
            self._cache[key] = self._session.client(
                service, region_name=region, config=self.config, **extra
            )
        return self._cache[key]


def unreachable_reason(exc: BaseException) -> str | None:
    """Why the region could not be reached, when ``exc`` says so (else None).

    Connection failures and timeouts (botocore's ``ConnectionError`` and ``HTTPClientError``
    families: endpoint connection errors, connect/read timeouts, closed connections) and
    server-side errors (HTTP 5xx after the retries) mean the region's API is not answering.
    """
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ConnectionError | HTTPClientError):
        return str(exc)
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if int(status) >= 500:
            return f"{error_code(exc)} (HTTP {status}): {error_message(exc)}"
    return None


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(exc)
