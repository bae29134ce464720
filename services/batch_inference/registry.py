"""The approved model version from the platform's model registry (continuous training).

With ``--registry-table`` and ``--model-name`` a run scores with the version of that model
whose ``stage`` is ``approved`` in the registry (a DynamoDB table keyed by ``model`` and
``version``; written by the training job and ``python -m stacks models``), reading its
``model.json`` from the models zone; the manifest's ``model`` and every prediction line then
name the version (``model_version``). A model with no approved version yet (a new stack,
before the first training run is approved) is scored with the built-in ``baseline-mean``
model, with a ``no_approved_model`` warning, as without a registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from services.batch_inference.errors import DataError, StorageError, UsageError


@dataclass(frozen=True)
class ApprovedVersion:
    """Where the approved version's model artefact is."""

    model: str
    version: int
    bucket: str
    key: str


def approved_version(dynamodb: Any, table: str, model: str) -> ApprovedVersion | None:
    """The approved version of ``model`` in ``table``, or None when none is approved."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "#m = :m AND #v > :zero",
        "FilterExpression": "#s = :approved",
        "ExpressionAttributeNames": {"#m": "model", "#v": "version", "#s": "stage"},
        "ExpressionAttributeValues": {
            ":m": {"S": model},
            ":zero": {"N": "0"},
            ":approved": {"S": "approved"},
        },
        "ConsistentRead": True,
    }
    found: list[dict[str, Any]] = []
    try:
        while True:
            page = dynamodb.query(**kwargs)
            found.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ResourceNotFoundException":
            raise UsageError(f"--registry-table: table {table!r} does not exist") from None
        raise StorageError(f"reading the registry {table} failed: {error.get('Code')}") from None
    except BotoCoreError as exc:
        raise StorageError(f"reading the registry {table} failed: {exc}") from None
    if not found:
        return None
    if len(found) > 1:
        raise DataError(f"model {model!r} has {len(found)} approved versions in {table}")
    item = found[0]
    try:
        artefact = item["artefact"]["M"]
        return ApprovedVersion(
            model=model,
            version=int(item["version"]["N"]),
            bucket=artefact["bucket"]["S"],
            key=artefact["model_key"]["S"],
        )
    except (KeyError, ValueError):
        raise DataError(f"the approved version of {model!r} in {table} names no artefact") from None
