"""The batch inference job against moto: outputs, outcomes, parameters, and a real subprocess."""

from __future__ import annotations

import io
import json
import math
import os
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from batch_support import (
    CURATED,
    GOOD,
    INPUT_PREFIX,
    LINEAR_MODEL,
    MARKER_KEY,
    MODEL_KEY,
    MODELS,
    OUTPUT_PREFIX,
    PACKAGE_DIR,
    PART_KEY,
    RUN_FOLDER,
    RUN_ID,
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
from hypothesis import given
from hypothesis import strategies as st
from moto.server import ThreadedMotoServer

from services.batch_inference import job
from services.batch_inference.__main__ import main


def expected_linear(features: Mapping[str, float]) -> float:
    """The linear model's score computed independently of the job."""
    return 0.5 + 0.1 * features["age"] - 0.002 * features["income"]


# --------------------------------------------------------------------------- happy paths


def test_happy_path_writes_predictions_and_manifest(s3: Any) -> None:
    records = [
        {"id": "c-1", "features": {"age": 30, "income": 1000}},
        {"id": "c-2", "features": {"age": 52.5, "income": 250.0, "unused": 7}, "extra": "ignored"},
        {"id": 3, "features": {"age": 0, "income": 0}},
    ]
    put(s3, CURATED, f"{INPUT_PREFIX}/part-1.jsonl", jsonl(*records))

    outcome = run_main(base_args(), s3=s3)

    assert outcome.code == 0, outcome.logs
    assert keys_under(s3, MODELS, RUN_FOLDER) == [MARKER_KEY, PART_KEY]
    rows = read_jsonl(s3, MODELS, PART_KEY)
    assert [r["id"] for r in rows] == ["c-1", "c-2", 3]
    assert [r["prediction"] for r in rows] == pytest.approx([1.5, 5.25, 0.5])
    assert [r["prediction"] for r in rows] == pytest.approx(
        [expected_linear(r["features"]) for r in records]
    )
    assert all("label" not in r for r in rows)

    manifest = read_json(s3, MODELS, MARKER_KEY)
    assert manifest["status"] == "succeeded"
    assert manifest["run_id"] == RUN_ID
    assert manifest["records"] == 3
    assert manifest["empty_input"] is False
    assert manifest["input"] == {
        "bucket": CURATED,
        "prefix": f"{INPUT_PREFIX}/",
        "trigger": None,
        "objects": [{"key": f"{INPUT_PREFIX}/part-1.jsonl", "records": 3}],
        "skipped": [],
    }
    assert manifest["output"] == {
        "bucket": MODELS,
        "prefix": RUN_FOLDER,
        "keys": [PART_KEY],
        "records": 3,
    }
    assert manifest["model"]["name"] == "churn-v3"
    assert manifest["model"]["coefficients"] == LINEAR_MODEL["coefficients"]
    assert manifest["model"]["source"]["uri"] == f"s3://{MODELS}/{MODEL_KEY}"
    head = s3.head_object(Bucket=MODELS, Key=MODEL_KEY)
    assert manifest["model"]["source"]["etag"] == head["ETag"].strip('"')
    started = datetime.fromisoformat(manifest["started_at"].replace("Z", "+00:00"))
    finished = datetime.fromisoformat(manifest["finished_at"].replace("Z", "+00:00"))
    assert started == datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert finished > started

    assert [line["event"] for line in outcome.logs][0] == "run_started"
    (done,) = outcome.events("run_succeeded")
    assert done["run_id"] == RUN_ID and done["records"] == 3
    assert all(
        line["level"] in {"INFO", "WARNING", "ERROR"} and "ts" in line for line in outcome.logs
    )


def test_multiple_objects_are_read_in_key_order_and_markers_skipped(s3: Any) -> None:
    put(
        s3,
        CURATED,
        f"{INPUT_PREFIX}/b.jsonl",
        jsonl({"id": "b1", "features": {"age": 1, "income": 0}}),
    )
    put(
        s3,
        CURATED,
        f"{INPUT_PREFIX}/a.jsonl",
        jsonl(
            {"id": "a1", "features": {"age": 10, "income": 0}},
            {"id": "a2", "features": {"age": 20, "income": 0}},
        ),
    )
    put(
        s3,
        CURATED,
        f"{INPUT_PREFIX}/nested/c.jsonl",
        b'{"id": "c1", "features": {"age": 2, "income": 500}}',
    )
    put(s3, CURATED, f"{INPUT_PREFIX}/_SUCCESS", b"{not records}")
    put(s3, CURATED, f"{INPUT_PREFIX}/nested/.hidden", b"garbage")
    put(s3, CURATED, f"{INPUT_PREFIX}/empty-folder/", b"")
    put(s3, CURATED, f"{INPUT_PREFIX}-other/x.jsonl", b"garbage outside the input folder")

    outcome = run_main(base_args(), s3=s3)

    assert outcome.code == 0, outcome.logs
    rows = read_jsonl(s3, MODELS, PART_KEY)
    assert [r["id"] for r in rows] == ["a1", "a2", "b1", "c1"]
    assert [r["prediction"] for r in rows] == pytest.approx([1.5, 2.5, 0.6, -0.3])
    manifest = read_json(s3, MODELS, MARKER_KEY)
    assert manifest["input"]["objects"] == [
        {"key": f"{INPUT_PREFIX}/a.jsonl", "records": 2},
        {"key": f"{INPUT_PREFIX}/b.jsonl", "records": 1},
        {"key": f"{INPUT_PREFIX}/nested/c.jsonl", "records": 1},
    ]
    assert manifest["records"] == manifest["output"]["records"] == 4


def test_logistic_model_with_threshold_adds_labels(s3: Any) -> None:
    put(
        s3,
        MODELS,
        "artefacts/logit.json",
        json.dumps({"coefficients": {"x": 2.0}, "intercept": -1.0, "link": "logistic"}),
    )
    put(
        s3,
        CURATED,
        f"{INPUT_PREFIX}/in.jsonl",
        jsonl(
            {"id": "lo", "features": {"x": 0}},
            {"id": "mid", "features": {"x": 0.5}},
            {"id": "hi", "features": {"x": 800}},
        ),
    )

    outcome = run_main(base_args(model_key="artefacts/logit.json", threshold="0.5"), s3=s3)

    assert outcome.code == 0, outcome.logs
    rows = read_jsonl(s3, MODELS, PART_KEY)
    assert [r["prediction"] for r in rows] == pytest.approx([1 / (1 + math.exp(1)), 0.5, 1.0])
    assert [r["label"] for r in rows] == [0, 1, 1]
    manifest = read_json(s3, MODELS, MARKER_KEY)
    assert manifest["threshold"] == 0.5
    assert manifest["model"]["name"] == "artefacts/logit.json"
    assert manifest["model"]["link"] == "logistic"


def test_without_model_key_the_baseline_mean_is_used(s3: Any) -> None:
    put(
        s3,
        CURATED,
        f"{INPUT_PREFIX}/in.jsonl",
        jsonl({"id": 1, "features": {"a": 1, "b": 2, "c": 6}}),
    )

    outcome = run_main(base_args(model_key=None), s3=s3)

    assert outcome.code == 0, outcome.logs
    assert read_jsonl(s3, MODELS, PART_KEY) == [{"id": 1, "prediction": 3.0}]
    assert read_json(s3, MODELS, MARKER_KEY)["model"] == {
        "name": "baseline-mean",
        "kind": "builtin",
        "link": "identity",
    }


def test_model_bucket_can_differ_from_output_bucket(s3: Any) -> None:
    s3.create_bucket(Bucket="mlops-dev-registry")
    put(s3, "mlops-dev-registry", "m.json", json.dumps({"coefficients": {"x": 3}}))
    put(s3, CURATED, f"{INPUT_PREFIX}/in.jsonl", jsonl({"id": 1, "features": {"x": 2}}))

    outcome = run_main(base_args(model_bucket="mlops-dev-registry", model_key="m.json"), s3=s3)

    assert outcome.code == 0, outcome.logs
    assert read_jsonl(s3, MODELS, PART_KEY) == [{"id": 1, "prediction": 6.0}]


# --------------------------------------------------------------------------- empty input


@pytest.mark.parametrize(
    "objects",
    [
        pytest.param({}, id="no-objects"),
        pytest.param(
            {"only-blank.jsonl": b"\n  \n\n", "zero-bytes.jsonl": b""}, id="objects-without-records"
        ),
    ],
)
def test_empty_input_succeeds_with_an_empty_result_and_a_zero_manifest(
    s3: Any, objects: dict[str, bytes]
) -> None:
    for name, body in objects.items():
        put(s3, CURATED, f"{INPUT_PREFIX}/{name}", body)

    outcome = run_main(base_args(), s3=s3)

    assert outcome.code == 0, outcome.logs
    assert keys_under(s3, MODELS, RUN_FOLDER) == [MARKER_KEY, PART_KEY]
    assert s3.get_object(Bucket=MODELS, Key=PART_KEY)["Body"].read() == b""
    manifest = read_json(s3, MODELS, MARKER_KEY)
    assert manifest["records"] == 0
    assert manifest["empty_input"] is True
    assert [o["records"] for o in manifest["input"]["objects"]] == [0] * len(objects)
    (warning,) = outcome.events("empty_input")
    assert warning["level"] == "WARNING"


# --------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("body", "line", "expected"),
    [
        pytest.param(
            GOOD + b'{"id": "x", "features": {"age": 1,\n', 2, "invalid JSON", id="invalid-json"
        ),
        pytest.param(
            GOOD + b"\n" + b'{"features": {"age": 1, "income": 2}}\n',
            3,
            "'id' is missing",
            id="missing-id",
        ),
        pytest.param(b'{"id": true, "features": {}}\n', 1, "'id' must be", id="bool-id"),
        pytest.param(b'{"id": "x"}\n', 1, "'features' is missing", id="missing-features"),
        pytest.param(
            b'{"id": "x", "features": [1, 2]}\n',
            1,
            "'features' must be an object",
            id="features-list",
        ),
        pytest.param(
            b'{"id": "x", "features": {"age": "3", "income": 1}}\n',
            1,
            "features.age must be a number",
            id="string-feature",
        ),
        pytest.param(
            b'{"id": "x", "features": {"age": false, "income": 1}}\n',
            1,
            "features.age must be a number",
            id="bool-feature",
        ),
        pytest.param(
            b'{"id": "x", "features": {"age": NaN, "income": 1}}\n',
            1,
            "NaN is not allowed",
            id="nan-feature",
        ),
        pytest.param(
            b'{"id": "x", "features": {"age": 1e999, "income": 1}}\n',
            1,
            "features.age must be finite",
            id="overflow-feature",
        ),
        pytest.param(
            b'{"id": "x", "features": {"age": 1}}\n',
            1,
            "features missing for model 'churn-v3': income",
            id="missing-model-feature",
        ),
        pytest.param(
            b'{"id": "x", "id": "y", "features": {}}\n',
            1,
            "duplicate key 'id'",
            id="duplicate-json-key",
        ),
        pytest.param(b"[1, 2, 3]\n", 1, "must be a JSON object", id="not-an-object"),
        pytest.param(
            GOOD + b'{"id": "caf\xe9", "features": {}}\n', 2, "not valid UTF-8", id="not-utf8"
        ),
        pytest.param(GOOD + GOOD, 2, "duplicate id 'ok'", id="duplicate-id"),
    ],
)
def test_malformed_object_fails_naming_key_and_line_and_leaves_no_output(
    s3: Any, body: bytes, line: int, expected: str
) -> None:
    put(
        s3,
        CURATED,
        f"{INPUT_PREFIX}/a-good.jsonl",
        b'{"id": "first", "features": {"age": 5, "income": 5}}\n',
    )
    put(s3, CURATED, f"{INPUT_PREFIX}/b-bad.jsonl", body)

    outcome = run_main(base_args(), s3=s3)

    assert outcome.code == 1
    message = outcome.failure
    assert f"s3://{CURATED}/{INPUT_PREFIX}/b-bad.jsonl line {line}:" in message
    assert expected in message
    assert outcome.events("run_failed")[0]["error"] == "data_error"
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == []


def test_duplicate_id_across_objects_names_both_places(s3: Any) -> None:
    put(s3, CURATED, f"{INPUT_PREFIX}/a.jsonl", GOOD)
    put(s3, CURATED, f"{INPUT_PREFIX}/b.jsonl", b"\n" + GOOD)

    outcome = run_main(base_args(), s3=s3)

    assert outcome.code == 1
    assert f"s3://{CURATED}/{INPUT_PREFIX}/b.jsonl line 2: duplicate id 'ok'" in outcome.failure
    assert f"first seen at s3://{CURATED}/{INPUT_PREFIX}/a.jsonl line 1" in outcome.failure
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == []


def test_leftovers_of_an_incomplete_attempt_are_removed_even_when_the_retry_fails(s3: Any) -> None:
    put(s3, MODELS, PART_KEY, b'{"id": "stale", "prediction": 0}\n')
    put(s3, MODELS, f"{RUN_FOLDER}part-00001.jsonl", b"stale")
    put(s3, CURATED, f"{INPUT_PREFIX}/bad.jsonl", b"not json\n")

    outcome = run_main(base_args(), s3=s3)

    assert outcome.code == 1
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == []
    assert outcome.events("leftovers_removed")[0]["keys"] == [
        PART_KEY,
        f"{RUN_FOLDER}part-00001.jsonl",
    ]


def test_a_retry_replaces_leftovers_of_an_incomplete_attempt(s3: Any) -> None:
    put(s3, MODELS, PART_KEY, b'{"id": "stale", "prediction": 0}\n')
    put(s3, CURATED, f"{INPUT_PREFIX}/in.jsonl", GOOD)

    outcome = run_main(base_args(), s3=s3)

    assert outcome.code == 0, outcome.logs
    assert [r["id"] for r in read_jsonl(s3, MODELS, PART_KEY)] == ["ok"]


def test_a_completed_run_id_is_refused_and_left_untouched(s3: Any) -> None:
    put(s3, CURATED, f"{INPUT_PREFIX}/in.jsonl", GOOD)
    assert run_main(base_args(), s3=s3).code == 0
    before = {
        k: s3.get_object(Bucket=MODELS, Key=k)["Body"].read()
        for k in keys_under(s3, MODELS, RUN_FOLDER)
    }
    put(
        s3,
        CURATED,
        f"{INPUT_PREFIX}/more.jsonl",
        b'{"id": "new", "features": {"age": 1, "income": 1}}\n',
    )

    outcome = run_main(base_args(), s3=s3)

    assert outcome.code == 2
    assert f"--run-id '{RUN_ID}' already completed" in outcome.failure
    after = {
        k: s3.get_object(Bucket=MODELS, Key=k)["Body"].read()
        for k in keys_under(s3, MODELS, RUN_FOLDER)
    }
    assert after == before


# --------------------------------------------------------------------------- model artefact


def test_missing_model_artefact_is_a_data_error_naming_its_uri(s3: Any) -> None:
    put(s3, CURATED, f"{INPUT_PREFIX}/in.jsonl", GOOD)

    outcome = run_main(base_args(model_key="artefacts/churn/v4.json"), s3=s3)

    assert outcome.code == 1
    assert f"model artefact s3://{MODELS}/artefacts/churn/v4.json does not exist" in outcome.failure
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == []


def test_missing_model_bucket_is_a_data_error_naming_the_bucket(s3: Any) -> None:
    put(s3, CURATED, f"{INPUT_PREFIX}/in.jsonl", GOOD)

    outcome = run_main(base_args(model_bucket="no-such-registry"), s3=s3)

    assert outcome.code == 1
    assert "bucket 'no-such-registry' does not exist (--model-bucket)" in outcome.failure


@pytest.mark.parametrize(
    ("artefact", "expected"),
    [
        pytest.param(b"{not json", ["invalid JSON"], id="not-json"),
        pytest.param(b"[1]", ["must be a JSON object"], id="not-object"),
        pytest.param(
            json.dumps({"coefficient": {"x": 1}, "link": "probit", "intercept": "1"}).encode(),
            [
                "unknown key 'coefficient'",
                "link must be one of identity, logistic, got 'probit'",
                "intercept must be a number",
                "coefficients is required",
            ],
            id="every-problem-listed",
        ),
        pytest.param(
            json.dumps({"coefficients": {}}).encode(),
            ["coefficients must be a non-empty object"],
            id="no-coefficients",
        ),
        pytest.param(
            json.dumps({"coefficients": {"x": None}}).encode(),
            ["coefficients.x must be a number"],
            id="null-coefficient",
        ),
    ],
)
def test_invalid_model_artefact_lists_every_problem(
    s3: Any, artefact: bytes, expected: list[str]
) -> None:
    put(s3, MODELS, "artefacts/bad.json", artefact)
    put(s3, CURATED, f"{INPUT_PREFIX}/in.jsonl", GOOD)

    outcome = run_main(base_args(model_key="artefacts/bad.json"), s3=s3)

    assert outcome.code == 1
    assert f"model artefact s3://{MODELS}/artefacts/bad.json" in outcome.failure
    for fragment in expected:
        assert fragment in outcome.failure
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == []


def test_threshold_outside_the_logistic_range_is_a_usage_error(s3: Any) -> None:
    put(
        s3,
        MODELS,
        "artefacts/logit.json",
        json.dumps({"coefficients": {"x": 1}, "link": "logistic"}),
    )
    put(s3, CURATED, f"{INPUT_PREFIX}/in.jsonl", jsonl({"id": 1, "features": {"x": 1}}))

    outcome = run_main(base_args(model_key="artefacts/logit.json", threshold="1.5"), s3=s3)

    assert outcome.code == 2
    assert "--threshold 1.5 is outside (0, 1)" in outcome.failure
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == []


# --------------------------------------------------------------------------- bad parameters


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(
            base_args(input_bucket=None),
            "--input-bucket is required (or set BATCH_INFERENCE_INPUT_BUCKET)",
            id="missing-input-bucket",
        ),
        pytest.param(
            base_args(run_id=None),
            "--run-id is required (or set BATCH_INFERENCE_RUN_ID or AWS_BATCH_JOB_ID)",
            id="missing-run-id",
        ),
        pytest.param(
            base_args(output_bucket="Models_Zone"),
            "--output-bucket: 'Models_Zone' is not a valid S3 bucket name",
            id="bad-bucket",
        ),
        pytest.param(
            base_args(input_bucket=f"s3://{CURATED}"), "without s3://", id="bucket-as-uri"
        ),
        pytest.param(
            base_args(input_prefix="/"),
            "--input-prefix: '/' names the bucket root",
            id="root-prefix",
        ),
        pytest.param(
            base_args(output_prefix="a//b"),
            "--output-prefix: 'a//b' contains an empty path segment",
            id="empty-segment",
        ),
        pytest.param(
            base_args(run_id="2024/05/01"),
            "--run-id: '2024/05/01' is not a valid run id",
            id="run-id-with-slash",
        ),
        pytest.param(
            base_args(threshold="high"),
            "--threshold: 'high' is not a number",
            id="threshold-not-number",
        ),
        pytest.param(
            base_args(threshold="nan"),
            "--threshold: 'nan' must be a finite number",
            id="threshold-nan",
        ),
        pytest.param(
            base_args(model_key="artefacts/"),
            "--model-key: 'artefacts/' names a folder",
            id="model-key-folder",
        ),
        pytest.param(
            base_args(model_key=None, model_bucket=MODELS),
            "--model-bucket is given but --model-key is not",
            id="bucket-without-key",
        ),
        pytest.param(
            [*base_args(), "--inptu-bucket", "x"],
            "unrecognized arguments: --inptu-bucket",
            id="typo-flag",
        ),
        pytest.param(
            [*base_args(), "--input"], "unrecognized arguments: --input", id="no-abbreviations"
        ),
        pytest.param(
            [*base_args(input_bucket=None), "--input-bucket"],
            "argument --input-bucket: expected one argument",
            id="flag-without-value",
        ),
        pytest.param(
            base_args(output_bucket=CURATED, output_prefix=f"{INPUT_PREFIX}/scores"),
            "--output-prefix 'customers/2024-05-01/scores' overlaps --input-prefix",
            id="output-inside-input",
        ),
    ],
)
def test_bad_parameters_exit_2_naming_the_parameter(
    aws_env: None, argv: list[str], expected: str
) -> None:
    outcome = run_main(argv, s3=Untouchable())

    assert outcome.code == 2
    assert expected in outcome.failure
    assert expected in outcome.stderr
    assert outcome.events("run_failed")[0]["error"] == "usage_error"
    assert outcome.events("run_started") == []


def test_all_parameter_problems_are_reported_together(aws_env: None) -> None:
    outcome = run_main(["--input-bucket", "X", "--threshold", "?"], s3=Untouchable())

    assert outcome.code == 2
    for fragment in (
        "--input-bucket: 'X'",
        "--input-prefix is required",
        "--output-bucket is required",
        "--output-prefix is required",
        "--run-id is required",
        "--threshold: '?'",
    ):
        assert fragment in outcome.failure


def test_nonexistent_input_bucket_is_a_usage_error_naming_the_parameter(s3: Any) -> None:
    outcome = run_main(base_args(input_bucket="no-such-curated"), s3=s3)

    assert outcome.code == 2
    assert "--input-bucket: bucket 'no-such-curated' does not exist" in outcome.failure
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == []


def test_array_job_children_are_refused(s3: Any) -> None:
    put(s3, CURATED, f"{INPUT_PREFIX}/in.jsonl", GOOD)

    outcome = run_main(base_args(), environ={"AWS_BATCH_JOB_ARRAY_INDEX": "3"}, s3=s3)

    assert outcome.code == 2
    assert "AWS_BATCH_JOB_ARRAY_INDEX is set" in outcome.failure
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == []


def test_help_exits_0() -> None:
    out = io.StringIO()
    assert main(["--help"], environ={}, stdout=out, stderr=io.StringIO()) == 0


# --------------------------------------------------------------------------- environment variables


FULL_ENV = {
    "BATCH_INFERENCE_INPUT_BUCKET": CURATED,
    "BATCH_INFERENCE_INPUT_PREFIX": INPUT_PREFIX,
    "BATCH_INFERENCE_OUTPUT_BUCKET": MODELS,
    "BATCH_INFERENCE_OUTPUT_PREFIX": OUTPUT_PREFIX,
    "BATCH_INFERENCE_RUN_ID": RUN_ID,
    "BATCH_INFERENCE_MODEL_KEY": MODEL_KEY,
    "BATCH_INFERENCE_THRESHOLD": "2",
}


def test_every_parameter_can_come_from_the_environment(s3: Any) -> None:
    put(
        s3,
        CURATED,
        f"{INPUT_PREFIX}/in.jsonl",
        jsonl({"id": 1, "features": {"age": 30, "income": 0}}),
    )

    outcome = run_main([], environ=FULL_ENV)  # main builds its own client from the environment

    assert outcome.code == 0, outcome.logs
    assert read_jsonl(s3, MODELS, PART_KEY) == [
        {"id": 1, "prediction": pytest.approx(3.5), "label": 1}
    ]


def test_command_line_wins_over_the_environment(s3: Any) -> None:
    put(
        s3,
        CURATED,
        f"{INPUT_PREFIX}/in.jsonl",
        jsonl({"id": 1, "features": {"age": 30, "income": 0}}),
    )

    outcome = run_main(["--run-id", "from-cli", "--threshold", "4"], environ=FULL_ENV, s3=s3)

    assert outcome.code == 0, outcome.logs
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == [
        f"{OUTPUT_PREFIX}/run_id=from-cli/_SUCCESS",
        f"{OUTPUT_PREFIX}/run_id=from-cli/part-00000.jsonl",
    ]
    assert (
        read_jsonl(s3, MODELS, f"{OUTPUT_PREFIX}/run_id=from-cli/part-00000.jsonl")[0]["label"] == 0
    )


def test_unresolved_batch_placeholders_and_empty_values_fall_back_to_the_environment(
    s3: Any,
) -> None:
    put(s3, CURATED, f"{INPUT_PREFIX}/in.jsonl", GOOD)
    environ = {**FULL_ENV, "BATCH_INFERENCE_THRESHOLD": ""}

    outcome = run_main(
        ["--input-bucket", "Ref::input_bucket", "--run-id", ""], environ=environ, s3=s3
    )

    assert outcome.code == 0, outcome.logs
    manifest = read_json(s3, MODELS, MARKER_KEY)
    assert manifest["input"]["bucket"] == CURATED
    assert manifest["threshold"] is None


def test_unresolved_placeholder_without_fallback_is_named_in_the_error(s3: Any) -> None:
    environ = {k: v for k, v in FULL_ENV.items() if k != "BATCH_INFERENCE_OUTPUT_PREFIX"}

    outcome = run_main(["--output-prefix", "Ref::output_prefix"], environ=environ, s3=s3)

    assert outcome.code == 2
    assert "--output-prefix is required" in outcome.failure
    assert "unresolved AWS Batch placeholder 'Ref::output_prefix'" in outcome.failure


def test_bad_environment_value_names_the_variable(s3: Any) -> None:
    outcome = run_main(
        [], environ={**FULL_ENV, "BATCH_INFERENCE_INPUT_BUCKET": "Bad Bucket"}, s3=s3
    )

    assert outcome.code == 2
    assert (
        "BATCH_INFERENCE_INPUT_BUCKET: 'Bad Bucket' is not a valid S3 bucket name"
        in outcome.failure
    )


def test_aws_batch_job_id_is_the_fallback_run_id_and_is_recorded(s3: Any) -> None:
    put(s3, CURATED, f"{INPUT_PREFIX}/in.jsonl", GOOD)
    environ = {k: v for k, v in FULL_ENV.items() if k != "BATCH_INFERENCE_RUN_ID"}
    job_id = "4f1c7a6e-1b2d-4c3e-9f00-0123456789ab"
    environ |= {
        "AWS_BATCH_JOB_ID": job_id,
        "AWS_BATCH_JOB_ATTEMPT": "2",
        "AWS_BATCH_JQ_NAME": "mlops-dev",
    }

    outcome = run_main([], environ=environ, s3=s3)

    assert outcome.code == 0, outcome.logs
    manifest = read_json(s3, MODELS, f"{OUTPUT_PREFIX}/run_id={job_id}/_SUCCESS")
    assert manifest["run_id"] == job_id
    assert manifest["aws_batch"] == {"job_id": job_id, "job_attempt": "2", "jq_name": "mlops-dev"}


# --------------------------------------------------------------------------- storage failures


class FailingMarkerClient:
    """A real (moto) S3 client whose ``put_object`` of the ``_SUCCESS`` marker is denied."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_object(self, **kwargs: Any) -> Any:
        if kwargs["Key"].endswith("/_SUCCESS"):
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject"
            )
        return self._client.put_object(**kwargs)


def test_failed_manifest_write_removes_the_predictions_and_exits_3(s3: Any) -> None:
    put(s3, CURATED, f"{INPUT_PREFIX}/in.jsonl", GOOD)

    outcome = run_main(base_args(), s3=FailingMarkerClient(s3))

    assert outcome.code == 3
    assert "AccessDenied" in outcome.failure
    assert f"s3://{MODELS}/{RUN_FOLDER}" in outcome.failure
    assert outcome.events("partial_output_removed")
    assert keys_under(s3, MODELS, OUTPUT_PREFIX) == []


# --------------------------------------------------------------------------- pure helpers


@given(
    lines=st.lists(st.binary().map(lambda b: b.replace(b"\n", b"")), max_size=8),
    cut_points=st.lists(st.integers(min_value=0, max_value=200), max_size=6),
)
def test_iter_lines_numbers_lines_whatever_the_chunking(
    lines: list[bytes], cut_points: list[int]
) -> None:
    data = b"\n".join(lines)
    cuts = sorted({c for c in cut_points if c <= len(data)} | {0, len(data)})
    chunks = [data[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]

    result = list(job.iter_lines(iter(chunks)))

    expected = list(enumerate(lines, start=1))
    if lines and lines[-1] == b"":
        expected = expected[:-1]  # a trailing newline ends the last line, it starts none
    assert result == expected


def test_linear_model_logistic_link_is_stable_for_extreme_scores() -> None:
    model = job.LinearModel(name="m", coefficients={"x": 1.0}, link="logistic")
    assert model.predict({"x": 1000.0}) == 1.0
    assert model.predict({"x": -1000.0}) == 0.0
    assert model.predict({"x": 0.0}) == 0.5


# --------------------------------------------------------------------------- the image, as a subprocess


def dockerfile_instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of the Dockerfile, continuation lines joined."""
    text = (PACKAGE_DIR / "Dockerfile").read_text(encoding="utf-8")
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def test_dockerfile_is_slim_python_311_non_root_and_pins_requirements() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    users = [args for name, args in instructions if name == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert [args for name, args in instructions if name == "ENTRYPOINT"] == [
        '["python", "-m", "services.batch_inference"]'
    ]
    requirements = [
        line.strip()
        for line in (PACKAGE_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert requirements == ["boto3==1.44.5"]
    (copied,) = [
        shlex.split(args)[:-1]
        for name, args in instructions
        if name == "COPY" and args.endswith("/app/services/batch_inference/")
    ]
    assert sorted(copied) == sorted(path.name for path in PACKAGE_DIR.glob("*.py"))  # every module


def stage_image(root: Path) -> tuple[Path, dict[str, str]]:
    """Lay out the files the Dockerfile copies under ``root`` (its ``/``); return WORKDIR and ENV."""
    workdir = root
    env: dict[str, str] = {}
    for name, args in dockerfile_instructions():
        if name == "WORKDIR":
            workdir = root / args.lstrip("/")
        elif name == "ENV":
            env.update(dict(item.split("=", 1) for item in shlex.split(args)))
        elif name == "COPY":
            *sources, target = shlex.split(args)
            destination = root / target.lstrip("/")
            for source in sources:
                path = destination / source if target.endswith("/") else destination
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(PACKAGE_DIR / source, path)
    return workdir, env


def _make_read_only(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _make_writable(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


@pytest.fixture
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 on a free port; stopped at teardown. Yields its URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.mark.subprocess
def test_job_runs_as_a_subprocess_from_the_image_layout_against_moto_server(
    moto_server: str, tmp_path: Path
) -> None:
    credentials = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_server,
    }
    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=CURATED)
    client.create_bucket(Bucket=MODELS)
    put(client, MODELS, MODEL_KEY, json.dumps(LINEAR_MODEL))
    put(
        client,
        CURATED,
        f"{INPUT_PREFIX}/a.jsonl",
        jsonl({"id": "a", "features": {"age": 40, "income": 500}}),
    )
    put(
        client,
        CURATED,
        f"{INPUT_PREFIX}/b.jsonl",
        jsonl({"id": "b", "features": {"age": 20, "income": 0}}),
    )
    archived = f"{INPUT_PREFIX}/c-archived.jsonl"  # never read: a read would fail the run
    client.put_object(
        Bucket=CURATED, Key=archived, Body=b"not records\n", StorageClass="DEEP_ARCHIVE"
    )

    workdir, image_env = stage_image(tmp_path / "image")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {
        **image_env,
        "PYTHONPATH": str(tmp_path / "image" / image_env["PYTHONPATH"].lstrip("/")),
        "TMPDIR": str(scratch),
        "HOME": str(scratch),
        "PATH": os.environ.get("PATH", ""),
        "NO_PROXY": "127.0.0.1,localhost",
        **credentials,
        "BATCH_INFERENCE_MODEL_KEY": MODEL_KEY,
        "AWS_BATCH_JOB_ID": "job-123",
    }
    argv = [
        sys.executable,
        "-m",
        "services.batch_inference",
        "--input-bucket",
        CURATED,
        "--input-prefix",
        INPUT_PREFIX,
        "--output-bucket",
        MODELS,
        "--output-prefix",
        OUTPUT_PREFIX,
        "--run-id",
        "Ref::run_id",
        # As a triggered job's definition passes them; unresolved in a scheduled run.
        "--trigger-bucket",
        "Ref::trigger_bucket",
        "--trigger-key",
        "Ref::trigger_key",
    ]
    triggered = [
        *argv[:-4],
        "--trigger-bucket",
        CURATED,
        "--trigger-key",
        f"{INPUT_PREFIX}/b.jsonl",
    ]
    _make_read_only(tmp_path / "image")
    try:
        located = subprocess.run(
            [sys.executable, "-c", "import services.batch_inference.job as j; print(j.__file__)"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        completed = subprocess.run(
            argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=120
        )
        second = subprocess.run(
            triggered,
            cwd=workdir,
            env={**env, "AWS_BATCH_JOB_ID": "job-124"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        _make_writable(tmp_path / "image")

    assert Path(located.stdout.strip()).is_relative_to(tmp_path / "image")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    logs = [json.loads(line) for line in completed.stdout.splitlines()]
    assert logs[-1]["event"] == "run_succeeded" and logs[-1]["run_id"] == "job-123"
    run_folder = f"{OUTPUT_PREFIX}/run_id=job-123/"
    rows = read_jsonl(client, MODELS, f"{run_folder}part-00000.jsonl")
    assert [r["id"] for r in rows] == ["a", "b"]
    assert [r["prediction"] for r in rows] == pytest.approx([3.5, 2.5])
    manifest = read_json(client, MODELS, f"{run_folder}_SUCCESS")
    assert manifest["records"] == 2 and manifest["aws_batch"] == {"job_id": "job-123"}
    assert manifest["input"]["skipped"] == [{"key": archived, "storage_class": "DEEP_ARCHIVE"}]
    (skipped,) = [line for line in logs if line["event"] == "archived_object_skipped"]
    assert (
        skipped["key"] == f"s3://{CURATED}/{archived}"
        and skipped["storage_class"] == "DEEP_ARCHIVE"
    )
    assert list(scratch.iterdir()) == []

    assert second.returncode == 0, second.stdout + second.stderr
    rows = read_jsonl(client, MODELS, f"{OUTPUT_PREFIX}/run_id=job-124/part-00000.jsonl")
    assert [r["id"] for r in rows] == ["b"]  # the triggering object only

    bad = subprocess.run(
        [*argv[:3], "--input-bucket", CURATED],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "--input-prefix is required" in bad.stderr


# --------------------------------------------------------------------------- sharded runs (array jobs)

SHARDS = 3
PARENT_ID = "4f1c7a6e-parent"
SHARD_RUN_FOLDER = f"{OUTPUT_PREFIX}/run_id={PARENT_ID}/"


def child_environ(index: int) -> dict[str, str]:
    """The variables AWS Batch sets in child ``index`` of an array job."""
    return {"AWS_BATCH_JOB_ARRAY_INDEX": str(index), "AWS_BATCH_JOB_ID": f"{PARENT_ID}:{index}"}


def run_child(s3: Any, index: int, prefix: str = OUTPUT_PREFIX) -> Outcome:
    """One array child: the job definition passes the array size as --shard-count."""
    argv = [
        *base_args(run_id=None, model_key=None, output_prefix=prefix),
        "--shard-count",
        str(SHARDS),
    ]
    return run_main(argv, environ=child_environ(index), s3=s3)


def key_in_shard(shard: int, stem: str) -> str:
    """An input key (under the input folder) that hashes to ``shard``."""
    for n in range(1000):
        key = f"{INPUT_PREFIX}/{stem}-{n}.jsonl"
        if job.shard_of(key, SHARDS) == shard:
            return key
    raise AssertionError("no key found")  # pragma: no cover


@pytest.fixture
def sharded_input(s3: Any) -> dict[str, list[str]]:
    """Seven input objects with one record each (ids = object stems); returns key -> ids."""
    objects = {}
    for n in range(7):
        key = f"{INPUT_PREFIX}/obj-{n}.jsonl"
        put(s3, CURATED, key, jsonl({"id": f"r{n}", "features": {"a": n, "b": 1}}))
        objects[key] = [f"r{n}"]
    return objects


def test_array_children_each_score_their_shard_and_the_last_one_completes_the_run(
    s3: Any, sharded_input: dict[str, list[str]]
) -> None:
    for index in range(SHARDS):
        assert f"{SHARD_RUN_FOLDER}_SUCCESS" not in keys_under(s3, MODELS, SHARD_RUN_FOLDER)
        outcome = run_child(s3, index)
        assert outcome.code == 0, outcome.logs
        assert all(line.get("run_id") == PARENT_ID for line in outcome.logs if "run_id" in line)

    parts = [f"{SHARD_RUN_FOLDER}part-{i:05d}.jsonl" for i in range(SHARDS)]
    markers = [f"{SHARD_RUN_FOLDER}_shard-{i:05d}.json" for i in range(SHARDS)]
    assert keys_under(s3, MODELS, SHARD_RUN_FOLDER) == sorted(
        [f"{SHARD_RUN_FOLDER}_SUCCESS", *markers, *parts]
    )
    for index, part in enumerate(parts):
        ids = [row["id"] for row in read_jsonl(s3, MODELS, part)]
        expected = [
            i
            for key, record_ids in sorted(sharded_input.items())
            if job.shard_of(key, SHARDS) == index
            for i in record_ids
        ]
        assert ids == expected
    all_ids = sorted(row["id"] for part in parts for row in read_jsonl(s3, MODELS, part))
    assert all_ids == sorted(i for ids in sharded_input.values() for i in ids)

    manifest = read_json(s3, MODELS, f"{SHARD_RUN_FOLDER}_SUCCESS")
    assert manifest["status"] == "succeeded"
    assert manifest["run_id"] == PARENT_ID
    assert manifest["shards"] == SHARDS
    assert manifest["records"] == manifest["output"]["records"] == 7
    assert manifest["output"]["keys"] == parts
    assert [o["key"] for o in manifest["input"]["objects"]] == sorted(sharded_input)


def test_the_run_is_incomplete_until_every_shard_published(
    s3: Any, sharded_input: dict[str, list[str]]
) -> None:
    first, second = run_child(s3, 2), run_child(s3, 0)

    assert first.code == second.code == 0
    assert second.events("run_waiting_for_shards")[0]["completed"] == 2
    assert f"{SHARD_RUN_FOLDER}_SUCCESS" not in keys_under(s3, MODELS, SHARD_RUN_FOLDER)


def test_the_run_manifest_does_not_depend_on_the_order_shards_finish(
    s3: Any, sharded_input: dict[str, list[str]]
) -> None:
    for index in (0, 1, 2):
        assert run_child(s3, index, prefix="forward").code == 0
    for index in (2, 0, 1):
        assert run_child(s3, index, prefix="backward").code == 0

    def comparable(prefix: str) -> dict[str, Any]:
        manifest = read_json(s3, MODELS, f"{prefix}/run_id={PARENT_ID}/_SUCCESS")
        manifest["output"] = {
            k: v for k, v in manifest["output"].items() if k not in ("prefix", "keys")
        }
        return manifest

    assert comparable("forward") == comparable("backward")


def test_a_retried_shard_does_not_score_again_and_completes_the_run(
    s3: Any, sharded_input: dict[str, list[str]]
) -> None:
    for index in range(SHARDS):
        run_child(s3, index)
    s3.delete_object(
        Bucket=MODELS, Key=f"{SHARD_RUN_FOLDER}_SUCCESS"
    )  # as if completing had failed

    outcome = run_child(s3, 1)

    assert outcome.code == 0, outcome.logs
    assert outcome.events("shard_already_published") and not outcome.events("object_scored")
    assert read_json(s3, MODELS, f"{SHARD_RUN_FOLDER}_SUCCESS")["records"] == 7


def test_a_shard_retried_after_the_run_completed_changes_nothing(
    s3: Any, sharded_input: dict[str, list[str]]
) -> None:
    for index in range(SHARDS):
        run_child(s3, index)
    before = {
        k: s3.get_object(Bucket=MODELS, Key=k)["Body"].read()
        for k in keys_under(s3, MODELS, SHARD_RUN_FOLDER)
    }

    outcome = run_child(s3, 0)

    assert outcome.code == 0
    assert outcome.events("run_already_completed")
    after = {
        k: s3.get_object(Bucket=MODELS, Key=k)["Body"].read()
        for k in keys_under(s3, MODELS, SHARD_RUN_FOLDER)
    }
    assert after == before


def test_a_failed_shard_leaves_no_output_of_its_own_and_the_run_never_completes(s3: Any) -> None:
    for shard in range(SHARDS):
        put(
            s3,
            CURATED,
            key_in_shard(shard, "good"),
            jsonl({"id": f"g{shard}", "features": {"a": 1}}),
        )
    put(s3, CURATED, key_in_shard(1, "bad"), b"not json\n")

    outcomes = [run_child(s3, index) for index in range(SHARDS)]

    assert [o.code for o in outcomes] == [0, 1, 0]
    assert "invalid JSON" in outcomes[1].failure
    keys = keys_under(s3, MODELS, SHARD_RUN_FOLDER)
    assert not any(k.endswith(("part-00001.jsonl", "_shard-00001.json", "_SUCCESS")) for k in keys)


def test_leftovers_of_a_shard_are_removed_but_other_shards_output_is_kept(s3: Any) -> None:
    put(s3, CURATED, key_in_shard(0, "x"), GOOD)
    other = f"{SHARD_RUN_FOLDER}part-00002.jsonl"
    put(s3, MODELS, other, b'{"id": "from-shard-2", "prediction": 1}\n')
    put(s3, MODELS, f"{SHARD_RUN_FOLDER}part-00000.jsonl", b"stale")

    outcome = run_child(s3, 0)

    assert outcome.code == 0, outcome.logs
    assert outcome.events("leftovers_removed")[0]["keys"] == [f"{SHARD_RUN_FOLDER}part-00000.jsonl"]
    assert read_jsonl(s3, MODELS, other) == [{"id": "from-shard-2", "prediction": 1}]
    assert [r["id"] for r in read_jsonl(s3, MODELS, f"{SHARD_RUN_FOLDER}part-00000.jsonl")] == [
        "ok"
    ]


def test_explicit_shard_index_works_outside_aws_batch(s3: Any) -> None:
    put(s3, CURATED, key_in_shard(1, "x"), GOOD)

    outcome = run_main([*base_args(), "--shard-count", "3", "--shard-index", "1"], s3=s3)

    assert outcome.code == 0, outcome.logs
    assert [r["id"] for r in read_jsonl(s3, MODELS, f"{RUN_FOLDER}part-00001.jsonl")] == ["ok"]


@pytest.mark.parametrize(
    ("argv", "environ", "expected"),
    [
        pytest.param(
            [*base_args(), "--shard-count", "3"],
            {},
            "--shard-count is given but no shard index",
            id="count-without-index",
        ),
        pytest.param(
            [*base_args(), "--shard-index", "1"],
            {},
            "--shard-index is given but --shard-count is not",
            id="index-without-count",
        ),
        pytest.param(
            [*base_args(), "--shard-count", "3", "--shard-index", "3"],
            {},
            "--shard-index: shard 3 is outside 0..2",
            id="index-too-large",
        ),
        pytest.param(
            [*base_args(), "--shard-count", "3"],
            {"AWS_BATCH_JOB_ARRAY_INDEX": "5"},
            "AWS_BATCH_JOB_ARRAY_INDEX: shard 5 is outside 0..2",
            id="array-index-too-large",
        ),
        pytest.param(
            [*base_args(), "--shard-count", "0", "--shard-index", "0"],
            {},
            "--shard-count: '0' must be a whole number from 1 to 10000",
            id="zero-shards",
        ),
        pytest.param(
            [*base_args(), "--shard-count", "two", "--shard-index", "0"],
            {},
            "--shard-count: 'two' must be a whole number",
            id="count-not-a-number",
        ),
        pytest.param(
            base_args(),
            {"AWS_BATCH_JOB_ARRAY_INDEX": "1"},
            "pass --shard-count <array size>",
            id="array-child-without-count",
        ),
    ],
)
def test_bad_shard_parameters_exit_2_naming_the_parameter(
    aws_env: None, argv: list[str], environ: dict[str, str], expected: str
) -> None:
    outcome = run_main(argv, environ=environ, s3=Untouchable())

    assert outcome.code == 2
    assert expected in outcome.failure


def test_an_unresolved_array_size_placeholder_means_no_sharding(s3: Any) -> None:
    put(s3, CURATED, f"{INPUT_PREFIX}/in.jsonl", GOOD)

    outcome = run_main([*base_args(), "--shard-count", "Ref::array_size"], s3=s3)

    assert outcome.code == 0, outcome.logs
    assert keys_under(s3, MODELS, RUN_FOLDER) == [MARKER_KEY, PART_KEY]


@given(
    keys=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=30, unique=True),
    count=st.integers(min_value=1, max_value=50),
)
def test_every_key_belongs_to_exactly_one_shard_whatever_else_is_listed(
    keys: list[str], count: int
) -> None:
    shards = [job.shard_of(key, count) for key in keys]

    assert all(0 <= shard < count for shard in shards)
    assert shards == [job.shard_of(key, count) for key in reversed(keys)][::-1]
    assert [job.shard_of(key, count) for key in keys[:1]] == shards[:1]
