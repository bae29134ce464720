"""Which input objects a run reads.

A **triggered** run (``--trigger-key``: the job was submitted for one new object, e.g. by the
platform's EventBridge rule for new objects in a lake zone) reads exactly that object and
lists nothing, so the work of a run does not grow with the number of objects already in the
folder. Any other run (a schedule, a run by hand) lists the input folder and reads every input
object in it. Either way a sharded run keeps only the objects of its own shard
(:func:`shard_of`), and markers and folder placeholders are not input (:func:`is_input_key`).

Archived objects are not readable: objects in the S3 Glacier Flexible Retrieval (``GLACIER``)
and S3 Glacier Deep Archive (``DEEP_ARCHIVE``) storage classes, and S3 Intelligent-Tiering
objects in its Archive Access and Deep Archive Access tiers, must be restored before
GetObject can read them; until then GetObject fails with ``InvalidObjectState`` (AWS, Amazon
S3 User Guide, "Working with archived objects",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/archived-objects.html, and the S3 API's
``InvalidObjectState`` error). S3 Glacier Instant Retrieval (``GLACIER_IR``) is *not*
archived ("real-time access with millisecond retrieval latency", same page) and is read like
``STANDARD``. So a listing run:

- skips a listed object whose storage class is ``GLACIER`` or ``DEEP_ARCHIVE`` unless the
  listing's ``RestoreStatus`` says a restored copy is available (ListObjectsV2 with
  ``OptionalObjectAttributes=["RestoreStatus"]``: ``IsRestoreInProgress`` false and a
  ``RestoreExpiryDate``; https://docs.aws.amazon.com/AmazonS3/latest/API/API_RestoreStatus.html);
- skips an object whose GetObject fails with ``InvalidObjectState`` (Intelligent-Tiering
  archive tiers are not visible in a listing, and an object may be archived between listing
  and reading);

logging each skip as one ``archived_object_skipped`` line (the ``s3://`` URI, the storage
class and, when S3 names it, the access tier) and recording it in the manifest's
``input.skipped``. A triggered run whose object is archived fails instead (see
``__main__``): the object was sent to this job to be scored and nothing else will score it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from services.batch_inference.errors import DataError
from services.batch_inference.logs import JsonLog
from services.batch_inference.storage import error_code, s3_uri, storage_failure

if TYPE_CHECKING:
    from services.batch_inference.job import RunArgs

#: Storage classes whose objects GetObject cannot read until they are restored.
ARCHIVE_STORAGE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
#: The S3 error of a GetObject on an archived object that was not restored.
ARCHIVED_ERROR_CODE = "InvalidObjectState"


def shard_of(key: str, count: int) -> int:
    """The shard (0..count-1) of an input key: a hash of the key alone, so the assignment is
    the same in every shard whatever else is listed."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % count


def is_input_key(key: str, folder: str) -> bool:
    """Whether a listed key is an input object (not a folder placeholder or a marker file)."""
    if key.endswith("/"):
        return False
    name = key[len(folder) :].rsplit("/", 1)[-1]
    return not name.startswith(("_", "."))


@dataclass(frozen=True)
class ListedObject:
    """One object of a listing: its key, storage class and whether a restored copy exists."""

    key: str
    storage_class: str
    restored: bool = False

    @property
    def archived(self) -> bool:
        """True when GetObject could not read it: an archive class and no restored copy."""
        return self.storage_class in ARCHIVE_STORAGE_CLASSES and not self.restored


@dataclass(frozen=True)
class SkippedObject:
    """An archived object a run did not read."""

    key: str
    storage_class: str
    access_tier: str | None = None

    def describe(self) -> dict[str, str]:
        """What the manifest records about it."""
        out = {"key": self.key, "storage_class": self.storage_class}
        if self.access_tier:
            out["access_tier"] = self.access_tier
        return out


class ObjectArchived(Exception):
    """GetObject refused an archived object (``InvalidObjectState``)."""

    def __init__(self, skipped: SkippedObject) -> None:
        super().__init__(skipped.key)
        self.skipped = skipped


def archived_object(key: str, exc: ClientError) -> SkippedObject | None:
    """The archived object an ``InvalidObjectState`` error is about; None for other errors.
    S3 names the storage class and, for Intelligent-Tiering, the access tier."""
    if error_code(exc) != ARCHIVED_ERROR_CODE:
        return None
    error = exc.response.get("Error", {})
    storage_class = exc.response.get("StorageClass") or error.get("StorageClass") or "unknown"
    access_tier = exc.response.get("AccessTier") or error.get("AccessTier")
    return SkippedObject(key=key, storage_class=str(storage_class), access_tier=access_tier)


def _restored(item: dict[str, Any]) -> bool:
    status = item.get("RestoreStatus") or {}
    return (
        status.get("IsRestoreInProgress") is False and status.get("RestoreExpiryDate") is not None
    )


def list_objects(s3: Any, bucket: str, prefix: str, bucket_arg: str) -> list[ListedObject]:
    """Every object under ``prefix`` in key order, with its storage class and restore status."""
    objects: list[ListedObject] = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, OptionalObjectAttributes=["RestoreStatus"]
        )
        for page in pages:
            for item in page.get("Contents", []):
                objects.append(
                    ListedObject(
                        key=item["Key"],
                        storage_class=item.get("StorageClass") or "STANDARD",
                        restored=_restored(item),
                    )
                )
    except (ClientError, BotoCoreError) as exc:
        raise storage_failure(
            f"listing {s3_uri(bucket, prefix)}", exc, bucket, bucket_arg
        ) from None
    return sorted(objects, key=lambda o: o.key)


def log_skipped(log: JsonLog, bucket: str, skipped: SkippedObject) -> None:
    """The one log line of an archived object a run does not read."""
    fields: dict[str, Any] = {
        "key": s3_uri(bucket, skipped.key),
        "storage_class": skipped.storage_class,
    }
    if skipped.access_tier:
        fields["access_tier"] = skipped.access_tier
    log.warning(
        "archived_object_skipped",
        message=f"{s3_uri(bucket, skipped.key)} is archived ({skipped.storage_class}"
        f"{', ' + skipped.access_tier if skipped.access_tier else ''}) and cannot be read until "
        "it is restored; not scored. Restore it (S3 RestoreObject) and run again to include it",
        **fields,
    )


def archived_trigger_error(bucket: str, skipped: SkippedObject) -> DataError:
    """A triggered run's object is archived: the run fails, saying how to score it."""
    tier = f", access tier {skipped.access_tier}" if skipped.access_tier else ""
    return DataError(
        f"{s3_uri(bucket, skipped.key)} (--trigger-key) is archived (storage class "
        f"{skipped.storage_class}{tier}) and cannot be read until it is restored: restore it "
        "(S3 RestoreObject) and submit the run again with the same trigger_key"
    )


@dataclass(frozen=True)
class Selection:
    """The objects a run reads (in order) and the archived ones it skipped."""

    keys: tuple[str, ...]
    skipped: tuple[SkippedObject, ...] = ()


def select_inputs(s3: Any, args: RunArgs, log: JsonLog) -> Selection:
    """The run's input objects: the trigger object alone, or the input folder's objects
    without archived ones (each skip logged); only this shard's objects for a shard."""
    shard = args.shard

    def in_shard(key: str) -> bool:
        return shard is None or shard_of(key, shard.count) == shard.index

    if args.trigger_key is not None:
        key = args.trigger_key
        if not is_input_key(key, args.input_folder):
            log.warning(
                "trigger_not_an_input",
                message="the triggering object is a marker or folder placeholder, not input; nothing to score",
                key=s3_uri(args.input_bucket, key),
            )
            return Selection(keys=())
        keys: tuple[str, ...] = (key,) if in_shard(key) else ()
        log.info(
            "inputs_selected",
            trigger=s3_uri(args.input_bucket, key),
            objects=len(keys),
            listed=False,
        )
        return Selection(keys=keys)

    listed = [
        item
        for item in list_objects(s3, args.input_bucket, args.input_folder, "--input-bucket")
        if is_input_key(item.key, args.input_folder) and in_shard(item.key)
    ]
    skipped = tuple(SkippedObject(item.key, item.storage_class) for item in listed if item.archived)
    for item in skipped:
        log_skipped(log, args.input_bucket, item)
    keys = tuple(item.key for item in listed if not item.archived)
    fields: dict[str, Any] = {"objects": len(keys), "skipped": len(skipped)}
    if shard is not None:
        fields |= {"shard": shard.index, "shards": shard.count}
    log.info("inputs_listed", **fields)
    return Selection(keys=keys, skipped=skipped)


def merge_skipped(documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The ``skipped`` entries of several manifests' ``input``, in key order."""
    entries = [entry for doc in documents for entry in doc.get("input", {}).get("skipped", [])]
    return sorted(entries, key=lambda entry: entry["key"])
