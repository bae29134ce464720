"""The ingest Lambda against moto: raw-zone JSON Lines object in, DynamoDB items out.

Events are produced by moto itself where it can: S3's EventBridge notification routed by an
EventBridge rule to an SQS queue, and S3's classic notification to an SQS queue. The
handler module is imported inside the mock with its environment set, as Lambda's cold
start would.
"""

from __future__ import annotations

import importlib
import io
import json
import sys
from collections.abc import Iterator
from decimal import Decimal
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto_support import fresh_mock_aws, shared_session

REGION = "eu-west-1"
BUCKET = "lake-raw"
TABLE = "feature-records"
MODULE = "services.ingest.handler"

GOOD_RECORDS = [
    {"id": "a", "ts": "2024-05-01T12:00:00Z", "features": {"temp": 21.5, "count": 3, "ok": True}},
    {"id": "b", "ts": "2024-05-01T14:00:00+02:00", "features": {"label": "x", "missing": None}},
    {"id": "c", "ts": "2024-05-01T12:00:01.250000+00:00", "features": {}},
]


def jsonl(*records: Any) -> bytes:
    """Encode records as JSON Lines (one compact JSON document per line)."""
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def import_handler() -> ModuleType:
    """Import the handler module afresh: a Lambda cold start with the current env."""
    sys.modules.pop(MODULE, None)
    return importlib.import_module(MODULE)


_CLIENTS: dict[str, Any] = {}


def client(service: str) -> Any:
    """The tests' own client for ``service`` in REGION, made once for the module: a client
    holds no moto state (each request is answered by the backends of the mock active then),
    and no test registers hooks on these. ``"table"`` is the records table's resource."""
    if service not in _CLIENTS:
        session = shared_session()
        _CLIENTS[service] = (
            session.resource("dynamodb", region_name=REGION).Table(TABLE)
            if service == "table"
            else session.client(service, region_name=REGION)
        )
    return _CLIENTS[service]


class Lake:
    """A mocked raw-zone bucket, the records table and moto-made events for new objects."""

    def __init__(self) -> None:
        self.s3 = client("s3")
        self.sqs = client("sqs")
        self.events = client("events")
        self.dynamodb = client("dynamodb")
        self.s3.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        self.s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        self.dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.eventbridge_queue = self._queue("eventbridge-events")
        self.notification_queue = self._queue("s3-notifications")
        self.s3.put_bucket_notification_configuration(
            Bucket=BUCKET,
            NotificationConfiguration={
                "EventBridgeConfiguration": {},
                "QueueConfigurations": [
                    {
                        "QueueArn": self._arn(self.notification_queue),
                        "Events": ["s3:ObjectCreated:*"],
                    }
                ],
            },
        )
        self.events.put_rule(
            Name="raw-object-created",
            EventPattern=json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"]}),
        )
        self.events.put_targets(
            Rule="raw-object-created",
            Targets=[{"Id": "queue", "Arn": self._arn(self.eventbridge_queue)}],
        )
        self._drain(self.notification_queue)  # S3's s3:TestEvent

    def _queue(self, name: str) -> str:
        return self.sqs.create_queue(QueueName=name)["QueueUrl"]

    def _arn(self, url: str) -> str:
        attrs = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return attrs["Attributes"]["QueueArn"]

    def _drain(self, url: str) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        for message in messages:
            self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    def put(self, key: str, body: bytes) -> str:
        """Upload an object; return its version id."""
        return self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]

    def put_with_eventbridge_event(self, key: str, body: bytes) -> dict[str, Any]:
        """Upload an object; return the EventBridge event S3 emitted for it."""
        self.put(key, body)
        self._drain(self.notification_queue)
        (event,) = self._drain(self.eventbridge_queue)
        return event

    def put_with_notification_event(self, key: str, body: bytes) -> dict[str, Any]:
        """Upload an object; return the classic S3 notification (``Records``) for it."""
        self.put(key, body)
        self._drain(self.eventbridge_queue)
        (event,) = self._drain(self.notification_queue)
        return event

    def items(self) -> dict[str, dict[str, Any]]:
        """Every item in the table, by id (plain Python values)."""
        return {item["id"]: item for item in client("table").scan()["Items"]}


def eventbridge_event(key: str, version_id: str | None = None, size: int = 1) -> dict[str, Any]:
    """An EventBridge "Object Created" event in the shape AWS documents."""
    obj: dict[str, Any] = {
        "key": key,
        "size": size,
        "etag": "0" * 32,
        "sequencer": "617f08299329d189",
    }
    if version_id is not None:
        obj["version-id"] = version_id
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2024-05-01T12:00:00Z",
        "region": REGION,
        "resources": [f"arn:aws:s3:::{BUCKET}"],
        "detail": {
            "version": "0",
            "bucket": {"name": BUCKET},
            "object": obj,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject",
        },
    }


CONTEXT = SimpleNamespace(aws_request_id="req-1")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, a region, the handler's env; everything inside ``mock_aws`` (fresh
    moto state per test, boto3's session shared: see ``moto_support``)."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "SOURCE_BUCKET",
        "SOURCE_PREFIX",
        "MAX_OBJECT_BYTES",
        "LOG_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    with fresh_mock_aws():
        yield
    sys.modules.pop(MODULE, None)


@pytest.fixture
def lake(aws: None) -> Lake:
    """The mocked bucket, table and event plumbing."""
    return Lake()


@pytest.fixture
def ingest(aws: None) -> ModuleType:
    """The handler module after a cold start with the default test environment (the tests
    that read or write objects ask for ``lake`` as well; the cold start makes no call)."""
    return import_handler()


# --------------------------------------------------------------------------- good input


def test_eventbridge_event_writes_every_record(lake: Lake, ingest: ModuleType) -> None:
    event = lake.put_with_eventbridge_event("incoming/batch-1.jsonl", jsonl(*GOOD_RECORDS))

    result = ingest.handler(event, CONTEXT)

    uri = f"s3://{BUCKET}/incoming/batch-1.jsonl"
    assert result == {"objects": [{"object": uri, "records": 3}], "records_written": 3}
    items = lake.items()
    assert set(items) == {"a", "b", "c"}
    assert items["a"]["features"] == {"temp": Decimal("21.5"), "count": 3, "ok": True}
    assert items["b"]["features"] == {"label": "x", "missing": None}
    # Timestamps are normalised to UTC; provenance is recorded.
    assert items["a"]["ts"] == "2024-05-01T12:00:00+00:00"
    assert items["b"]["ts"] == "2024-05-01T12:00:00+00:00"
    assert items["c"]["ts"] == "2024-05-01T12:00:01.250000+00:00"
    assert items["c"]["source_object"] == uri
    assert items["c"]["source_line"] == 3
    assert items["a"]["source_version"] == event["detail"]["object"]["version-id"]


def test_s3_notification_event_with_url_encoded_key(lake: Lake, ingest: ModuleType) -> None:
    key = "incoming/day 1/batch+2.jsonl"
    event = lake.put_with_notification_event(key, jsonl(*GOOD_RECORDS[:2]))
    assert event["Records"][0]["s3"]["object"]["key"] != key  # S3 URL-encodes it

    result = ingest.handler(event, CONTEXT)

    assert result["records_written"] == 2
    assert result["objects"][0]["object"] == f"s3://{BUCKET}/{key}"
    assert set(lake.items()) == {"a", "b"}


def test_eventbridge_key_with_plus_and_space_is_found(lake: Lake, ingest: ModuleType) -> None:
    key = "incoming/a b+c.jsonl"
    event = lake.put_with_eventbridge_event(key, jsonl(GOOD_RECORDS[0]))

    assert ingest.handler(event, CONTEXT)["objects"][0]["object"] == f"s3://{BUCKET}/{key}"
    assert set(lake.items()) == {"a"}


def test_notification_with_several_records_writes_all_objects(
    lake: Lake, ingest: ModuleType
) -> None:
    first = lake.put_with_notification_event("incoming/1.jsonl", jsonl(GOOD_RECORDS[0]))
    second = lake.put_with_notification_event("incoming/2.jsonl", jsonl(GOOD_RECORDS[1]))
    event = {"Records": first["Records"] + second["Records"]}

    assert ingest.handler(event, CONTEXT)["records_written"] == 2
    assert set(lake.items()) == {"a", "b"}


def test_reads_the_version_named_by_the_event(lake: Lake, ingest: ModuleType) -> None:
    """A retry after the key was overwritten still processes the bytes of the event."""
    key = "incoming/v.jsonl"
    old = lake.put(key, jsonl(GOOD_RECORDS[0]))
    lake.put(key, jsonl(GOOD_RECORDS[1]))

    ingest.handler(eventbridge_event(key, version_id=old), CONTEXT)

    assert set(lake.items()) == {"a"}
    assert lake.items()["a"]["source_version"] == old


@pytest.mark.parametrize(
    "body", [b"", b"\n\n  \n", b"\xef\xbb\xbf"], ids=["empty", "blank-lines", "bom-only"]
)
def test_object_without_records_writes_nothing(lake: Lake, ingest: ModuleType, body: bytes) -> None:
    event = lake.put_with_eventbridge_event("incoming/empty.jsonl", body)

    result = ingest.handler(event, CONTEXT)

    assert result == {
        "objects": [{"object": f"s3://{BUCKET}/incoming/empty.jsonl", "records": 0}],
        "records_written": 0,
    }
    assert lake.items() == {}


def test_crlf_lines_blank_lines_and_bom_are_accepted(lake: Lake, ingest: ModuleType) -> None:
    body = (
        b"\xef\xbb\xbf"
        + jsonl(GOOD_RECORDS[0]).replace(b"\n", b"\r\n")
        + b"\r\n"
        + jsonl(GOOD_RECORDS[1])
    )
    event = lake.put_with_eventbridge_event("incoming/crlf.jsonl", body)

    assert ingest.handler(event, CONTEXT)["records_written"] == 2
    assert lake.items()["b"]["source_line"] == 3


def test_reprocessing_the_same_object_is_idempotent(lake: Lake, ingest: ModuleType) -> None:
    event = lake.put_with_eventbridge_event("incoming/again.jsonl", jsonl(*GOOD_RECORDS))

    ingest.handler(event, CONTEXT)
    first = lake.items()
    ingest.handler(event, CONTEXT)  # e.g. Lambda's at-least-once delivery
    ingest.handler(event, CONTEXT)

    assert lake.items() == first
    assert len(first) == 3


def test_a_later_object_with_the_same_id_updates_the_item(lake: Lake, ingest: ModuleType) -> None:
    ingest.handler(
        lake.put_with_eventbridge_event("incoming/1.jsonl", jsonl(GOOD_RECORDS[0])), CONTEXT
    )
    newer = {**GOOD_RECORDS[0], "features": {"temp": 30}}
    ingest.handler(lake.put_with_eventbridge_event("incoming/2.jsonl", jsonl(newer)), CONTEXT)

    items = lake.items()
    assert len(items) == 1
    assert items["a"]["features"] == {"temp": 30}
    assert items["a"]["source_object"] == f"s3://{BUCKET}/incoming/2.jsonl"


def test_logs_are_json_lines(
    lake: Lake, ingest: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    event = lake.put_with_eventbridge_event("incoming/log.jsonl", jsonl(*GOOD_RECORDS))
    capsys.readouterr()
    ingest.configure_logger("INFO")  # bind the handler to the captured stdout

    ingest.handler(event, CONTEXT)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (entry,) = [e for e in lines if e["message"] == "object ingested"]
    assert entry["level"] == "INFO"
    assert entry["logger"] == "ingest"
    assert entry["records"] == 3
    assert entry["object"] == f"s3://{BUCKET}/incoming/log.jsonl"
    assert entry["table"] == TABLE
    assert entry["request_id"] == "req-1"


# --------------------------------------------------------------------------- malformed input

GOOD_LINE = json.dumps(GOOD_RECORDS[0])

MALFORMED: dict[str, tuple[str, str]] = {
    # case: (bad line, text the error must contain)
    "bad-json": ('{"id": "x", "ts": ', "not valid JSON"),
    "not-an-object": ('["x", "2024-05-01T00:00:00Z"]', "expected a JSON object, got array"),
    "missing-id": (
        '{"ts": "2024-05-01T00:00:00Z", "features": {}}',
        "missing required field(s): id",
    ),
    "missing-ts": ('{"id": "x", "features": {}}', "missing required field(s): ts"),
    "missing-features": (
        '{"id": "x", "ts": "2024-05-01T00:00:00Z"}',
        "missing required field(s): features",
    ),
    "unknown-field": (
        '{"id": "x", "ts": "2024-05-01T00:00:00Z", "features": {}, "feature": 1}',
        "unknown field(s): feature",
    ),
    "id-not-string": (
        '{"id": 7, "ts": "2024-05-01T00:00:00Z", "features": {}}',
        "field 'id' must be a string, got number",
    ),
    "id-empty": (
        '{"id": " ", "ts": "2024-05-01T00:00:00Z", "features": {}}',
        "field 'id' must not be empty",
    ),
    "id-too-long": (
        json.dumps({"id": "x" * 1025, "ts": "2024-05-01T00:00:00Z", "features": {}}),
        "field 'id' is longer than 1024 bytes",
    ),
    "ts-not-string": (
        '{"id": "x", "ts": 1714521600, "features": {}}',
        "field 'ts' must be an ISO-8601 string, got number",
    ),
    "ts-not-a-date": (
        '{"id": "x", "ts": "yesterday", "features": {}}',
        "field 'ts' is not an ISO-8601",
    ),
    "ts-no-zone": (
        '{"id": "x", "ts": "2024-05-01T00:00:00", "features": {}}',
        "field 'ts' has no time zone",
    ),
    "features-not-object": (
        '{"id": "x", "ts": "2024-05-01T00:00:00Z", "features": [1]}',
        "field 'features' must be an object, got array",
    ),
    "feature-nested": (
        '{"id": "x", "ts": "2024-05-01T00:00:00Z", "features": {"f": {"g": 1}}}',
        "feature 'f' must be a number, string, boolean or null, got object",
    ),
    "feature-empty-name": (
        '{"id": "x", "ts": "2024-05-01T00:00:00Z", "features": {"": 1}}',
        "empty feature name",
    ),
    "nan": (
        '{"id": "x", "ts": "2024-05-01T00:00:00Z", "features": {"f": NaN}}',
        "NaN is not a valid number",
    ),
    "number-too-large": (
        '{"id": "x", "ts": "2024-05-01T00:00:00Z", "features": {"f": 1e400}}',
        "cannot be stored in DynamoDB",
    ),
    "number-too-precise": (
        '{"id": "x", "ts": "2024-05-01T00:00:00Z", "features": {"f": 0.1234567890123456789012345678901234567891}}',
        "cannot be stored in DynamoDB",
    ),
    "record-too-large": (
        json.dumps({"id": "x", "ts": "2024-05-01T00:00:00Z", "features": {"f": "y" * 410_000}}),
        "too large for DynamoDB",
    ),
    "duplicate-id": (GOOD_LINE, "duplicate id 'a' (first on line 1)"),
}


@pytest.mark.parametrize("position", ["middle", "last"])
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_line_raises_and_writes_nothing(
    lake: Lake, ingest: ModuleType, case: str, position: str
) -> None:
    bad, expected = MALFORMED[case]
    other = json.dumps(GOOD_RECORDS[1])
    lines = [GOOD_LINE, bad, other] if position == "middle" else [GOOD_LINE, other, bad]
    bad_line = 2 if position == "middle" else 3
    key = f"incoming/{case}.jsonl"
    event = lake.put_with_eventbridge_event(key, "\n".join(lines).encode() + b"\n")

    with pytest.raises(ingest.InvalidObjectError) as raised:
        ingest.handler(event, CONTEXT)

    message = str(raised.value)
    assert f"s3://{BUCKET}/{key}" in message
    assert f"line {bad_line}: " in message
    assert expected in message
    assert raised.value.problems[0][0] == bad_line
    assert "nothing was written" in message
    assert lake.items() == {}


def test_invalid_utf8_names_the_line(lake: Lake, ingest: ModuleType) -> None:
    body = (
        jsonl(GOOD_RECORDS[0]) + b'{"id": "\xff", "ts": "2024-05-01T00:00:00Z", "features": {}}\n'
    )
    event = lake.put_with_eventbridge_event("incoming/latin1.jsonl", body)

    with pytest.raises(ingest.InvalidObjectError, match=r"line 2: not valid UTF-8"):
        ingest.handler(event, CONTEXT)
    assert lake.items() == {}


def test_every_bad_line_is_reported(lake: Lake, ingest: ModuleType) -> None:
    body = "\n".join([GOOD_LINE, "{", '{"id": 1, "ts": "x", "features": {}}', "[]"]).encode()
    event = lake.put_with_eventbridge_event("incoming/many.jsonl", body)

    with pytest.raises(ingest.InvalidObjectError) as raised:
        ingest.handler(event, CONTEXT)

    assert [line for line, _ in raised.value.problems] == [2, 3, 4]
    assert "(3 problem(s))" in str(raised.value)


def test_bad_object_does_not_touch_existing_items(lake: Lake, ingest: ModuleType) -> None:
    ingest.handler(
        lake.put_with_eventbridge_event("incoming/good.jsonl", jsonl(*GOOD_RECORDS)), CONTEXT
    )
    before = lake.items()
    changed = {**GOOD_RECORDS[0], "features": {"temp": -1}}
    body = jsonl(changed) + b"not json\n"

    with pytest.raises(ingest.InvalidObjectError):
        ingest.handler(lake.put_with_eventbridge_event("incoming/bad.jsonl", body), CONTEXT)

    assert lake.items() == before


def test_one_bad_object_in_a_notification_blocks_the_whole_event(
    lake: Lake, ingest: ModuleType
) -> None:
    good = lake.put_with_notification_event("incoming/1.jsonl", jsonl(GOOD_RECORDS[0]))
    bad = lake.put_with_notification_event("incoming/2.jsonl", b"{oops}\n")

    with pytest.raises(ingest.InvalidObjectError, match=r"incoming/2\.jsonl.*line 1"):
        ingest.handler({"Records": good["Records"] + bad["Records"]}, CONTEXT)
    assert lake.items() == {}


# --------------------------------------------------------------------------- failure path (DLQ)


def test_failure_propagates_to_lambda_and_is_logged(
    lake: Lake, ingest: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """An asynchronous invocation whose handler raises is retried, then dead-lettered by
    Lambda. moto cannot run a function without Docker, so this checks the handler's half of
    that contract: the error escapes (nothing is returned as if it succeeded), with the
    object and line in the message Lambda puts into the dead-letter message's
    ErrorMessage attribute, and a JSON log line says why."""
    event = lake.put_with_eventbridge_event("incoming/dlq.jsonl", jsonl(GOOD_RECORDS[0]) + b"{\n")
    ingest.configure_logger("INFO")

    with pytest.raises(ValueError) as raised:
        ingest.handler(event, CONTEXT)

    assert type(raised.value).__name__ == "InvalidObjectError"
    assert str(raised.value).startswith(
        f"s3://{BUCKET}/incoming/dlq.jsonl is invalid (1 problem(s))"
    )
    assert "line 2: not valid JSON" in str(raised.value)
    errors = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (entry,) = [e for e in errors if e["level"] == "ERROR"]
    assert entry["error_type"] == "InvalidObjectError"
    assert entry["request_id"] == "req-1"
    assert "incoming/dlq.jsonl" in entry["error"]
    assert lake.items() == {}


def test_missing_object_raises(lake: Lake, ingest: ModuleType) -> None:
    with pytest.raises(
        ingest.ObjectNotFoundError, match=r"s3://lake-raw/incoming/gone\.jsonl does not exist"
    ):
        ingest.handler(eventbridge_event("incoming/gone.jsonl"), CONTEXT)


def test_access_denied_key_candidate_falls_through_then_is_reraised(ingest: ModuleType) -> None:
    """Without s3:ListBucket a missing key answers 403, not 404: try the other reading of
    the key, and if none can be read report the AccessDenied itself."""
    s3 = boto3.client("s3", region_name=REGION)
    ref = ingest.objects_from_event(eventbridge_event("in/a+b.jsonl", version_id="v1"))[0]
    assert ref.keys == ("in/a+b.jsonl", "in/a b.jsonl")
    body = jsonl(GOOD_RECORDS[0])
    with Stubber(s3) as stub:
        stub.add_client_error(
            "get_object",
            "AccessDenied",
            http_status_code=403,
            expected_params={"Bucket": BUCKET, "Key": "in/a+b.jsonl", "VersionId": "v1"},
        )
        stub.add_response(
            "get_object",
            {"Body": StreamingBody(io.BytesIO(body), len(body)), "ContentLength": len(body)},
            {"Bucket": BUCKET, "Key": "in/a b.jsonl", "VersionId": "v1"},
        )
        assert ingest.read_object(s3, ref, 1000) == (f"s3://{BUCKET}/in/a b.jsonl", body)

        stub.add_client_error("get_object", "AccessDenied", http_status_code=403)
        stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
        with pytest.raises(ClientError, match="AccessDenied"):
            ingest.read_object(s3, ref, 1000)


def test_object_larger_than_limit_is_rejected_unread(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_OBJECT_BYTES", "100")
    ingest = import_handler()
    event = lake.put_with_eventbridge_event("incoming/big.jsonl", jsonl(*GOOD_RECORDS))

    with pytest.raises(ingest.InvalidObjectError, match=r"larger than MAX_OBJECT_BYTES=100"):
        ingest.handler(event, CONTEXT)
    # The event's size may be missing or wrong; the object's own length is checked too.
    del event["detail"]["object"]["size"]
    with pytest.raises(ingest.InvalidObjectError, match=r"larger than MAX_OBJECT_BYTES=100"):
        ingest.handler(event, CONTEXT)
    assert lake.items() == {}


def test_missing_table_error_propagates(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "no-such-table")
    ingest = import_handler()
    event = lake.put_with_eventbridge_event("incoming/t.jsonl", jsonl(GOOD_RECORDS[0]))

    with pytest.raises(Exception, match="ResourceNotFound|Requested resource not found"):
        ingest.handler(event, CONTEXT)


# --------------------------------------------------------------------------- events


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ([], "event must be a JSON object, got list"),
        ({"hello": "world"}, "neither an EventBridge S3 event"),
        (
            {**eventbridge_event("k"), "detail-type": "Object Deleted"},
            "detail-type is 'Object Deleted', expected 'Object Created'",
        ),
        (
            {**eventbridge_event("k"), "detail": {"bucket": {"name": BUCKET}, "object": {}}},
            "detail.object.key is missing",
        ),
        (
            {**eventbridge_event("k"), "detail": {"object": {"key": "k"}}},
            "detail.bucket.name is missing",
        ),
        ({"Records": []}, "Records must be a non-empty list"),
        ({"Records": ["x"]}, "Records[0] must be an object"),
        (
            {"Records": [{"eventName": "ObjectRemoved:Delete", "s3": {}}]},
            "Records[0].eventName is 'ObjectRemoved:Delete'",
        ),
        (
            {
                "Records": [
                    {
                        "eventName": "ObjectCreated:Put",
                        "s3": {"bucket": {"name": BUCKET}, "object": {}},
                    }
                ]
            },
            "Records[0].s3.object.key is missing",
        ),
    ],
    ids=[
        "not-object",
        "unknown",
        "deleted",
        "no-key",
        "no-bucket",
        "no-records",
        "record-not-object",
        "removed",
        "record-no-key",
    ],
)
def test_unsupported_events_are_rejected(ingest: ModuleType, event: Any, expected: str) -> None:
    with pytest.raises(ingest.InvalidEventError) as raised:
        ingest.handler(event, CONTEXT)
    assert expected in str(raised.value)


def test_source_bucket_and_prefix_are_enforced(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_BUCKET", "other-bucket")
    ingest = import_handler()
    event = lake.put_with_eventbridge_event("incoming/x.jsonl", jsonl(GOOD_RECORDS[0]))
    with pytest.raises(
        ingest.InvalidEventError, match="not in the configured SOURCE_BUCKET 'other-bucket'"
    ):
        ingest.handler(event, CONTEXT)

    monkeypatch.setenv("SOURCE_BUCKET", BUCKET)
    monkeypatch.setenv("SOURCE_PREFIX", "raw/")
    ingest = import_handler()
    with pytest.raises(
        ingest.InvalidEventError, match="not under the configured SOURCE_PREFIX 'raw/'"
    ):
        ingest.handler(event, CONTEXT)
    assert lake.items() == {}

    monkeypatch.setenv("SOURCE_PREFIX", "incoming/")
    assert import_handler().handler(event, CONTEXT)["records_written"] == 1


# --------------------------------------------------------------------------- configuration


def test_missing_table_name_fails_the_cold_start(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TABLE_NAME")

    with pytest.raises(RuntimeError) as raised:
        import_handler()

    assert type(raised.value).__name__ == "ConfigError"
    assert "TABLE_NAME is required" in str(raised.value)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ["TABLE_NAME is required"]),
        ({"TABLE_NAME": "a b"}, ["TABLE_NAME='a b' is not a DynamoDB table name"]),
        ({"TABLE_NAME": "t" * 256}, ["is not a DynamoDB table name"]),
        (
            {"TABLE_NAME": TABLE, "MAX_OBJECT_BYTES": "-1"},
            ["MAX_OBJECT_BYTES='-1' must be a positive"],
        ),
        (
            {"TABLE_NAME": TABLE, "MAX_OBJECT_BYTES": "0"},
            ["MAX_OBJECT_BYTES='0' must be a positive"],
        ),
        (
            {"TABLE_NAME": TABLE, "MAX_OBJECT_BYTES": "1MB"},
            ["MAX_OBJECT_BYTES='1MB' must be a positive"],
        ),
        (
            {"TABLE_NAME": TABLE, "LOG_LEVEL": "LOUD"},
            ["LOG_LEVEL='LOUD' is not one of DEBUG, INFO"],
        ),
        (
            {"MAX_OBJECT_BYTES": "x", "LOG_LEVEL": "x"},
            ["TABLE_NAME is required", "MAX_OBJECT_BYTES='x'", "LOG_LEVEL='x'"],
        ),
    ],
    ids=[
        "empty",
        "table-space",
        "table-long",
        "max-negative",
        "max-zero",
        "max-unit",
        "log-level",
        "all-problems-at-once",
    ],
)
def test_bad_configuration_is_reported(
    ingest: ModuleType, environ: dict[str, str], expected: list[str]
) -> None:
    with pytest.raises(ingest.ConfigError) as raised:
        ingest.load_config(environ)
    for text in expected:
        assert text in str(raised.value)


def test_configuration_defaults_and_values(ingest: ModuleType) -> None:
    assert ingest.load_config({"TABLE_NAME": TABLE}) == ingest.Config(
        table_name=TABLE,
        source_bucket=None,
        source_prefix="",
        max_object_bytes=64 * 1024 * 1024,
        log_level="INFO",
    )
    assert ingest.load_config(
        {
            "TABLE_NAME": TABLE,
            "SOURCE_BUCKET": BUCKET,
            "SOURCE_PREFIX": "raw/",
            "MAX_OBJECT_BYTES": "1024",
            "LOG_LEVEL": "debug",
        }
    ) == ingest.Config(TABLE, BUCKET, "raw/", 1024, "DEBUG")
