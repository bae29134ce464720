"""Which objects the batch inference job reads, against moto: a triggered run reads only its
object; archived objects are skipped by listing runs and fail a triggered run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from batch_support import (
    CURATED,
    GOOD,
    INPUT_PREFIX,
    MARKER_KEY,
    MODELS,
    OUTPUT_PREFIX,
    PART_KEY,
    Outcome,
    Untouchable,
    base_args,
    jsonl,
    keys_under,
    put,
    read_json,
    read_jsonl,
    run_main,
)
from botocore.exceptions import ClientError

#: What the job definition of a triggered job passes (see ``__main__``).
TRIGGER_PLACEHOLDERS = [
    "--trigger-bucket",
    "Ref::trigger_bucket",
    "--trigger-key",
    "Ref::trigger_key",
]
BROKEN = b"this object must not be read\n"


def record(identifier: str) -> bytes:
    return jsonl({"id": identifier, "features": {"age": 1, "income": 0}})


def triggered(key: str, **overrides: str | None) -> list[str]:
    """The command line of a run submitted for the new object ``key`` of the input bucket."""
    return [*base_args(**overrides), "--trigger-bucket", CURATED, "--trigger-key", key]


def put_archived(s3: Any, key: str, body: bytes, storage_class: str) -> None:
    s3.put_object(Bucket=CURATED, Key=key, Body=body, StorageClass=storage_class)


@dataclass
class Calls:
    """The S3 operations a client made: (operation, bucket, key or prefix), and their params."""

    made: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    params: list[dict[str, Any]] = field(default_factory=list)

    def record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.made.append(
            (model.name, params.get("Bucket"), params.get("Key", params.get("Prefix")))
        )
        self.params.append({"operation": model.name, **params})

    def on(self, operation: str, bucket: str) -> list[str | None]:
        return [target for name, b, target in self.made if name == operation and b == bucket]


@pytest.fixture
def calls(s3: Any) -> Iterator[Calls]:
    """Every S3 call the job makes through the moto client, as the service receives it."""
    seen = Calls()
    s3.meta.events.register("provide-client-params.s3.*", seen.record)
    yield seen
    s3.meta.events.unregister("provide-client-params.s3.*", seen.record)


# --------------------------------------------------------------------------- triggered runs


def test_a_triggered_run_reads_only_its_object_and_lists_nothing(s3: Any, calls: Calls) -> None:
    new = f"{INPUT_PREFIX}/2024/05/01/new.jsonl"
    for n in range(40):  # the objects that arrived before: unreadable, so reading one fails the run
        put(s3, CURATED, f"{INPUT_PREFIX}/2024/04/{n:02d}.jsonl", BROKEN)
    put(s3, CURATED, new, record("new-1") + record("new-2"))

    outcome = run_main(triggered(new), s3=s3)

    assert outcome.code == 0, outcome.logs
    assert [r["id"] for r in read_jsonl(s3, MODELS, PART_KEY)] == ["new-1", "new-2"]
    assert calls.on("GetObject", CURATED) == [new]  # one read, whatever the folder holds
    assert calls.on("ListObjectsV2", CURATED) == []
    manifest = read_json(s3, MODELS, MARKER_KEY)
    assert manifest["input"] == {
        "bucket": CURATED,
        "prefix": f"{INPUT_PREFIX}/",
        "trigger": new,
        "objects": [{"key": new, "records": 2}],
        "skipped": [],
    }
    (started,) = outcome.events("run_started")
    assert started["trigger"] == f"s3://{CURATED}/{new}"


def test_triggered_runs_cost_one_read_each_however_many_objects_arrived(
    s3: Any, calls: Calls
) -> None:
    keys = [f"{INPUT_PREFIX}/obj-{n:02d}.jsonl" for n in range(12)]
    for n, key in enumerate(keys):
        put(s3, CURATED, key, record(f"r{n}"))
        assert run_main(triggered(key, run_id=f"run-{n}"), s3=s3).code == 0

    assert calls.on("GetObject", CURATED) == keys  # n objects -> n reads (was n * (n + 1) / 2)
    assert calls.on("ListObjectsV2", CURATED) == []


def test_a_run_of_the_same_definition_without_a_trigger_reads_the_whole_folder(
    s3: Any, calls: Calls
) -> None:
    """A scheduled or manual run: Batch leaves the Ref:: placeholders unresolved."""
    for name in ("a", "b"):
        put(s3, CURATED, f"{INPUT_PREFIX}/{name}.jsonl", record(name))

    outcome = run_main([*base_args(), *TRIGGER_PLACEHOLDERS], s3=s3)

    assert outcome.code == 0, outcome.logs
    assert [r["id"] for r in read_jsonl(s3, MODELS, PART_KEY)] == ["a", "b"]
    assert read_json(s3, MODELS, MARKER_KEY)["input"]["trigger"] is None
    assert calls.on("ListObjectsV2", CURATED) == [f"{INPUT_PREFIX}/"]


def test_the_trigger_can_come_from_the_environment(s3: Any, calls: Calls) -> None:
    new = f"{INPUT_PREFIX}/new.jsonl"
    put(s3, CURATED, f"{INPUT_PREFIX}/old.jsonl", BROKEN)
    put(s3, CURATED, new, record("n"))

    outcome = run_main(base_args(), environ={"BATCH_INFERENCE_TRIGGER_KEY": new}, s3=s3)

    assert outcome.code == 0, outcome.logs
    assert calls.on("GetObject", CURATED) == [new]


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_a_triggered_run_whose_object_is_archived_fails_as_bad_input(
    s3: Any, storage_class: str
) -> None:
    key = f"{INPUT_PREFIX}/archived.jsonl"
    put_archived(s3, key, GOOD, storage_class)

    outcome = run_main(triggered(key), s3=s3)

    assert outcome.code == 1  # a data error: not retried (only 3 is), the failed-runs alarm fires
    assert outcome.events("run_failed")[0]["error"] == "data_error"
    assert (
        f"s3://{CURATED}/{key} (--trigger-key) is archived (storage class {storage_class})"
        in outcome.failure
    )
    assert "restore it" in outcome.failure and "trigger_key" in outcome.failure
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == []


def test_a_triggered_run_whose_object_is_gone_fails_as_bad_input(s3: Any) -> None:
    outcome = run_main(triggered(f"{INPUT_PREFIX}/deleted.jsonl"), s3=s3)

    assert outcome.code == 1
    assert (
        f"s3://{CURATED}/{INPUT_PREFIX}/deleted.jsonl (--trigger-key) does not exist"
        in outcome.failure
    )
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == []


@pytest.mark.parametrize("name", ["_SUCCESS", ".staging", "folder/"])
def test_a_run_triggered_by_a_marker_or_folder_publishes_an_empty_result(
    s3: Any, calls: Calls, name: str
) -> None:
    key = f"{INPUT_PREFIX}/{name}"
    put(s3, CURATED, key, b"not records")

    outcome = run_main(triggered(key), s3=s3)

    assert outcome.code == 0, outcome.logs
    assert outcome.events("trigger_not_an_input")[0]["key"] == f"s3://{CURATED}/{key}"
    assert read_json(s3, MODELS, MARKER_KEY)["empty_input"] is True
    assert calls.on("GetObject", CURATED) == []


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            triggered("elsewhere/new.jsonl"),
            "--trigger-key: 'elsewhere/new.jsonl' is not under --input-prefix",
            id="key-outside-input-folder",
        ),
        pytest.param(
            triggered(f"{INPUT_PREFIX}-other/new.jsonl"),
            "is not under --input-prefix",
            id="key-in-a-sibling-folder",
        ),
        pytest.param(
            [
                *base_args(),
                "--trigger-bucket",
                "mlops-dev-raw",
                "--trigger-key",
                f"{INPUT_PREFIX}/a.jsonl",
            ],
            "--trigger-bucket: 'mlops-dev-raw' is not the input bucket",
            id="other-bucket",
        ),
        pytest.param(
            [*base_args(), "--trigger-bucket", CURATED],
            "--trigger-bucket is given but --trigger-key is not",
            id="bucket-without-key",
        ),
        pytest.param(
            [*base_args(), "--trigger-bucket", "s3://x", "--trigger-key", f"{INPUT_PREFIX}/a"],
            "--trigger-bucket: 's3://x' is not a valid S3 bucket name",
            id="bad-bucket",
        ),
    ],
)
def test_bad_trigger_parameters_exit_2_naming_the_parameter(
    aws_env: None, argv: list[str], expected: str
) -> None:
    outcome = run_main(argv, s3=Untouchable())

    assert outcome.code == 2
    assert expected in outcome.failure


# --------------------------------------------------------------------------- archived objects in a listing


def skipped_lines(outcome: Outcome) -> list[dict[str, Any]]:
    return outcome.events("archived_object_skipped")


def test_a_listing_run_skips_archived_objects_with_a_log_line_each(s3: Any, calls: Calls) -> None:
    put(s3, CURATED, f"{INPUT_PREFIX}/a-standard.jsonl", record("a"))
    put_archived(s3, f"{INPUT_PREFIX}/b-glacier.jsonl", BROKEN, "GLACIER")
    put_archived(s3, f"{INPUT_PREFIX}/c-deep.jsonl", BROKEN, "DEEP_ARCHIVE")
    put_archived(
        s3, f"{INPUT_PREFIX}/d-instant.jsonl", record("d"), "GLACIER_IR"
    )  # readable, not archived
    put_archived(s3, f"{INPUT_PREFIX}/e-infrequent.jsonl", record("e"), "STANDARD_IA")

    outcome = run_main(base_args(), s3=s3)

    assert outcome.code == 0, outcome.logs
    assert [r["id"] for r in read_jsonl(s3, MODELS, PART_KEY)] == ["a", "d", "e"]
    assert [
        (line["key"], line["storage_class"], line["level"]) for line in skipped_lines(outcome)
    ] == [
        (f"s3://{CURATED}/{INPUT_PREFIX}/b-glacier.jsonl", "GLACIER", "WARNING"),
        (f"s3://{CURATED}/{INPUT_PREFIX}/c-deep.jsonl", "DEEP_ARCHIVE", "WARNING"),
    ]
    assert "restore" in skipped_lines(outcome)[0]["message"].lower()
    assert sorted(k for k in calls.on("GetObject", CURATED) if k) == [
        f"{INPUT_PREFIX}/a-standard.jsonl",
        f"{INPUT_PREFIX}/d-instant.jsonl",
        f"{INPUT_PREFIX}/e-infrequent.jsonl",
    ]
    manifest = read_json(s3, MODELS, MARKER_KEY)
    assert manifest["input"]["skipped"] == [
        {"key": f"{INPUT_PREFIX}/b-glacier.jsonl", "storage_class": "GLACIER"},
        {"key": f"{INPUT_PREFIX}/c-deep.jsonl", "storage_class": "DEEP_ARCHIVE"},
    ]
    assert outcome.events("run_succeeded")[0]["skipped"] == 2


def test_only_archived_objects_is_an_empty_successful_run(s3: Any) -> None:
    put_archived(s3, f"{INPUT_PREFIX}/old.jsonl", BROKEN, "DEEP_ARCHIVE")

    outcome = run_main(base_args(), s3=s3)

    assert outcome.code == 0, outcome.logs
    assert read_json(s3, MODELS, MARKER_KEY)["empty_input"] is True
    assert len(skipped_lines(outcome)) == 1 and outcome.events("empty_input")[0]["skipped"] == 1


def test_a_restored_archived_object_is_read(s3: Any, calls: Calls) -> None:
    """S3 reports a restored copy in the listing's RestoreStatus when asked for it; moto does not
    model that field, so the response is completed as S3 documents it (API_RestoreStatus)."""
    restored = f"{INPUT_PREFIX}/restored.jsonl"
    put_archived(s3, restored, record("back"), "GLACIER")
    put_archived(s3, f"{INPUT_PREFIX}/restoring.jsonl", BROKEN, "GLACIER")
    s3.restore_object(Bucket=CURATED, Key=restored, RestoreRequest={"Days": 1})

    def restore_status(parsed: dict[str, Any], **_: Any) -> None:
        for item in parsed.get("Contents", []):
            if item["Key"] == restored:
                item["RestoreStatus"] = {
                    "IsRestoreInProgress": False,
                    "RestoreExpiryDate": datetime(2099, 1, 1, tzinfo=UTC),
                }
            elif item["Key"].endswith("restoring.jsonl"):
                item["RestoreStatus"] = {"IsRestoreInProgress": True}

    s3.meta.events.register("after-call.s3.ListObjectsV2", restore_status)
    outcome = run_main(base_args(), s3=s3)

    assert outcome.code == 0, outcome.logs
    assert [r["id"] for r in read_jsonl(s3, MODELS, PART_KEY)] == ["back"]
    assert [line["key"] for line in skipped_lines(outcome)] == [
        f"s3://{CURATED}/{INPUT_PREFIX}/restoring.jsonl"
    ]
    listings = [
        p for p in calls.params if p["operation"] == "ListObjectsV2" and p["Bucket"] == CURATED
    ]
    assert listings and all(p["OptionalObjectAttributes"] == ["RestoreStatus"] for p in listings)


class ArchiveTierClient:
    """A moto client on which GetObject of ``archived`` fails as S3 fails it for an
    Intelligent-Tiering object in the Deep Archive Access tier (not visible in a listing)."""

    def __init__(self, client: Any, archived: str) -> None:
        self._client, self._archived = client, archived

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **kwargs: Any) -> Any:
        if kwargs["Key"] == self._archived:
            raise ClientError(
                {
                    "Error": {
                        "Code": "InvalidObjectState",
                        "Message": "The operation is not valid for the object's storage class",
                        "StorageClass": "INTELLIGENT_TIERING",
                        "AccessTier": "DEEP_ARCHIVE_ACCESS",
                    }
                },
                "GetObject",
            )
        return self._client.get_object(**kwargs)


def test_an_object_s3_refuses_as_archived_is_skipped_with_its_tier(s3: Any) -> None:
    tiered = f"{INPUT_PREFIX}/b-tiered.jsonl"
    put(s3, CURATED, f"{INPUT_PREFIX}/a.jsonl", record("a"))
    put_archived(s3, tiered, BROKEN, "INTELLIGENT_TIERING")
    put(s3, CURATED, f"{INPUT_PREFIX}/c.jsonl", record("c"))

    outcome = run_main(base_args(), s3=ArchiveTierClient(s3, tiered))

    assert outcome.code == 0, outcome.logs
    assert [r["id"] for r in read_jsonl(s3, MODELS, PART_KEY)] == ["a", "c"]
    (line,) = skipped_lines(outcome)
    assert (line["key"], line["storage_class"], line["access_tier"]) == (
        f"s3://{CURATED}/{tiered}",
        "INTELLIGENT_TIERING",
        "DEEP_ARCHIVE_ACCESS",
    )
    assert read_json(s3, MODELS, MARKER_KEY)["input"]["skipped"] == [
        {
            "key": tiered,
            "storage_class": "INTELLIGENT_TIERING",
            "access_tier": "DEEP_ARCHIVE_ACCESS",
        }
    ]


def test_a_triggered_object_s3_refuses_as_archived_fails_naming_its_tier(s3: Any) -> None:
    tiered = f"{INPUT_PREFIX}/tiered.jsonl"
    put_archived(s3, tiered, GOOD, "INTELLIGENT_TIERING")

    outcome = run_main(triggered(tiered), s3=ArchiveTierClient(s3, tiered))

    assert outcome.code == 1
    assert "storage class INTELLIGENT_TIERING, access tier DEEP_ARCHIVE_ACCESS" in outcome.failure
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == []


# --------------------------------------------------------------------------- with shards (array jobs)

SHARDS = 3
PARENT_ID = "parent-7"
SHARD_FOLDER = f"{OUTPUT_PREFIX}/run_id={PARENT_ID}/"


def run_child(s3: Any, index: int, argv: list[str]) -> Outcome:
    environ = {"AWS_BATCH_JOB_ARRAY_INDEX": str(index), "AWS_BATCH_JOB_ID": f"{PARENT_ID}:{index}"}
    return run_main([*argv, "--shard-count", str(SHARDS)], environ=environ, s3=s3)


def test_shards_skip_their_own_archived_objects_and_the_run_manifest_lists_them_all(
    s3: Any,
) -> None:
    archived = [f"{INPUT_PREFIX}/cold-{n}.jsonl" for n in range(6)]
    for key in archived:
        put_archived(s3, key, BROKEN, "DEEP_ARCHIVE")
    put(s3, CURATED, f"{INPUT_PREFIX}/warm.jsonl", record("w"))

    outcomes = [run_child(s3, index, base_args(run_id=None)) for index in range(SHARDS)]

    assert [o.code for o in outcomes] == [0] * SHARDS
    logged = sorted(line["key"] for o in outcomes for line in skipped_lines(o))
    assert logged == [f"s3://{CURATED}/{key}" for key in archived]  # each once, by its own shard
    manifest = read_json(s3, MODELS, f"{SHARD_FOLDER}_SUCCESS")
    assert [item["key"] for item in manifest["input"]["skipped"]] == archived
    assert manifest["records"] == 1


def test_a_triggered_array_run_scores_its_object_in_one_shard(s3: Any, calls: Calls) -> None:
    new = f"{INPUT_PREFIX}/new.jsonl"
    put(s3, CURATED, f"{INPUT_PREFIX}/old.jsonl", BROKEN)
    put(s3, CURATED, new, record("n"))

    outcomes = [run_child(s3, index, triggered(new, run_id=None)) for index in range(SHARDS)]

    assert [o.code for o in outcomes] == [0] * SHARDS
    assert calls.on("GetObject", CURATED) == [new]
    manifest = read_json(s3, MODELS, f"{SHARD_FOLDER}_SUCCESS")
    assert manifest["input"]["trigger"] == new
    assert manifest["input"]["objects"] == [{"key": new, "records": 1}]
    assert keys_under(s3, MODELS, SHARD_FOLDER)[0] == f"{SHARD_FOLDER}_SUCCESS"
