"""What a deletion loses: stateful resource types, and what protect / retainOnDelete do.

A reviewer must not find a data-losing deletion in the middle of a long diff, so every removal
or replacement of a protected, retained or stateful resource becomes a warning at the top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

#: Stateful types: (what deleting one loses, how, the AWS documentation that says so). S3 and
#: ECR refuse to delete a non-empty bucket / repository unless the provider's forceDestroy /
#: forceDelete empties it first (pulumi_aws's own docstrings for those flags).
STATEFUL: Final[dict[str, tuple[str, str, str]]] = {
    "aws:s3/bucket:Bucket": (
        "its objects",
        "the deletion fails unless the bucket is empty or forceDestroy is set",
        "https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucket.html",
    ),
    "aws:dynamodb/table:Table": (
        "the table's items",
        "with the table",
        "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DeleteTable.html",
    ),
    "aws:kms/key:Key": (
        "the key",
        "after its 7-30 day deletion window; what it encrypted can no longer be decrypted",
        "https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys.html",
    ),
    "aws:efs/fileSystem:FileSystem": (
        "the file system's contents",
        "permanently",
        "https://docs.aws.amazon.com/efs/latest/ug/API_DeleteFileSystem.html",
    ),
    "aws:cloudwatch/logGroup:LogGroup": (
        "its archived log events",
        "permanently",
        "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DeleteLogGroup.html",
    ),
    "aws:ecr/repository:Repository": (
        "its images",
        "the deletion fails unless the repository is empty or forceDelete is set",
        "https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DeleteRepository.html",
    ),
}

#: "A protected resource cannot be deleted directly, and it will be an error to do a Pulumi
#: deployment which tries to delete a protected resource for any reason."
PROTECT_DOC: Final = "https://www.pulumi.com/docs/iac/concepts/options/protect/"
#: retainOnDelete: Pulumi "will not call through to the resource provider's Delete method when
#: deleting or replacing the resource"; it is only removed from the state.
RETAIN_DOC: Final = "https://www.pulumi.com/docs/iac/concepts/options/retainondelete/"

PROTECTED: Final = "protected"
RETAINED: Final = "retained"
STATEFUL_LOSS: Final = "data-loss"
UNPROTECTED: Final = "unprotected"


@dataclass(frozen=True)
class Alert:
    """One thing a reviewer must see before anything else."""

    kind: str
    #: "remove", "replace", "may-replace", or "update" (protection turned off).
    action: str
    message: str


def _options(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    options = resource.get("options")
    return options if isinstance(options, Mapping) else {}


def deletion_warning(old: Mapping[str, Any], action: str) -> Alert | None:
    """The warning for removing, replacing or maybe replacing (``may-replace``) ``old``.

    Protection and retention are read from the old plan: the engine checks the state it has.
    """
    options = _options(old)
    stateful = STATEFUL.get(str(old.get("type")))
    verb = {"remove": "removing", "replace": "replacing"}.get(action, "possibly replacing")
    if options.get("protect"):
        return Alert(
            PROTECTED,
            action,
            f"protected: {verb} it makes the deploy FAIL until protect is turned off "
            f"({PROTECT_DOC})",
        )
    if options.get("retainOnDelete"):
        lost = f"; it keeps {stateful[0]}" if stateful else ""
        return Alert(
            RETAINED,
            action,
            f"retainOnDelete: {verb} it leaves the old resource in AWS, unmanaged and still "
            f"billed{lost} ({RETAIN_DOC})",
        )
    if stateful:
        what, how, source = stateful
        return Alert(
            STATEFUL_LOSS, action, f"DATA LOSS: {verb} it deletes {what}, {how} ({source})"
        )
    return None


def unprotect_warning(old: Mapping[str, Any], new: Mapping[str, Any]) -> Alert | None:
    """Turning protection off is what precedes deleting a protected resource: say so."""
    if _options(old).get("protect") and not _options(new).get("protect"):
        what = "a stateful resource" if old.get("type") in STATEFUL else "a resource"
        return Alert(
            UNPROTECTED, "update", f"protect turned off on {what}: a later change can delete it"
        )
    return None
