"""The model registry: one DynamoDB table, one item per model version.

Key: ``model`` (string, the model's name) and ``version`` (number, 1, 2, ...). Version 0 of
each model is its counter item (``next_version``), never listed: a version number is taken
with one atomic ``UpdateItem ... ADD`` on it, so two training runs never get the same number
(a run that fails after taking one leaves a gap, never a half-registered version).

Every version item holds: ``stage`` (``candidate``, ``approved`` or ``retired``), ``created_at``,
``metrics`` (the evaluation metrics on the held-out split), ``serving`` (the version that was
serving when it was trained and its metrics on the same held-out split, if any),
``decision`` (why it was promoted or held), ``data_window`` (bucket, prefix, start, end,
objects, records), ``artefact`` (bucket and keys of ``model.json``, ``baseline.json``,
``metrics.json``), ``features``, ``image`` and ``code_digest`` (what trained it), ``run_id``,
and after a decision ``approved_at``/``approved_by`` or ``retired_at``/``retired_by``/
``reason``.

At most one version of a model is ``approved``: approving a version retires the approved one
in the same DynamoDB transaction (``TransactWriteItems``, two conditional updates), so
readers always find exactly the old or the new one. Rolling back is approving an earlier
(retired) version. Rejecting a candidate retires it with a reason.

This module is plain boto3 (no numpy): the training job uses it, and so does
``python -m stacks models``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from services.training.errors import DataError, RegistryConflict, StorageError, UsageError

STAGES = ("candidate", "approved", "retired")
COUNTER_VERSION = 0
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def encode(item: Mapping[str, Any]) -> dict[str, Any]:
    """A plain item (floats, dicts, lists) in DynamoDB's attribute-value form."""
    return {k: _serializer.serialize(_to_dynamo(v)) for k, v in item.items() if v is not None}


def decode(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain values (whole numbers as int, others as float)."""
    return {k: _from_dynamo(_deserializer.deserialize(v)) for k, v in item.items()}


def _key(model: str, version: int) -> dict[str, Any]:
    return {"model": {"S": model}, "version": {"N": str(version)}}


def _failure(action: str, exc: Exception) -> StorageError | UsageError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        text = f"{code}: {error.get('Message', '')}".rstrip(": ")
        if code == "ResourceNotFoundException":
            return UsageError(f"{action} failed: the registry table does not exist ({text})")
        return StorageError(f"{action} failed: {text}")
    return StorageError(f"{action} failed: {exc}")


class Registry:
    """The versions of one model in one registry table (``dynamodb``: a boto3 client)."""

    def __init__(self, dynamodb: Any, table: str, model: str) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.model = model

    # Reading -----------------------------------------------------------------------------

    def versions(self) -> list[dict[str, Any]]:
        """Every version item, newest first."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#m = :m AND #v > :zero",
            "ExpressionAttributeNames": {"#m": "model", "#v": "version"},
            "ExpressionAttributeValues": {":m": {"S": self.model}, ":zero": {"N": "0"}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        try:
            while True:
                page = self.dynamodb.query(**kwargs)
                items.extend(decode(item) for item in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    return items
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"listing versions of {self.model!r} in {self.table}", exc) from None

    def get(self, version: int) -> dict[str, Any]:
        """One version item; ``UsageError`` naming the known versions when it does not exist."""
        try:
            found = self.dynamodb.get_item(
                TableName=self.table, Key=_key(self.model, version), ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"reading version {version} of {self.model!r}", exc) from None
        if version <= COUNTER_VERSION or not found:
            known = [v["version"] for v in self.versions()]
            raise UsageError(
                f"model {self.model!r} has no version {version} in {self.table} "
                f"(versions: {', '.join(map(str, known)) or 'none'})"
            )
        return decode(found)

    def approved(self) -> dict[str, Any] | None:
        """The approved version item, or None when no version is approved."""
        found = [item for item in self.versions() if item.get("stage") == "approved"]
        if len(found) > 1:  # only possible if someone edited the table by hand
            raise DataError(
                f"model {self.model!r} has {len(found)} approved versions in {self.table} "
                f"({', '.join(str(v['version']) for v in found)}); approve one of them again"
            )
        return found[0] if found else None

    # Writing -----------------------------------------------------------------------------

    def next_version(self) -> int:
        """Take the next version number (atomic counter)."""
        try:
            response = self.dynamodb.update_item(
                TableName=self.table,
                Key=_key(self.model, COUNTER_VERSION),
                UpdateExpression="ADD next_version :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
                ReturnValues="UPDATED_NEW",
            )
        except (ClientError, BotoCoreError) as exc:
            raise _failure(f"taking a version number of {self.model!r}", exc) from None
        return int(response["Attributes"]["next_version"]["N"])

    def register(self, version: int, item: Mapping[str, Any]) -> dict[str, Any]:
        """Store a new version as ``candidate`` (refused if the version exists)."""
        document = {**item, "model": self.model, "version": version, "stage": "candidate"}
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item=encode(document),
                ConditionExpression="attribute_not_exists(#v)",
                ExpressionAttributeNames={"#v": "version"},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise RegistryConflict(
                    f"version {version} of {self.model!r} already exists in {self.table}"
                ) from None
            raise _failure(f"registering version {version} of {self.model!r}", exc) from None
        except BotoCoreError as exc:
            raise _failure(f"registering version {version} of {self.model!r}", exc) from None
        return document

    def approve(self, version: int, by: str, when: datetime, reason: str) -> int | None:
        """Make ``version`` the approved one and retire the previously approved version, in
        one transaction; returns the retired version (None when none was approved)."""
        target = self.get(version)
        if target.get("stage") == "approved":
            raise UsageError(f"version {version} of {self.model!r} is already approved")
        current = self.approved()
        stamp = when.isoformat()
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": _key(self.model, version),
                    "UpdateExpression": "SET #s = :approved, approved_at = :at, "
                    "approved_by = :by, decision = :why",
                    "ConditionExpression": "#s = :was",
                    "ExpressionAttributeNames": {"#s": "stage"},
                    "ExpressionAttributeValues": {
                        ":approved": {"S": "approved"},
                        ":at": {"S": stamp},
                        ":by": {"S": by},
                        ":why": {"S": reason},
                        ":was": {"S": str(target.get("stage"))},
                    },
                }
            }
        ]
        if current is not None:
            actions.append(
                self._retire_action(
                    int(current["version"]), "approved", by, stamp, f"replaced by version {version}"
                )
            )
        self._transact(actions, f"approving version {version} of {self.model!r}")
        return int(current["version"]) if current is not None else None

    def reject(self, version: int, by: str, when: datetime, reason: str) -> None:
        """Retire a candidate that must never serve."""
        target = self.get(version)
        if target.get("stage") != "candidate":
            hint = (
                "; to stop serving it, approve another version (e.g. the previous one)"
                if target.get("stage") == "approved"
                else ""
            )
            raise UsageError(
                f"version {version} of {self.model!r} is {target.get('stage')}, not a "
                f"candidate{hint}"
            )
        action = self._retire_action(version, "candidate", by, when.isoformat(), reason)
        self._transact([action], f"rejecting version {version} of {self.model!r}")

    def _retire_action(
        self, version: int, was: str, by: str, stamp: str, reason: str
    ) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table,
                "Key": _key(self.model, version),
                "UpdateExpression": "SET #s = :retired, retired_at = :at, retired_by = :by, "
                "reason = :why",
                "ConditionExpression": "#s = :was",
                "ExpressionAttributeNames": {"#s": "stage"},
                "ExpressionAttributeValues": {
                    ":retired": {"S": "retired"},
                    ":at": {"S": stamp},
                    ":by": {"S": by},
                    ":why": {"S": reason},
                    ":was": {"S": was},
                },
            }
        }

    def _transact(self, actions: list[dict[str, Any]], action: str) -> None:
        try:
            self.dynamodb.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise RegistryConflict(
                    f"{action}: the registry changed meanwhile (another approval?); nothing was "
                    "changed, list the versions and try again"
                ) from None
            raise _failure(action, exc) from None
        except BotoCoreError as exc:
            raise _failure(action, exc) from None
