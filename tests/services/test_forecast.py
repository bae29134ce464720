"""The forecast service: the smoothing maths, the WSGI app, and the image's server command.

The app is called in-process through ``wsgiref.validate`` (which also checks WSGI
compliance) and over real HTTP on 127.0.0.1: with wsgiref, and with gunicorn started
exactly as the Dockerfile's CMD starts it, from a copy of the image's file layout.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.forecast import app as forecast_app
from services.forecast.app import BUILTIN_SERIES, ConfigError, create_app, load_catalogue
from services.forecast.forecasting import (
    HOLT_LINEAR,
    HOLT_WINTERS,
    SmoothingParameters,
    forecast,
)

SERVICE_DIR = Path(__file__).resolve().parents[2] / "services" / "forecast"
DOCKERFILE = SERVICE_DIR / "Dockerfile"
DEMAND = BUILTIN_SERIES[0]

# --------------------------------------------------------------------------- forecasting


def seasonal_line(
    n: int, a: float = 50.0, b: float = 1.5, season: tuple[float, ...] = (4.0, -1.0, -3.0, 0.0)
) -> list[float]:
    """Exactly trend + repeating season (season sums to zero)."""
    return [a + b * t + season[t % len(season)] for t in range(n)]


def test_holt_linear_matches_a_hand_computation() -> None:
    # Least-squares line through (0,1) (1,3) (2,4): slope 1.5, intercept 7/6.
    # t=1: prediction 8/3, error 1/3; level .3*3 + .7*8/3 = 2.76667; trend .1*1.6 + .9*1.5 = 1.51
    # t=2: prediction 4.27667, error -0.27667; level 1.2 + .7*4.27667 = 4.19367;
    #      trend .1*(4.19367 - 2.76667) + .9*1.51 = 1.5017
    result = forecast([1, 3, 4], horizon=2)
    assert result.method == HOLT_LINEAR
    assert result.values == pytest.approx((4.19367 + 1.5017, 4.19367 + 2 * 1.5017), abs=1e-4)
    assert result.rmse == pytest.approx(math.sqrt(((1 / 3) ** 2 + 0.27667**2) / 2), abs=1e-4)


def test_constant_history_forecasts_the_constant() -> None:
    for season_length in (1, 7):
        result = forecast([5.0] * 28, horizon=10, season_length=season_length)
        assert result.values == pytest.approx((5.0,) * 10)
        assert result.rmse == pytest.approx(0.0)


def test_straight_line_is_continued_exactly() -> None:
    history = [3 + 2 * t for t in range(12)]
    result = forecast(history, horizon=5)
    assert result.method == HOLT_LINEAR
    assert result.values == pytest.approx(tuple(3 + 2 * (11 + h) for h in range(1, 6)))
    assert result.rmse == pytest.approx(0.0)


def test_trend_plus_season_is_continued_exactly() -> None:
    history = seasonal_line(20)
    result = forecast(history, horizon=9, season_length=4)
    assert result.method == HOLT_WINTERS
    assert result.values == pytest.approx(tuple(seasonal_line(29)[20:]))
    assert result.rmse == pytest.approx(0.0, abs=1e-9)


def test_less_than_two_seasons_falls_back_to_holt_linear() -> None:
    assert forecast(seasonal_line(7), horizon=3, season_length=4).method == HOLT_LINEAR
    assert forecast(seasonal_line(8), horizon=3, season_length=4).method == HOLT_WINTERS


def test_two_points_are_enough_for_a_line() -> None:
    result = forecast([10, 12], horizon=3)
    assert result.values == pytest.approx((14, 16, 18))
    assert result.rmse == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"history": [1.0], "horizon": 1}, "at least 2 points"),
        ({"history": [1.0, math.nan], "horizon": 1}, "finite"),
        ({"history": [1.0, 2.0], "horizon": 0}, "horizon must be at least 1"),
        (
            {"history": [1.0, 2.0], "horizon": 1, "season_length": 0},
            "season_length must be at least 1",
        ),
    ],
    ids=["one-point", "nan", "horizon-zero", "season-zero"],
)
def test_forecast_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        forecast(**kwargs)


@pytest.mark.parametrize("name", ["alpha", "beta", "gamma"])
@pytest.mark.parametrize("value", [0.0, -0.1, 1.5])
def test_smoothing_parameters_are_checked(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{name} must be in"):
        SmoothingParameters(**{name: value})


finite = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    history=st.lists(finite, min_size=2, max_size=40),
    season_length=st.integers(min_value=1, max_value=8),
    horizon=st.integers(min_value=1, max_value=20),
    scale=st.floats(min_value=-100, max_value=100, allow_nan=False),
    shift=finite,
)
def test_forecast_is_affine_equivariant(
    history: list[float], season_length: int, horizon: int, scale: float, shift: float
) -> None:
    """Exponential smoothing is linear in the data: forecast(a + b*y) = a + b*forecast(y)."""
    base = forecast(history, horizon, season_length)
    moved = forecast([shift + scale * v for v in history], horizon, season_length)
    assert moved.method == base.method
    assert len(moved.values) == horizon
    tolerance = 1e-6 * (1 + abs(shift) + abs(scale) * max(map(abs, history + list(base.values))))
    for got, want in zip(moved.values, base.values, strict=False):
        assert got == pytest.approx(shift + scale * want, abs=tolerance)


# --------------------------------------------------------------------------- the WSGI app


def call(
    app: Any, path: str, query: str = "", method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """Call a WSGI app through wsgiref's compliance validator; return status, headers, body."""
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(REQUEST_METHOD=method, PATH_INFO=path, QUERY_STRING=query)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, headers
        return lambda data: None

    result = validator(app)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()
    return int(seen["status"].split()[0]), dict(seen["headers"]), body


def get_json(app: Any, path: str, query: str = "") -> tuple[int, Any]:
    """GET a path; return the status and the parsed JSON body (checking the content type)."""
    status, headers, body = call(app, path, query)
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(body))
    return status, json.loads(body)


@pytest.fixture
def app() -> Any:
    """The module's own application (built-in series; default environment)."""
    return forecast_app.application


def test_health(app: Any) -> None:
    assert get_json(app, "/health") == (200, {"status": "ok"})


def test_forecast_defaults(app: Any) -> None:
    status, doc = get_json(app, "/forecast")

    assert status == 200
    assert doc["series"] == "demand"
    assert doc["method"] == HOLT_WINTERS
    assert doc["season_length"] == 7
    assert doc["horizon"] == 7
    assert doc["history"] == {"points": 56, "last": 177.0}
    assert [p["step"] for p in doc["forecast"]] == list(range(1, 8))
    values = [p["value"] for p in doc["forecast"]]
    assert values == pytest.approx(forecast(DEMAND.values, 7, 7).values)
    # The history peaks on the 6th day of each week (index 5, 12, ... 54): the forecast
    # for the week after index 55 peaks at step 6 and stays in the series' range.
    assert max(range(7), key=values.__getitem__) == 5
    assert all(140 < v < 200 for v in values)
    assert 0 < doc["rmse"] < 10


def test_seasonal_forecast_repeats_with_a_constant_weekly_step(app: Any) -> None:
    _, doc = get_json(app, "/forecast", "series=demand&horizon=28")
    values = [p["value"] for p in doc["forecast"]]
    steps = [values[i + 7] - values[i] for i in range(21)]
    assert steps == pytest.approx([steps[0]] * 21)
    assert 0 < steps[0] < 14  # rising, by about the history's weekly growth


def test_forecast_other_series(app: Any) -> None:
    _, doc = get_json(app, "/forecast", "series=signups&horizon=3")
    assert doc["method"] == HOLT_LINEAR
    values = [p["value"] for p in doc["forecast"]]
    assert values[0] > 86 and values[0] < values[1] < values[2]

    _, doc = get_json(app, "/forecast", "horizon=24&series=monthly-sales")
    assert doc["method"] == HOLT_WINTERS and len(doc["forecast"]) == 24


@pytest.mark.parametrize("horizon", [1, 365])
def test_horizon_bounds_are_accepted(app: Any, horizon: int) -> None:
    status, doc = get_json(app, "/forecast", f"horizon={horizon}")
    assert status == 200
    assert len(doc["forecast"]) == horizon == doc["horizon"]
    assert all(math.isfinite(p["value"]) for p in doc["forecast"])


@pytest.mark.parametrize(
    ("query", "parameter", "message"),
    [
        ("horizon=0", "horizon", "horizon must be a whole number from 1 to 365, got '0'"),
        ("horizon=366", "horizon", "got '366'"),
        ("horizon=-1", "horizon", "got '-1'"),
        ("horizon=abc", "horizon", "got 'abc'"),
        ("horizon=1.5", "horizon", "got '1.5'"),
        ("horizon=1e2", "horizon", "got '1e2'"),
        ("horizon=", "horizon", "got ''"),
        ("horizon=%207", "horizon", "got ' 7'"),
        ("horizon=99999999999999999999", "horizon", "horizon must be a whole number"),
        ("horizon", "horizon", "got ''"),
        ("series=nope", "series", "unknown series 'nope' (known: demand, monthly-sales, signups)"),
        ("series=", "series", "unknown series ''"),
        ("horizn=7", "horizn", "unknown query parameter 'horizn' (allowed: horizon, series)"),
        ("horizon=7&horizon=8", "horizon", "query parameter 'horizon' is given more than once"),
        ("series=demand&series=demand", "series", "given more than once"),
        ("&".join(["horizon=1"] * 21), "query", "too many query parameters"),
    ],
    ids=[
        "zero",
        "too-big",
        "negative",
        "text",
        "decimal",
        "exponent",
        "empty",
        "space",
        "huge",
        "no-value",
        "unknown-series",
        "empty-series",
        "unknown-param",
        "repeated-horizon",
        "repeated-series",
        "too-many",
    ],
)
def test_bad_query_parameter_is_400_naming_it(
    app: Any, query: str, parameter: str, message: str
) -> None:
    status, doc = get_json(app, "/forecast", query)
    assert status == 400
    assert doc["parameter"] == parameter
    assert message in doc["error"]
    assert parameter in doc["error"]


@pytest.mark.parametrize("path", ["/", "/forecasts", "/forecast/", "/health/x", "/FORECAST"])
def test_unknown_path_is_404(app: Any, path: str) -> None:
    assert get_json(app, path) == (404, {"error": "not found", "path": path})


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_are_405(app: Any, method: str) -> None:
    status, headers, body = call(app, "/forecast", method=method)
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert json.loads(body)["allowed"] == ["GET", "HEAD"]


def test_head_has_headers_but_no_body(app: Any) -> None:
    status, headers, body = call(app, "/health", method="HEAD")
    assert status == 200
    assert body == b""
    assert headers["Content-Length"] == str(len(b'{"status":"ok"}'))


def test_responses_are_not_cached_or_sniffed(app: Any) -> None:
    _, headers, _ = call(app, "/forecast")
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_unexpected_error_is_a_json_500(monkeypatch: pytest.MonkeyPatch, app: Any) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(forecast_app, "forecast_document", broken)
    assert get_json(app, "/forecast") == (500, {"error": "internal error"})


# --------------------------------------------------------------------------- configuration


def write_series(tmp_path: Path, document: Any) -> str:
    path = tmp_path / "series.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def test_series_file_replaces_the_builtin_series(tmp_path: Path) -> None:
    path = write_series(
        tmp_path,
        {
            "weekly": {"values": seasonal_line(12), "season_length": 4, "description": "test"},
            "line": {"values": [1, 2]},
        },
    )
    catalogue = load_catalogue({"FORECAST_SERIES_FILE": path, "FORECAST_DEFAULT_SERIES": "line"})
    assert list(catalogue.series) == ["weekly", "line"]
    assert catalogue.default == "line"
    app = create_app(catalogue)

    _, doc = get_json(app, "/forecast", "series=weekly&horizon=6")
    assert [p["value"] for p in doc["forecast"]] == pytest.approx(seasonal_line(18)[12:])
    assert doc["description"] == "test"
    _, doc = get_json(app, "/forecast", "horizon=2")
    assert doc["series"] == "line" and [p["value"] for p in doc["forecast"]] == pytest.approx(
        [3, 4]
    )
    status, doc = get_json(app, "/forecast", "series=demand")
    assert status == 400 and "known: weekly, line" in doc["error"]


def test_default_catalogue_is_the_builtin_series() -> None:
    catalogue = load_catalogue({})
    assert list(catalogue.series) == ["demand", "monthly-sales", "signups"]
    assert catalogue.default == "demand"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[]", "must be a non-empty JSON object"),
        ({}, "must be a non-empty JSON object"),
        ({"Bad Name": {"values": [1, 2]}}, "series name 'Bad Name'"),
        ({"s": [1, 2]}, "s: must be an object with 'values'"),
        ({"s": {"values": [1]}}, "s.values: must be a list of at least 2 numbers"),
        ({"s": {"values": "1,2"}}, "s.values: must be a list"),
        ({"s": {"values": [1, "2", True]}}, "s.values[1]: must be a finite number, got '2'"),
        ({"s": {"values": [1, 2, True]}}, "s.values[2]: must be a finite number, got True"),
        ('{"s": {"values": [1, NaN]}}', "is not valid JSON: NaN is not a valid number"),
        (
            {"s": {"values": [1, 2], "season_length": 0}},
            "s.season_length: must be a whole number >= 1, got 0",
        ),
        (
            {"s": {"values": [1, 2], "season_length": 7.0}},
            "s.season_length: must be a whole number",
        ),
        ({"s": {"values": [1, 2], "description": 3}}, "s.description: must be a string"),
        ({"s": {"values": [1, 2], "season": 7}}, "s: unknown field(s) season"),
    ],
    ids=[
        "bad-json",
        "array",
        "empty",
        "bad-name",
        "not-object",
        "one-value",
        "values-string",
        "value-string",
        "value-bool",
        "nan",
        "season-zero",
        "season-float",
        "description",
        "unknown-field",
    ],
)
def test_bad_series_file_is_reported(tmp_path: Path, document: Any, message: str) -> None:
    path = write_series(tmp_path, document)
    with pytest.raises(ConfigError) as raised:
        load_catalogue({"FORECAST_SERIES_FILE": path})
    assert "FORECAST_SERIES_FILE=" in str(raised.value)
    assert message in str(raised.value)


def test_every_problem_in_a_series_file_is_reported(tmp_path: Path) -> None:
    path = write_series(
        tmp_path, {"a": {"values": [1]}, "b": {"values": [1, 2], "season_length": -1}}
    )
    with pytest.raises(ConfigError) as raised:
        load_catalogue({"FORECAST_SERIES_FILE": path})
    assert "a.values" in str(raised.value) and "b.season_length" in str(raised.value)


def test_missing_series_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"FORECAST_SERIES_FILE=.*cannot be read"):
        load_catalogue({"FORECAST_SERIES_FILE": str(tmp_path / "missing.json")})


def test_unknown_default_series_is_reported() -> None:
    with pytest.raises(ConfigError, match=r"FORECAST_DEFAULT_SERIES='nope' is not a known series"):
        load_catalogue({"FORECAST_DEFAULT_SERIES": "nope"})


# --------------------------------------------------------------------------- real HTTP


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(port: int, path: str) -> tuple[int, Any]:
    """GET http://127.0.0.1:port/path; return status and JSON body (also for 4xx)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


def test_app_over_http_with_wsgiref() -> None:
    server = make_server("127.0.0.1", 0, forecast_app.application, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_port
        assert http_get(port, "/health") == (200, {"status": "ok"})
        status, doc = http_get(port, "/forecast?horizon=3&series=signups")
        assert status == 200 and len(doc["forecast"]) == 3
        assert http_get(port, "/forecast?horizon=0")[0] == 400
        assert http_get(port, "/nope") == (404, {"error": "not found", "path": "/nope"})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- the image


def dockerfile_instruction(keyword: str) -> list[str]:
    """The lines of the Dockerfile starting with ``keyword`` (no continuation lines)."""
    return [line for line in DOCKERFILE.read_text().splitlines() if line.startswith(keyword + " ")]


def exec_form(line: str) -> list[str]:
    """The JSON exec-form argument list at the end of a CMD/HEALTHCHECK line."""
    return json.loads(line[line.index("CMD [") + 4 :])


def test_dockerfile_runs_as_non_root_from_a_slim_python_311() -> None:
    (base,) = dockerfile_instruction("ARG")
    assert base.startswith("ARG PYTHON_IMAGE=python:3.11-slim")
    assert dockerfile_instruction("FROM") == ["FROM ${PYTHON_IMAGE}"]
    (user,) = dockerfile_instruction("USER")
    uid = user.split()[1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0
    assert dockerfile_instruction("EXPOSE") == ["EXPOSE 8080"]
    (health,) = dockerfile_instruction("HEALTHCHECK")
    assert "/health" in health
    (cmd,) = dockerfile_instruction("CMD")
    assert exec_form(cmd)[0] == "gunicorn"
    pins = [
        line
        for line in (SERVICE_DIR / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pins and all("==" in pin for pin in pins)


def image_layout(root: Path) -> Path:
    """Copy the service files to ``root/app/forecast`` as the Dockerfile's COPY does."""
    (copy,) = [line for line in dockerfile_instruction("COPY") if line.endswith("/app/forecast/")]
    target = root / "app" / "forecast"
    target.mkdir(parents=True)
    for name in copy.split()[1:-1]:
        shutil.copy(SERVICE_DIR / name, target / name)
    return root / "app"


def snapshot(path: Path) -> set[str]:
    """Every file and directory under ``path`` (relative)."""
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def image_env(folder: Path) -> dict[str, str]:
    """Environment for the image's commands: a free port on 127.0.0.1, separate HOME/TMPDIR
    (under ``folder``)."""
    pytest.importorskip("gunicorn")
    home, tmp = folder / "home", folder / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FORECAST_", "WEB_", "THREADS", "XDG_"))
    }
    env.update(
        PORT=str(free_port()),
        HOST="127.0.0.1",
        HOME=str(home),
        TMPDIR=str(tmp),
        PYTHONDONTWRITEBYTECODE="1",
        WEB_CONCURRENCY="1",
    )
    return env


@pytest.fixture
def gunicorn_env(tmp_path: Path) -> dict[str, str]:
    """:func:`image_env` for one test."""
    return image_env(tmp_path)


@pytest.fixture(scope="module")
def served_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """:func:`image_env` of the module's one gunicorn server (``gunicorn_server``)."""
    return image_env(tmp_path_factory.mktemp("gunicorn"))


def as_local_command(argv: list[str]) -> list[str]:
    """Run the image's ``gunicorn``/``python`` with this interpreter."""
    if argv[0] == "gunicorn":
        return [sys.executable, "-m", "gunicorn", *argv[1:]]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    raise AssertionError(f"unexpected program {argv[0]!r}")


def image_cmd(app_dir: Path) -> list[str]:
    """The Dockerfile's CMD with the config path pointing into the copied layout."""
    (cmd,) = dockerfile_instruction("CMD")
    argv = [arg.replace("/app/", f"{app_dir}/") for arg in exec_form(cmd)]
    return as_local_command(argv)


@pytest.fixture(scope="module")
def gunicorn_server(served_env: dict[str, str]) -> Iterator[tuple[int, Path, int]]:
    """gunicorn started with the Dockerfile's CMD from the image layout; stopped after.
    Yields the port, the app directory and the arbiter's process id.

    One server for the module: the tests using it only send requests and read what it
    holds open, so they share it instead of each starting and stopping gunicorn; what its
    stop must show (a graceful exit on SIGTERM, nothing written beside the code or under
    $HOME) is checked when the last of them is done."""
    gunicorn_env = served_env
    app_dir = image_layout(Path(gunicorn_env["HOME"]).parent)
    before = snapshot(app_dir)
    process = subprocess.Popen(
        image_cmd(app_dir),
        cwd=app_dir,
        env=gunicorn_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    port = int(gunicorn_env["PORT"])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if http_get(port, "/health")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not start: {process.communicate()[0].decode()}")
            time.sleep(0.1)
        yield port, app_dir, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout:
            process.stdout.close()
    assert process.returncode == 0  # graceful stop on SIGTERM, as ECS stops tasks
    assert snapshot(app_dir) == before  # nothing written next to the code
    assert snapshot(Path(gunicorn_env["HOME"])) == set()  # no control socket under $HOME


@pytest.mark.subprocess
def test_image_command_serves_the_app(
    gunicorn_server: tuple[int, Path, int], served_env: dict[str, str]
) -> None:
    gunicorn_env = served_env
    port, _, _ = gunicorn_server
    assert http_get(port, "/health") == (200, {"status": "ok"})
    status, doc = http_get(port, "/forecast?horizon=14")
    assert status == 200 and doc["series"] == "demand" and len(doc["forecast"]) == 14
    assert http_get(port, "/forecast?series=x")[1]["parameter"] == "series"
    # While serving, nothing is written under $HOME (gunicorn's control socket is off).
    assert snapshot(Path(gunicorn_env["HOME"])) == set()


@pytest.mark.subprocess
def test_image_healthcheck_command(
    gunicorn_server: tuple[int, Path, int], served_env: dict[str, str]
) -> None:
    gunicorn_env = served_env
    (line,) = dockerfile_instruction("HEALTHCHECK")
    command = as_local_command(exec_form(line))
    assert subprocess.run(command, env=gunicorn_env, timeout=30).returncode == 0

    nothing_there = {**gunicorn_env, "PORT": str(free_port())}
    assert (
        subprocess.run(command, env=nothing_there, capture_output=True, timeout=30).returncode != 0
    )


def open_files(pid: int) -> list[str]:
    """What the process's file descriptors point at (Linux ``/proc``)."""
    targets = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            targets.append(os.readlink(fd))
        except FileNotFoundError:  # closed while listing
            continue
    return targets


@pytest.mark.subprocess
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads open files from Linux /proc")
def test_workers_heartbeat_files_live_in_the_temporary_directory(
    gunicorn_server: tuple[int, Path, int], served_env: dict[str, str]
) -> None:
    """gunicorn's arbiter creates each worker's heartbeat file in the temporary directory
    (``TMPDIR``; ``/tmp`` in the image) and keeps it open, unlinked: no worker starts unless
    the image's user can create files there. On Fargate that is the task's ``/tmp`` bind
    mount, writable for the user only because the image declares ``VOLUME /tmp`` owned by it
    (checked in test_images.py)."""
    gunicorn_env = served_env
    _, _, pid = gunicorn_server

    heartbeats = [target for target in open_files(pid) if "wgunicorn-" in target]

    assert len(heartbeats) == int(gunicorn_env["WEB_CONCURRENCY"])
    assert all(
        target.startswith(f"{gunicorn_env['TMPDIR']}/wgunicorn-") and target.endswith(" (deleted)")
        for target in heartbeats
    ), heartbeats


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("name", "value"),
    [("PORT", "http"), ("PORT", "70000"), ("WEB_CONCURRENCY", "0"), ("THREADS", "x")],
)
def test_image_command_rejects_bad_settings(
    tmp_path: Path, gunicorn_env: dict[str, str], name: str, value: str
) -> None:
    app_dir = image_layout(tmp_path)
    result = subprocess.run(
        image_cmd(app_dir),
        cwd=app_dir,
        env={**gunicorn_env, name: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"{name}={value!r} must be a whole number" in result.stdout + result.stderr


@pytest.mark.subprocess
def test_image_command_fails_on_a_bad_series_file(
    tmp_path: Path, gunicorn_env: dict[str, str]
) -> None:
    app_dir = image_layout(tmp_path)
    env = {**gunicorn_env, "FORECAST_SERIES_FILE": str(tmp_path / "missing.json")}
    result = subprocess.run(
        image_cmd(app_dir), cwd=app_dir, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "FORECAST_SERIES_FILE=" in result.stdout + result.stderr
