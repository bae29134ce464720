"""The leftover sweep (stacks/sweep.py, stacks/sweep_checks.py): against moto in-process, and as a real subprocess
against moto_server on 127.0.0.1 behind a proxy that throttles the first requests.

What the tagging index lists is checked against the owning service: KMS keys pending
deletion, INACTIVE ECS task definitions and Batch job definitions, and every kind of
resource the index still lists after its deletion are not counted; what really exists, and
ARNs of services without a checker, are. IAM roles and instance profiles are listed once,
through IAM.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import types
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import botocore.endpoint
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from stacks.delivery import EXIT_ENVIRONMENT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, DeliveryError
from stacks.sweep import (
    GLOBAL,
    SweepRequest,
    _shared_loader,
    aws_client,
    format_leftovers,
    group_leftovers,
    retry_config,
    run_sweep,
    tagging_client,
)
from stacks.sweep_checks import CHECKERS, Arn, is_not_found

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account
STACK_TAGS = {"stack": "dev", "managed-by": "pulumi"}

DEV = """\
config:
  mlops:environment: dev
  mlops:ephemeral: true
  mlops:allowedAccountIds: ["210987654321"]
  mlops:regions:
    - name: eu-west-1
      cidr: 10.10.0.0/16
    - name: eu-central-1
      cidr: 10.11.0.0/16
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory with Pulumi.yaml and the ephemeral dev stack in two regions."""
    (tmp_path / "Pulumi.yaml").write_text("name: mlops-platform\nruntime: python\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(DEV)
    return tmp_path


# --------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------


def test_group_leftovers_keeps_region_order_and_reports_each_arn_once() -> None:
    grouped = group_leftovers(
        [
            (
                "eu-west-1",
                ["arn:aws:sqs:eu-west-1:1:b", "arn:aws:s3:::bucket", "arn:aws:sqs:eu-west-1:1:a"],
            ),
            ("eu-central-1", ["arn:aws:s3:::bucket"]),
        ]
    )
    assert list(grouped) == ["eu-west-1", "eu-central-1"]
    assert grouped == {
        "eu-west-1": (
            "arn:aws:s3:::bucket",
            "arn:aws:sqs:eu-west-1:1:a",
            "arn:aws:sqs:eu-west-1:1:b",
        ),
        "eu-central-1": (),
    }


def test_format_leftovers() -> None:
    text = format_leftovers("dev", {"eu-west-1": ("arn:a", "arn:b"), "eu-central-1": ()})
    assert text.splitlines() == [
        "2 resource(s) still tagged stack=dev, managed-by=pulumi:",
        "eu-west-1 (2):",
        "  arn:a",
        "  arn:b",
        "eu-central-1: clean",
    ]
    assert (
        format_leftovers("dev", {"eu-west-1": ()})
        == "Clean: nothing tagged stack=dev, managed-by=pulumi is left in eu-west-1."
    )


def test_retry_config_rejects_bad_values() -> None:
    config = retry_config(7, "adaptive")
    assert config.retries == {"total_max_attempts": 7, "mode": "adaptive"}
    with pytest.raises(DeliveryError, match="--max-attempts must be at least 1"):
        retry_config(0, "standard")
    with pytest.raises(DeliveryError, match="--retry-mode must be one of standard, adaptive"):
        retry_config(3, "legacy")


# --------------------------------------------------------------------------------------
# sweep against moto (in-process)
# --------------------------------------------------------------------------------------


@functools.cache
def client(service: str, region: str, endpoint_url: str | None = None) -> Any:
    """A boto3 client for the tests' own calls, made once per module (credentials: the
    ``aws_env`` fixture's, the same in every test).

    ``boto3.client`` uses the default session, which ``mock_aws`` replaces for every test; a
    new session parses its services' JSON models again and builds each client class again
    (EC2's alone takes a few tenths of a second), which was most of these tests' time.
    moto intercepts every botocore client once it is imported (its ``before-send`` handler is
    one of botocore's built-in handlers), so a client made in one test's ``mock_aws`` talks
    to the next test's fresh backends. The loader is the sweep's own shared one
    (``stacks.sweep._shared_loader``), so a model the sweep parsed is not parsed again.
    """
    core = botocore.session.get_session()
    core.register_component("data_loader", _shared_loader())
    return boto3.session.Session(botocore_session=core).client(
        service, region_name=region, endpoint_url=endpoint_url
    )


@pytest.fixture(scope="module")
def no_aws_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty directory for AWS_CONFIG_FILE/AWS_SHARED_CREDENTIALS_FILE, the same in every
    test: the sweep keeps a thread's session while the AWS_* environment stays the same."""
    return tmp_path_factory.mktemp("no-aws-files")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, no_aws_files: Path) -> None:
    """Dummy credentials; no profile, config file or endpoint from the machine running the tests."""
    _set_aws_env(monkeypatch, no_aws_files)


def _set_aws_env(monkeypatch: pytest.MonkeyPatch, no_aws_files: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(no_aws_files / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(no_aws_files / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def create_leftovers(endpoint_url: str | None = None) -> dict[str, set[str]]:
    """Tagged SQS queues and SNS topics in two regions, plus resources that are not the stack's.

    Returns the ARNs the sweep must report, per region.
    """
    expected: dict[str, set[str]] = {}
    for region in ("eu-west-1", "eu-central-1"):
        sqs = client("sqs", region, endpoint_url)
        sns = client("sns", region, endpoint_url)
        url = sqs.create_queue(QueueName="jobs", tags=STACK_TAGS)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        topic_arn = sns.create_topic(
            Name="alerts", Tags=[{"Key": k, "Value": v} for k, v in STACK_TAGS.items()]
        )["TopicArn"]
        # Not this stack's: another stack, and a resource with the stack tag but not managed by Pulumi.
        sqs.create_queue(QueueName="prod-jobs", tags={"stack": "prod", "managed-by": "pulumi"})
        sqs.create_queue(QueueName="hand-made", tags={"stack": "dev"})
        expected[region] = {queue_arn, topic_arn}
    return expected


def parse_report(text: str) -> dict[str, set[str]]:
    """Region -> ARNs from the sweep's printed report."""
    grouped: dict[str, set[str]] = {}
    region = None
    for line in text.splitlines():
        if line.startswith("  ") and region:
            grouped[region].add(line.strip())
        elif line.endswith("):") or line.endswith(": clean"):
            region = line.split(" ")[0].rstrip(":")
            grouped[region] = set()
    return grouped


def test_sweep_lists_leftovers_grouped_by_region_and_exits_1(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock_aws():
        expected = create_leftovers()
        code = run_sweep(SweepRequest("dev", project))

    assert code == EXIT_FAILED
    out = capsys.readouterr().out
    assert parse_report(out) == {**expected, GLOBAL: set()}
    assert "hand-made" not in out and "prod-jobs" not in out


class CountingSession(boto3.session.Session):
    """boto3's Session, counting the sessions built and the clients each one made."""

    made: list[CountingSession] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clients: list[tuple[str, str | None]] = []
        CountingSession.made.append(self)

    def client(self, service_name: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.clients.append((service_name, kwargs.get("region_name")))
        return super().client(service_name, *args, **kwargs)


@pytest.fixture
def counting_sessions(monkeypatch: pytest.MonkeyPatch) -> list[CountingSession]:
    monkeypatch.setattr(CountingSession, "made", [])
    monkeypatch.setattr(boto3.session, "Session", CountingSession)
    return CountingSession.made


def test_a_sweep_builds_one_session_and_each_client_once(
    project: Path,
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    counting_sessions: list[CountingSession],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A session costs 50-90 ms to build: a sweep of every region x service must not build one
    per client, nor a client twice (Auto Scaling is listed per region, then asked about the
    groups it listed)."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # a fresh environment: no session kept yet
    with mock_aws():
        client("autoscaling", "eu-west-1").create_launch_configuration(
            LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="t3.micro"
        )
        client("autoscaling", "eu-west-1").create_auto_scaling_group(
            AutoScalingGroupName="workers",
            LaunchConfigurationName="lc",
            MinSize=0,
            MaxSize=1,
            AvailabilityZones=["eu-west-1a"],
            Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in STACK_TAGS.items()],
        )
        counting_sessions.clear()
        assert run_sweep(SweepRequest("dev", project)) == EXIT_FAILED

    assert "autoScalingGroupName/workers" in capsys.readouterr().out
    assert len(counting_sessions) == 1
    made = counting_sessions[0].clients
    assert sorted(made) == sorted(set(made))  # each (service, region) once
    assert ("autoscaling", "eu-west-1") in made and ("iam", "eu-west-1") in made
    assert {r for _, r in made} == {"eu-west-1", "eu-central-1"}


def test_aws_clients_are_per_thread_and_follow_the_endpoint(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, counting_sessions: list[CountingSession]
) -> None:
    """Sessions are not shared between threads (one each); a thread's same (service, region,
    config) client is reused; AWS_ENDPOINT_URL is honoured, also when it changes."""
    config = retry_config(3, "standard")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    first = aws_client("sqs", "eu-west-1", config)
    assert aws_client("sqs", "eu-west-1", config) is first
    assert first.meta.endpoint_url == "http://127.0.0.1:4566"
    assert aws_client("sqs", "eu-west-1", retry_config(3, "standard")) is not first
    others: list[Any] = []
    worker = threading.Thread(target=lambda: others.append(aws_client("sqs", "eu-west-1", config)))
    worker.start()
    worker.join()
    assert others[0] is not first and len(counting_sessions) == 2
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4567")
    moved = aws_client("sqs", "eu-west-1", config)
    assert moved.meta.endpoint_url == "http://127.0.0.1:4567"
    assert len(counting_sessions) == 3


def test_sweep_of_a_clean_account_exits_0(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock_aws():
        client("sqs", "eu-west-1").create_queue(
            QueueName="other", tags={"stack": "prod", "managed-by": "pulumi"}
        )
        code = run_sweep(SweepRequest("dev", project))

    assert code == EXIT_OK
    assert (
        "Clean: nothing tagged stack=dev, managed-by=pulumi is left in eu-west-1, eu-central-1, global."
        in capsys.readouterr().out
    )


def test_sweep_follows_pagination_and_reports_global_arns_once(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock_aws():
        sns = client("sns", "eu-west-1")
        topics = {
            sns.create_topic(
                Name=f"t{i}", Tags=[{"Key": k, "Value": v} for k, v in STACK_TAGS.items()]
            )["TopicArn"]
            for i in range(60)
        }
        s3 = client("s3", "eu-central-1")
        s3.create_bucket(
            Bucket="dev-lake", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        s3.put_bucket_tagging(
            Bucket="dev-lake",
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in STACK_TAGS.items()]},
        )
        code = run_sweep(SweepRequest("dev", project))

    out = capsys.readouterr().out
    assert code == EXIT_FAILED
    listed = parse_report(out)
    assert topics <= listed["eu-west-1"]  # more than one page (the API pages at 50)
    assert out.count("arn:aws:s3:::dev-lake") == 1


def test_sweep_bad_input_exits_2(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "Pulumi.noregions.yaml").write_text("config:\n  mlops:ephemeral: true\n")
    assert run_sweep(SweepRequest("noregions", project)) == EXIT_USAGE
    assert "mlops:regions is missing" in capsys.readouterr().err
    assert run_sweep(SweepRequest("missing", project)) == EXIT_USAGE
    assert run_sweep(SweepRequest("dev", project, max_attempts=0)) == EXIT_USAGE


def test_sweep_without_credentials_names_the_regions_and_exits_3(
    project: Path,
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    assert run_sweep(SweepRequest("dev", project, max_attempts=1)) == EXIT_ENVIRONMENT
    err = capsys.readouterr().err
    assert "could not list eu-west-1" in err and "could not list eu-central-1" in err
    assert "Unable to locate credentials" in err


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


THROTTLE_BODY = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()


def throttling_client_factory(throttles: int) -> tuple[Any, list[str]]:
    """A client factory whose clients answer the first ``throttles`` GetResources calls with
    HTTP 400 ThrottlingException (before anything is sent), then let moto answer."""
    seen: list[str] = []

    def before_send(request: Any, **kwargs: Any) -> AWSResponse | None:
        if len([s for s in seen if s == "throttled"]) < throttles:
            seen.append("throttled")
            headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "throttle"}
            return AWSResponse(request.url, 400, headers, _Raw(THROTTLE_BODY))
        seen.append("sent")
        return None

    def factory(region: str, config: Any) -> Any:
        client = tagging_client(region, config)
        client.meta.events.register_first(
            "before-send.resource-groups-tagging-api.GetResources", before_send
        )
        return client

    return factory, seen


def virtual_token_bucket_time(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make adaptive mode's token bucket wait on a virtual clock; returns the waits.

    After a throttle, botocore's adaptive retry mode lowers the client's send rate (down to
    0.5 requests a second) and its token bucket blocks on a condition until the next token
    (``botocore.retries.bucket.TokenBucket``): seconds of real waiting per test. Here each
    wait is recorded and added to the bucket's clock instead, so the bucket refills as if
    the time had passed. No setting shortens these waits: the SDKs' retry settings are the
    mode and the number of attempts only (AWS SDKs and Tools Reference Guide, "Retry
    behavior", https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html:
    adaptive is standard plus client-side rate limiting; Boto3 guide, "Retries",
    https://docs.aws.amazon.com/boto3/latest/guide/retries.html).
    """
    from botocore.retries import bucket

    waits: list[float] = []

    class VirtualClock(bucket.Clock):
        def current_time(self) -> float:
            return float(time.time() + sum(waits))

        def sleep(self, amount: float) -> None:
            waits.append(amount)

    class Condition:
        def __init__(self, lock: Any = None) -> None:
            self._real = threading.Condition(lock)

        def __enter__(self) -> Any:
            return self._real.__enter__()

        def __exit__(self, *exc: Any) -> None:
            self._real.__exit__(*exc)

        def notify(self, n: int = 1) -> None:
            self._real.notify(n)

        def notify_all(self) -> None:
            self._real.notify_all()

        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return False

    monkeypatch.setattr(bucket, "Clock", VirtualClock)
    # Only the bucket module's name for ``threading`` changes; the real module is untouched.
    monkeypatch.setattr(
        bucket, "threading", types.SimpleNamespace(Lock=threading.Lock, Condition=Condition)
    )
    return waits


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
def test_sweep_survives_throttling_through_retries(
    project: Path,
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    backoffs: list[float] = []
    monkeypatch.setattr(
        botocore.endpoint.time, "sleep", backoffs.append
    )  # record the backoff, skip the wait
    waits = virtual_token_bucket_time(monkeypatch)
    factory, seen = throttling_client_factory(throttles=2)
    with mock_aws():
        expected = create_leftovers()
        code = run_sweep(
            SweepRequest("dev", project, max_attempts=4, retry_mode=mode), client_for=factory
        )

    assert code == EXIT_FAILED
    assert seen[:3] == ["throttled", "throttled", "sent"]
    assert len(backoffs) == 2  # one backoff per throttled attempt
    # adaptive mode's client-side rate limiter slowed the calls after the throttling
    assert bool(waits) is (mode == "adaptive"), waits
    assert parse_report(capsys.readouterr().out) == {**expected, GLOBAL: set()}


def test_sweep_without_retries_fails_on_throttling_and_exits_3(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    factory, seen = throttling_client_factory(throttles=1)
    with mock_aws():
        create_leftovers()
        code = run_sweep(SweepRequest("dev", project, max_attempts=1), client_for=factory)

    assert code == EXIT_ENVIRONMENT
    err = capsys.readouterr().err
    assert "could not list eu-west-1" in err and "ThrottlingException" in err
    assert "incomplete, not listed: eu-west-1" in err


# --------------------------------------------------------------------------------------
# sweep as a real subprocess against moto_server, behind a throttling proxy
# --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrottlingProxy:
    """An HTTP proxy on 127.0.0.1 answering the first ``throttles`` requests with HTTP 400
    ThrottlingException and forwarding every later one to ``target`` unchanged."""

    def __init__(self, target: str, throttles: int) -> None:
        self.target = target.removeprefix("http://")
        self.remaining = throttles
        self.throttled = 0
        self.forwarded = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                proxy.handle(self)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        with self._lock:
            throttle = self.remaining > 0
            if throttle:
                self.remaining -= 1
                self.throttled += 1
            else:
                self.forwarded += 1
        if throttle:
            status, headers, payload = (
                400,
                [("Content-Type", "application/x-amz-json-1.1")],
                THROTTLE_BODY,
            )
        else:
            upstream = http.client.HTTPConnection(self.target, timeout=30)
            try:
                upstream.request(
                    request.command, request.path, body=body, headers=dict(request.headers)
                )
                response = upstream.getresponse()
                status, payload = response.status, response.read()
                skip = {"content-length", "transfer-encoding", "connection"}
                headers = [(k, v) for k, v in response.getheaders() if k.lower() not in skip]
            finally:
                upstream.close()
        request.send_response(status)
        for key, value in headers:
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


def sweep_subprocess(project: Path, endpoint: str, *extra: str) -> subprocess.Popen[str]:
    """``python -m stacks sweep dev`` against ``endpoint``, started (not waited for)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_ENDPOINT_URL=endpoint,
        AWS_CONFIG_FILE=str(project / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(project / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=str(ROOT),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "stacks", "sweep", "dev", "--project-dir", str(project), *extra],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass(frozen=True)
class SubprocessRun:
    returncode: int
    stdout: str
    stderr: str
    throttled: int
    forwarded: int


@pytest.fixture(scope="module")
def subprocess_sweeps(
    tmp_path_factory: pytest.TempPathFactory, no_aws_files: Path
) -> tuple[dict[str, set[str]], SubprocessRun, SubprocessRun]:
    """The leftovers in one moto server, and two real sweeps of them run side by side (each
    behind its own throttling proxy): ``--max-attempts 5`` past 2 throttles, and
    ``--max-attempts 1`` against 1. Both only read, so they share the server; running them
    at once halves the wait for two Python start-ups."""
    project = tmp_path_factory.mktemp("subprocess")
    (project / "Pulumi.yaml").write_text("name: mlops-platform\nruntime: python\n")
    (project / "Pulumi.dev.yaml").write_text(DEV)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        with pytest.MonkeyPatch.context() as monkeypatch:
            _set_aws_env(monkeypatch, no_aws_files)
            expected = create_leftovers(endpoint_url=endpoint)
        with (
            ThrottlingProxy(endpoint, throttles=2) as retrying,
            ThrottlingProxy(endpoint, throttles=1) as failing,
        ):
            started = [
                (sweep_subprocess(project, retrying.url, "--max-attempts", "5"), retrying),
                (sweep_subprocess(project, failing.url, "--max-attempts", "1"), failing),
            ]
            runs = []
            for process, proxy in started:
                out, err = process.communicate(timeout=120)
                runs.append(
                    SubprocessRun(process.returncode, out, err, proxy.throttled, proxy.forwarded)
                )
    finally:
        server.stop()
    return expected, runs[0], runs[1]


@pytest.mark.subprocess
def test_sweep_subprocess_against_moto_server_survives_throttling(
    subprocess_sweeps: tuple[dict[str, set[str]], SubprocessRun, SubprocessRun],
) -> None:
    expected, done, _ = subprocess_sweeps

    assert done.returncode == EXIT_FAILED, done.stderr
    assert done.throttled == 2 and done.forwarded >= 2
    assert parse_report(done.stdout) == {**expected, GLOBAL: set()}
    assert "Traceback" not in done.stderr


@pytest.mark.subprocess
def test_sweep_subprocess_without_retries_reports_throttling_and_exits_3(
    subprocess_sweeps: tuple[dict[str, set[str]], SubprocessRun, SubprocessRun],
) -> None:
    _, _, done = subprocess_sweeps

    assert done.returncode == EXIT_ENVIRONMENT
    assert "could not list eu-west-1" in done.stderr and "ThrottlingException" in done.stderr
    assert "Traceback" not in done.stderr
    # eu-central-1 was still listed after eu-west-1 failed.
    assert "eu-central-1 (2):" in done.stdout


# --------------------------------------------------------------------------------------
# What the services say about listed ARNs (moto, in-process)
# --------------------------------------------------------------------------------------


def test_arns_are_split_into_kind_and_name() -> None:
    cases = {
        "arn:aws:kms:eu-west-1:1:key/abc": ("kms", "key", "abc"),
        "arn:aws:logs:eu-west-1:1:log-group:/aws/x:*": ("logs", "log-group", "/aws/x:*"),
        "arn:aws:ecs:eu-west-1:1:service/cluster/web": ("ecs", "service", "cluster/web"),
        "arn:aws:s3:::bucket": ("s3", "", "bucket"),
        "arn:aws:sqs:eu-west-1:1:queue": ("sqs", "", "queue"),
        "arn:aws:autoscaling:eu-west-1:1:autoScalingGroup:u-1:autoScalingGroupName/pool": (
            "autoscaling",
            "autoScalingGroup",
            "u-1:autoScalingGroupName/pool",
        ),
    }
    for text, (service, kind, name) in cases.items():
        arn = Arn.parse(text)
        assert arn is not None and (arn.service, arn.kind, arn.name) == (service, kind, name), text
    assert Arn.parse("not-an-arn") is None


def test_not_found_codes() -> None:
    for code in (
        "ResourceNotFoundException",
        "InvalidVpcID.NotFound",
        "LoadBalancerNotFound",
        "NoSuchEntity",
        "404",
        "AWS.SimpleQueueService.NonExistentQueue",
        "TrailNotFoundException",
        "NotFoundException",
    ):
        assert is_not_found(code), code
    for code in ("AccessDenied", "ThrottlingException", "ClientException", "ValidationError"):
        assert not is_not_found(code), code


def stale_index(extra: list[str]) -> Callable[[str, Any], Any]:
    """A tagging client factory whose first GetResources page per region also lists ``extra``
    (ARNs of the region, or without a region), as the real index does for a while after a
    resource is deleted."""

    def factory(region: str, config: Any) -> Any:
        client = tagging_client(region, config)

        def add(parsed: dict[str, Any], **kwargs: Any) -> None:
            if parsed.get("PaginationToken"):
                return
            mine = [a for a in extra if f":{region}:" in a or a.split(":")[3] == ""]
            parsed.setdefault("ResourceTagMappingList", []).extend(
                {"ResourceARN": a, "Tags": []} for a in mine
            )

        client.meta.events.register("after-call.resource-groups-tagging-api.GetResources", add)
        return client

    return factory


Made = tuple[str, Callable[[], None]]
"""(ARN, delete it)."""


def _c(service: str) -> Any:
    return client(service, REGION)


def _role(name: str, service: str = "lambda.amazonaws.com") -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }
    return _c("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]


def _network() -> tuple[str, str]:
    ec2 = _c("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    return vpc, ",".join(subnets)


def _ec2_arn(kind: str, ident: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{ident}"


def make_kms_key(n: str) -> Made:
    key = _c("kms").create_key(Description=n)["KeyMetadata"]
    return key["Arn"], lambda: _c("kms").schedule_key_deletion(
        KeyId=key["KeyId"], PendingWindowInDays=7
    )


def make_ecs_cluster(n: str) -> Made:
    arn = _c("ecs").create_cluster(clusterName=n)["cluster"]["clusterArn"]
    return arn, lambda: _c("ecs").delete_cluster(cluster=n)


def make_ecs_service(n: str) -> Made:
    ecs = _c("ecs")
    ecs.create_cluster(clusterName="services")
    ecs.register_task_definition(
        family=f"svc-{n}", containerDefinitions=[{"name": "a", "image": "x", "memory": 128}]
    )
    arn = ecs.create_service(
        cluster="services", serviceName=n, taskDefinition=f"svc-{n}", desiredCount=0
    )["service"]["serviceArn"]
    return arn, lambda: ecs.delete_service(cluster="services", service=n, force=True)


def make_task_definition(n: str) -> Made:
    ecs = _c("ecs")
    arn = ecs.register_task_definition(
        family=n, containerDefinitions=[{"name": "a", "image": "x", "memory": 128}]
    )["taskDefinition"]["taskDefinitionArn"]
    return arn, lambda: ecs.deregister_task_definition(taskDefinition=arn)


def make_job_definition(n: str) -> Made:
    batch = _c("batch")
    arn = batch.register_job_definition(
        jobDefinitionName=n,
        type="container",
        containerProperties={"image": "x", "vcpus": 1, "memory": 128},
    )["jobDefinitionArn"]
    return arn, lambda: batch.deregister_job_definition(jobDefinition=arn)


def _compute_environment(n: str) -> str:
    role = _role(f"batch-{n}", "batch.amazonaws.com")
    return _c("batch").create_compute_environment(
        computeEnvironmentName=n, type="UNMANAGED", serviceRole=role
    )["computeEnvironmentArn"]


def make_compute_environment(n: str) -> Made:
    batch = _c("batch")
    arn = _compute_environment(n)

    def delete() -> None:
        batch.update_compute_environment(computeEnvironment=arn, state="DISABLED")
        batch.delete_compute_environment(computeEnvironment=arn)

    return arn, delete


def make_job_queue(n: str) -> Made:
    batch = _c("batch")
    environment = _compute_environment(f"ce-{n}")
    arn = batch.create_job_queue(
        jobQueueName=n,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
    )["jobQueueArn"]

    def delete() -> None:
        batch.update_job_queue(jobQueue=arn, state="DISABLED")
        batch.delete_job_queue(jobQueue=arn)

    return arn, delete


def make_log_group(n: str) -> Made:
    name = f"/mlops/{n}"
    _c("logs").create_log_group(logGroupName=name)
    _c("logs").create_log_group(
        logGroupName=f"{name}-longer"
    )  # a prefix match that is not the group
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}", lambda: _c("logs").delete_log_group(
        logGroupName=name
    )


def make_bucket(n: str) -> Made:
    s3 = _c("s3")
    s3.create_bucket(Bucket=f"mlops-{n}", CreateBucketConfiguration={"LocationConstraint": REGION})
    return f"arn:aws:s3:::mlops-{n}", lambda: s3.delete_bucket(Bucket=f"mlops-{n}")


def make_topic(n: str) -> Made:
    arn = _c("sns").create_topic(Name=n)["TopicArn"]
    return arn, lambda: _c("sns").delete_topic(TopicArn=arn)


def make_queue(n: str) -> Made:
    url = _c("sqs").create_queue(QueueName=n)["QueueUrl"]
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{n}", lambda: _c("sqs").delete_queue(QueueUrl=url)


def make_table(n: str) -> Made:
    ddb = _c("dynamodb")
    arn = ddb.create_table(
        TableName=n,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
    )["TableDescription"]["TableArn"]
    return arn, lambda: ddb.delete_table(TableName=n)


def make_function(n: str) -> Made:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    arn = _c("lambda").create_function(
        FunctionName=n,
        Runtime="python3.12",
        Role=_role(f"fn-{n}"),
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )["FunctionArn"]
    return arn, lambda: _c("lambda").delete_function(FunctionName=n)


def make_load_balancer(n: str) -> Made:
    _, subnets = _network()
    arn = _c("elbv2").create_load_balancer(Name=n, Subnets=subnets.split(","))["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    return arn, lambda: _c("elbv2").delete_load_balancer(LoadBalancerArn=arn)


def make_target_group(n: str) -> Made:
    vpc, _ = _network()
    arn = _c("elbv2").create_target_group(Name=n, Protocol="HTTP", Port=80, VpcId=vpc)[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    return arn, lambda: _c("elbv2").delete_target_group(TargetGroupArn=arn)


def make_listener(n: str) -> Made:
    balancer, _ = make_load_balancer(f"lb-{n}")
    group, _ = make_target_group(f"tg-{n}")
    arn = _c("elbv2").create_listener(
        LoadBalancerArn=balancer,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )["Listeners"][0]["ListenerArn"]
    return arn, lambda: _c("elbv2").delete_listener(ListenerArn=arn)


def make_file_system(n: str) -> Made:
    fs = _c("efs").create_file_system(CreationToken=n)
    return fs["FileSystemArn"], lambda: _c("efs").delete_file_system(
        FileSystemId=fs["FileSystemId"]
    )


def make_access_point(n: str) -> Made:
    fs = _c("efs").create_file_system(CreationToken=f"ap-{n}")["FileSystemId"]
    point = _c("efs").create_access_point(ClientToken=n, FileSystemId=fs)
    return point["AccessPointArn"], lambda: _c("efs").delete_access_point(
        AccessPointId=point["AccessPointId"]
    )


def make_repository(n: str) -> Made:
    arn = _c("ecr").create_repository(repositoryName=n)["repository"]["repositoryArn"]
    return arn, lambda: _c("ecr").delete_repository(repositoryName=n)


def make_rule(n: str) -> Made:
    arn = _c("events").put_rule(Name=n, ScheduleExpression="rate(1 day)")["RuleArn"]
    return arn, lambda: _c("events").delete_rule(Name=n)


def make_schedule(n: str) -> Made:
    scheduler = _c("scheduler")
    arn = scheduler.create_schedule(
        Name=n,
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q",
            "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r",
        },
    )["ScheduleArn"]
    return arn, lambda: scheduler.delete_schedule(Name=n)


def make_schedule_group(n: str) -> Made:
    arn = _c("scheduler").create_schedule_group(Name=n)["ScheduleGroupArn"]
    return arn, lambda: _c("scheduler").delete_schedule_group(Name=n)


def make_alarm(n: str) -> Made:
    _c("cloudwatch").put_metric_alarm(
        AlarmName=n,
        MetricName="m",
        Namespace="n",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{n}", lambda: _c(
        "cloudwatch"
    ).delete_alarms(AlarmNames=[n])


def make_trail(n: str) -> Made:
    _c("s3").create_bucket(
        Bucket=f"trail-{n}", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    arn = _c("cloudtrail").create_trail(Name=n, S3BucketName=f"trail-{n}")["TrailARN"]
    return arn, lambda: _c("cloudtrail").delete_trail(Name=n)


def make_auto_scaling_group(n: str) -> Made:
    _, subnets = _network()
    template = _c("ec2").create_launch_template(
        LaunchTemplateName=f"lt-{n}",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )
    autoscaling = _c("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=n,
        MinSize=0,
        MaxSize=1,
        VPCZoneIdentifier=subnets,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplate"]["LaunchTemplateId"]},
    )
    arn = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[n])["AutoScalingGroups"][
        0
    ]["AutoScalingGroupARN"]
    return arn, lambda: autoscaling.delete_auto_scaling_group(
        AutoScalingGroupName=n, ForceDelete=True
    )


def make_iam_role(n: str) -> Made:
    arn = _role(f"listed-{n}")
    return arn, lambda: _c("iam").delete_role(RoleName=f"listed-{n}")


def make_instance_profile(n: str) -> Made:
    arn = _c("iam").create_instance_profile(InstanceProfileName=n)["InstanceProfile"]["Arn"]
    return arn, lambda: _c("iam").delete_instance_profile(InstanceProfileName=n)


def make_vpc(n: str) -> Made:
    vpc, _ = _network()
    ec2 = _c("ec2")

    def delete() -> None:
        for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
            "Subnets"
        ]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc)

    return _ec2_arn("vpc", vpc), delete


def make_subnet(n: str) -> Made:
    _, subnets = _network()
    subnet = subnets.split(",")[0]
    return _ec2_arn("subnet", subnet), lambda: _c("ec2").delete_subnet(SubnetId=subnet)


def make_security_group(n: str) -> Made:
    vpc, _ = _network()
    group = _c("ec2").create_security_group(GroupName=n, Description="d", VpcId=vpc)["GroupId"]
    return _ec2_arn("security-group", group), lambda: _c("ec2").delete_security_group(GroupId=group)


def make_nat_gateway(n: str) -> Made:
    _, subnets = _network()
    ec2 = _c("ec2")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    gateway = ec2.create_nat_gateway(SubnetId=subnets.split(",")[0], AllocationId=allocation)[
        "NatGateway"
    ]["NatGatewayId"]
    return _ec2_arn("natgateway", gateway), lambda: ec2.delete_nat_gateway(NatGatewayId=gateway)


def make_internet_gateway(n: str) -> Made:
    gateway = _c("ec2").create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    return _ec2_arn("internet-gateway", gateway), lambda: _c("ec2").delete_internet_gateway(
        InternetGatewayId=gateway
    )


def make_route_table(n: str) -> Made:
    vpc, _ = _network()
    table = _c("ec2").create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    return _ec2_arn("route-table", table), lambda: _c("ec2").delete_route_table(RouteTableId=table)


def make_elastic_ip(n: str) -> Made:
    allocation = _c("ec2").allocate_address(Domain="vpc")["AllocationId"]
    return _ec2_arn("elastic-ip", allocation), lambda: _c("ec2").release_address(
        AllocationId=allocation
    )


def make_launch_template(n: str) -> Made:
    template = _c("ec2").create_launch_template(
        LaunchTemplateName=n, LaunchTemplateData={"InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    return _ec2_arn("launch-template", template), lambda: _c("ec2").delete_launch_template(
        LaunchTemplateId=template
    )


def make_vpc_endpoint(n: str) -> Made:
    vpc, _ = _network()
    endpoint = _c("ec2").create_vpc_endpoint(
        VpcId=vpc, VpcEndpointType="Gateway", ServiceName=f"com.amazonaws.{REGION}.s3"
    )["VpcEndpoint"]["VpcEndpointId"]
    return _ec2_arn("vpc-endpoint", endpoint), lambda: _c("ec2").delete_vpc_endpoints(
        VpcEndpointIds=[endpoint]
    )


def make_flow_log(n: str) -> Made:
    vpc, _ = _network()
    make_bucket(f"flow-logs-{n}")
    flow = _c("ec2").create_flow_logs(
        ResourceIds=[vpc],
        ResourceType="VPC",
        TrafficType="ALL",
        LogDestinationType="s3",
        LogDestination=f"arn:aws:s3:::mlops-flow-logs-{n}",
    )["FlowLogIds"][0]
    return _ec2_arn("vpc-flow-log", flow), lambda: _c("ec2").delete_flow_logs(FlowLogIds=[flow])


def make_network_interface(n: str) -> Made:
    _, subnets = _network()
    interface = _c("ec2").create_network_interface(SubnetId=subnets.split(",")[0])[
        "NetworkInterface"
    ]["NetworkInterfaceId"]
    return _ec2_arn("network-interface", interface), lambda: _c("ec2").delete_network_interface(
        NetworkInterfaceId=interface
    )


def make_volume(n: str) -> Made:
    volume = _c("ec2").create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    return _ec2_arn("volume", volume), lambda: _c("ec2").delete_volume(VolumeId=volume)


def make_instance(n: str) -> Made:
    instance = _c("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][
        0
    ]["InstanceId"]
    return _ec2_arn("instance", instance), lambda: _c("ec2").terminate_instances(
        InstanceIds=[instance]
    )


#: (ARN service, resource kind) -> how to make one and delete it in moto.
MAKERS: dict[tuple[str, str], Callable[[str], Made]] = {
    ("kms", "key"): make_kms_key,
    ("ecs", "cluster"): make_ecs_cluster,
    ("ecs", "service"): make_ecs_service,
    ("ecs", "task-definition"): make_task_definition,
    ("batch", "job-definition"): make_job_definition,
    ("batch", "compute-environment"): make_compute_environment,
    ("batch", "job-queue"): make_job_queue,
    ("logs", "log-group"): make_log_group,
    ("s3", ""): make_bucket,
    ("sns", ""): make_topic,
    ("sqs", ""): make_queue,
    ("dynamodb", "table"): make_table,
    ("lambda", "function"): make_function,
    ("elasticloadbalancing", "loadbalancer"): make_load_balancer,
    ("elasticloadbalancing", "targetgroup"): make_target_group,
    ("elasticloadbalancing", "listener"): make_listener,
    ("elasticfilesystem", "file-system"): make_file_system,
    ("elasticfilesystem", "access-point"): make_access_point,
    ("ecr", "repository"): make_repository,
    ("events", "rule"): make_rule,
    ("scheduler", "schedule"): make_schedule,
    ("scheduler", "schedule-group"): make_schedule_group,
    ("cloudwatch", "alarm"): make_alarm,
    ("cloudtrail", "trail"): make_trail,
    ("autoscaling", "autoScalingGroup"): make_auto_scaling_group,
    ("iam", "role"): make_iam_role,
    ("iam", "instance-profile"): make_instance_profile,
    ("ec2", "vpc"): make_vpc,
    ("ec2", "subnet"): make_subnet,
    ("ec2", "security-group"): make_security_group,
    ("ec2", "natgateway"): make_nat_gateway,
    ("ec2", "internet-gateway"): make_internet_gateway,
    ("ec2", "route-table"): make_route_table,
    ("ec2", "elastic-ip"): make_elastic_ip,
    ("ec2", "launch-template"): make_launch_template,
    ("ec2", "vpc-endpoint"): make_vpc_endpoint,
    ("ec2", "vpc-flow-log"): make_flow_log,
    ("ec2", "network-interface"): make_network_interface,
    ("ec2", "volume"): make_volume,
    ("ec2", "instance"): make_instance,
}


#: Checkers moto cannot exercise, each tested with botocore's Stubber instead.
NOT_IN_MOTO = {
    (
        "airflow",
        "environment",
    ): "moto 5.2 answers MWAA CreateEnvironment with 404 'Not yet implemented'"
}


def test_every_checker_has_a_moto_case() -> None:
    checked = {(service, kind) for service, checker in CHECKERS.items() for kind in checker.kinds}
    assert checked == set(MAKERS) | set(NOT_IN_MOTO)
    assert not set(MAKERS) & set(NOT_IN_MOTO)


@pytest.mark.parametrize(
    ("answer", "left"),
    [
        ({"Environment": {"Status": "AVAILABLE"}}, True),
        ({"Environment": {"Status": "DELETING"}}, False),
        (None, False),
    ],
)
def test_airflow_environments_are_checked_with_get_environment(
    answer: dict[str, Any] | None, left: bool
) -> None:
    from botocore.stub import Stubber

    from stacks.sweep import Checker

    arn = f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/jobs"
    client = boto3.client(
        "mwaa", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        if answer is None:
            stub.add_client_error(
                "get_environment", "ResourceNotFoundException", expected_params={"Name": "jobs"}
            )
        else:
            stub.add_response("get_environment", answer, expected_params={"Name": "jobs"})
        verdict = Checker(lambda service, region, config: client, None).check(arn, REGION)
        stub.assert_no_pending_responses()
    assert verdict.left is left


def gone_lines(out: str) -> dict[str, str]:
    prefix = "already deleted, not counted: "
    return {
        line[len(prefix) :].split(" ", 1)[0]: line
        for line in out.splitlines()
        if line.startswith(prefix)
    }


@functools.cache
def _kept_service_client(service: str, region: str, retries: str) -> Any:
    return aws_client(service, region, Config(retries=json.loads(retries)))


def kept_service_client(service: str, region: str, config: Any) -> Any:
    """``aws_client``, each (service, region, retry settings) made once for the module.

    The sweep's default factory keeps a client per (service, region, config) for one sweep
    only (each sweep brings its own retry Config), and building a client takes tens of
    milliseconds; the checkers (what the per-kind tests check) ask the same clients either
    way, and moto answers a kept client from the current test's backends. The other tests
    keep the default factory.
    """
    return _kept_service_client(service, region, json.dumps(config.retries, sort_keys=True))


@dataclass(frozen=True)
class KindsSweep:
    """One sweep over a gone and a left resource of every kind in :data:`MAKERS`."""

    made: dict[tuple[str, str], tuple[str, str]]
    """kind -> (gone ARN, left ARN)"""
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def kinds_sweep(tmp_path_factory: pytest.TempPathFactory, no_aws_files: Path) -> KindsSweep:
    """Every kind's resources made in ONE moto account and checked by ONE sweep: a sweep per
    kind repeated the same moto start, stack read and IAM listing 40 times. Each kind's
    names are its own (``gone3``, ``left3``), so no kind's resources meet another's."""
    project = tmp_path_factory.mktemp("kinds")
    (project / "Pulumi.yaml").write_text("name: mlops-platform\nruntime: python\n")
    (project / "Pulumi.dev.yaml").write_text(DEV)
    out, err = io.StringIO(), io.StringIO()
    made: dict[tuple[str, str], tuple[str, str]] = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        _set_aws_env(monkeypatch, no_aws_files)
        with mock_aws():
            deletes = []
            for i, kind in enumerate(sorted(MAKERS)):
                gone_arn, delete = MAKERS[kind](f"gone{i}")
                left_arn, _ = MAKERS[kind](f"left{i}")
                made[kind] = (gone_arn, left_arn)
                deletes.append(delete)
            for delete in deletes:
                delete()
            extra = [arn for pair in made.values() for arn in pair]
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = run_sweep(
                    SweepRequest("dev", project),
                    client_for=stale_index(extra),
                    service_client=kept_service_client,
                )
    return KindsSweep(made, code, out.getvalue(), err.getvalue())


def test_the_sweep_of_every_kind_reports_exactly_the_left_ones(kinds_sweep: KindsSweep) -> None:
    """Nothing but the left resources is reported, nothing but the gone ones is not counted,
    and every ARN could be checked."""
    assert kinds_sweep.code == EXIT_FAILED, kinds_sweep.err
    assert "could not check" not in kinds_sweep.err
    lefts = {left for _, left in kinds_sweep.made.values()}
    gones = {gone for gone, _ in kinds_sweep.made.values()}
    report = parse_report(kinds_sweep.out)
    assert report[REGION] | report[GLOBAL] == {a for a in lefts}
    assert set(gone_lines(kinds_sweep.out)) == gones


@pytest.mark.parametrize("kind", sorted(MAKERS), ids=lambda k: f"{k[0]}:{k[1] or 'resource'}")
def test_a_deleted_resource_still_in_the_index_is_not_counted_and_a_left_one_is(
    kinds_sweep: KindsSweep, kind: tuple[str, str]
) -> None:
    gone_arn, left_arn = kinds_sweep.made[kind]
    report = parse_report(kinds_sweep.out)
    listed = report[REGION] | report[GLOBAL]
    assert f"could not check {gone_arn}" not in kinds_sweep.err
    assert f"could not check {left_arn}" not in kinds_sweep.err
    assert left_arn in listed, kinds_sweep.out
    assert gone_arn not in listed
    assert gone_arn in gone_lines(kinds_sweep.out)
    assert left_arn not in gone_lines(kinds_sweep.out)


def test_kms_keys_pending_deletion_are_not_leftovers_even_as_the_index_lists_them(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # moto's tagging index, like AWS's, still lists a key that is pending deletion.
    tags = [{"TagKey": k, "TagValue": v} for k, v in STACK_TAGS.items()]
    with mock_aws():
        kms = _c("kms")
        pending = kms.create_key(Tags=tags)["KeyMetadata"]
        kms.schedule_key_deletion(KeyId=pending["KeyId"], PendingWindowInDays=7)
        enabled = kms.create_key(Tags=tags)["KeyMetadata"]
        code = run_sweep(SweepRequest("dev", project))

    out = capsys.readouterr().out
    assert code == EXIT_FAILED
    assert parse_report(out)[REGION] == {enabled["Arn"]}
    assert "PendingDeletion" in gone_lines(out)[pending["Arn"]]


def test_inactive_task_definitions_and_clusters_are_not_leftovers(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    tags = [{"key": k, "value": v} for k, v in STACK_TAGS.items()]
    container = [{"name": "a", "image": "x", "memory": 128}]
    with mock_aws():
        ecs = _c("ecs")
        old = ecs.register_task_definition(family="web", containerDefinitions=container, tags=tags)[
            "taskDefinition"
        ]["taskDefinitionArn"]
        ecs.deregister_task_definition(taskDefinition=old)
        current = ecs.register_task_definition(
            family="web", containerDefinitions=container, tags=tags
        )["taskDefinition"]["taskDefinitionArn"]
        deleted_cluster = ecs.create_cluster(clusterName="old", tags=tags)["cluster"]["clusterArn"]
        ecs.delete_cluster(cluster="old")
        code = run_sweep(SweepRequest("dev", project))

    out = capsys.readouterr().out
    assert code == EXIT_FAILED
    assert parse_report(out)[REGION] == {current}
    assert "INACTIVE" in gone_lines(out)[old] and "INACTIVE" in gone_lines(out)[deleted_cluster]


def test_inactive_batch_job_definitions_are_not_leftovers(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock_aws():
        batch = _c("batch")
        properties = {"image": "x", "vcpus": 1, "memory": 128}
        old = batch.register_job_definition(
            jobDefinitionName="score",
            type="container",
            containerProperties=properties,
            tags=STACK_TAGS,
        )
        batch.deregister_job_definition(jobDefinition=old["jobDefinitionArn"])
        new = batch.register_job_definition(
            jobDefinitionName="score",
            type="container",
            containerProperties=properties,
            tags=STACK_TAGS,
        )
        code = run_sweep(
            SweepRequest("dev", project),
            client_for=stale_index([old["jobDefinitionArn"], new["jobDefinitionArn"]]),
        )

    out = capsys.readouterr().out
    assert code == EXIT_FAILED
    assert parse_report(out)[REGION] == {new["jobDefinitionArn"]}
    assert "INACTIVE" in gone_lines(out)[old["jobDefinitionArn"]]


def test_only_gone_resources_mean_a_clean_sweep(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock_aws():
        arn, delete = make_table("t")
        delete()
        code = run_sweep(SweepRequest("dev", project), client_for=stale_index([arn]))

    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert out.startswith(
        "Clean: nothing tagged stack=dev, managed-by=pulumi is left in eu-west-1, eu-central-1, global."
    )
    assert arn in gone_lines(out)


def test_arns_without_a_checker_are_kept_as_leftovers(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown_service = f"arn:aws:wafv2:{REGION}:{ACCOUNT}:regional/webacl/web/1234"
    unknown_kind = _ec2_arn("transit-gateway", "tgw-0123456789abcdef0")
    with mock_aws():
        code = run_sweep(
            SweepRequest("dev", project), client_for=stale_index([unknown_service, unknown_kind])
        )

    assert code == EXIT_FAILED
    assert parse_report(capsys.readouterr().out)[REGION] == {unknown_service, unknown_kind}


def test_an_arn_whose_service_cannot_answer_is_kept_and_the_sweep_is_incomplete(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    def denying(service: str, region: str, config: Any) -> Any:
        client = aws_client(service, region, config)
        if service == "dynamodb":

            def deny(**kwargs: Any) -> None:
                raise ClientError(
                    {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeTable"
                )

            client.describe_table = deny
        return client

    with mock_aws():
        arn, _ = make_table("t")
        code = run_sweep(
            SweepRequest("dev", project), client_for=stale_index([arn]), service_client=denying
        )

    captured = capsys.readouterr()
    assert code == EXIT_ENVIRONMENT
    assert parse_report(captured.out)[REGION] == {arn}
    assert f"could not check {arn}" in captured.err and "AccessDeniedException" in captured.err


# --------------------------------------------------------------------------------------
# IAM: global, listed once per sweep through IAM
# --------------------------------------------------------------------------------------


def _tags(**tags: str) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def test_iam_roles_and_instance_profiles_are_listed_once_by_tag(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[str, str]] = []

    def counting(service: str, region: str, config: Any) -> Any:
        calls.append((service, region))
        return aws_client(service, region, config)

    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    with mock_aws():
        iam = client("iam", REGION)
        role = iam.create_role(
            RoleName="eu-west-1-web-task-role-1a2b3c4",
            AssumeRolePolicyDocument=trust,
            Tags=_tags(**STACK_TAGS),
        )["Role"]["Arn"]
        iam.create_role(
            RoleName="prod-role",
            AssumeRolePolicyDocument=trust,
            Tags=_tags(stack="prod", **{"managed-by": "pulumi"}),
        )
        iam.create_role(
            RoleName="hand-made", AssumeRolePolicyDocument=trust, Tags=_tags(stack="dev")
        )
        iam.create_role(RoleName="untagged", AssumeRolePolicyDocument=trust)
        profile = iam.create_instance_profile(
            InstanceProfileName="pool-profile", Tags=_tags(**STACK_TAGS)
        )["InstanceProfile"]["Arn"]
        iam.create_instance_profile(InstanceProfileName="other-profile", Tags=_tags(stack="prod"))
        code = run_sweep(SweepRequest("dev", project), service_client=counting)

    out = capsys.readouterr().out
    assert code == EXIT_FAILED
    report = parse_report(out)
    assert report[GLOBAL] == {role, profile}
    assert report[REGION] == set() and report["eu-central-1"] == set()
    assert calls.count(("iam", REGION)) == 1 and all(
        service != "iam" or region == REGION for service, region in calls
    )


def test_iam_that_cannot_be_listed_makes_the_sweep_incomplete(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_iam(service: str, region: str, config: Any) -> Any:
        client = aws_client(service, region, config)
        if service == "iam":
            client.meta.events.register_first(
                "before-send.iam.ListRoles",
                lambda request, **kwargs: AWSResponse(
                    request.url,
                    403,
                    {},
                    _Raw(
                        b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>"
                    ),
                ),
            )
        return client

    with mock_aws():
        code = run_sweep(SweepRequest("dev", project, max_attempts=1), service_client=no_iam)

    err = capsys.readouterr().err
    assert code == EXIT_ENVIRONMENT
    assert "could not list IAM roles and instance profiles" in err and "AccessDenied" in err
    assert "incomplete, not listed: global (IAM)" in err


# --------------------------------------------------------------------------------------
# Auto Scaling groups: not in the tagging index, listed through Auto Scaling
# --------------------------------------------------------------------------------------


def _tagged_group(name: str, tags: dict[str, str]) -> str:
    """An Auto Scaling group tagged as an instance pool tags its group (every tag propagated at
    launch); returns its ARN."""
    _, subnets = _network()
    template = _c("ec2").create_launch_template(
        LaunchTemplateName=f"lt-{name}",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )["LaunchTemplate"]
    autoscaling = _c("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        MinSize=0,
        MaxSize=1,
        VPCZoneIdentifier=subnets,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]},
        Tags=[
            {
                "Key": key,
                "Value": value,
                "PropagateAtLaunch": True,
                "ResourceId": name,
                "ResourceType": "auto-scaling-group",
            }
            for key, value in tags.items()
        ],
    )
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    return str(group["AutoScalingGroupARN"])


def test_a_leftover_auto_scaling_group_is_reported_though_the_tagging_index_omits_it(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """GetResources returns nothing for Auto Scaling groups (on AWS as in moto), so a pool's
    group left behind is found through Auto Scaling, by the stack's tags."""
    with mock_aws():
        left = _tagged_group("pool-asg", {**STACK_TAGS, "environment": "dev", "pool": "ds"})
        _tagged_group("prod-asg", {"stack": "prod", "managed-by": "pulumi"})
        _tagged_group("hand-made", {"stack": "dev"})
        indexed = tagging_client(REGION, None).get_resources(
            TagFilters=[{"Key": k, "Values": [v]} for k, v in STACK_TAGS.items()]
        )["ResourceTagMappingList"]
        code = run_sweep(SweepRequest("dev", project))

    assert [m["ResourceARN"] for m in indexed] == []  # the index alone would miss it
    out = capsys.readouterr().out
    assert code == EXIT_FAILED, out
    assert parse_report(out) == {REGION: {left}, "eu-central-1": set(), GLOBAL: set()}
    assert "prod-asg" not in out and "hand-made" not in out


def test_an_auto_scaling_group_being_deleted_is_not_counted(
    project: Path, aws_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock_aws():
        arn = _tagged_group("pool-asg", STACK_TAGS)
        real = _c("autoscaling")

        def deleting(service: str, region: str, config: Any) -> Any:
            client = aws_client(service, region, config)
            if service == "autoscaling":

                def mark(parsed: dict[str, Any], **kwargs: Any) -> None:
                    for group in parsed.get("AutoScalingGroups", []):
                        group["Status"] = "Delete in progress"

                client.meta.events.register(
                    "after-call.auto-scaling.DescribeAutoScalingGroups", mark
                )
            return client

        code = run_sweep(SweepRequest("dev", project), service_client=deleting)
        assert real.describe_auto_scaling_groups()["AutoScalingGroups"]

    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    assert "Delete in progress" in gone_lines(out)[arn]
