"""Stack files read as the Pulumi CLI reads them, and config keys in namespaces nothing reads.

The CLI parses ``Pulumi.<stack>.yaml`` with Go's gopkg.in/yaml.v3 (pulumi/pulumi
sdk/go/common/encoding/marshal.go) and hands each config value to the program as a string:
strings as written, everything else as Go's JSON (sdk/go/common/resource/config/object.go
``MarshalString``). The expected values below are what that reader and that encoding give
(go-yaml/yaml v3.0.1 resolve.go ``resolve``, decode.go ``mapping``); PyYAML, a YAML 1.1 reader,
gives another value for most of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks import delivery
from stacks.config import ConfigError, StackFileError, load_stack_file, parse_raw_config

ProjectWith = Callable[..., Path]


def flat(config: dict[str, Any]) -> dict[str, str]:
    """A config mapping as the Pulumi CLI hands it to the program."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def value_passed(project_with: ProjectWith, written: str) -> str:
    """What the program receives for ``mlops:x: <written>`` in a stack file."""
    flat, _ = load_stack_file(project_with(raw=f"config:\n  mlops:x: {written}\n"), "test")
    return flat["mlops:x"]


@pytest.mark.parametrize(
    ("written", "passed"),
    [
        ("19:00", "19:00"),  # no sexagesimal numbers (PyYAML: 1140)
        ("on", "on"),  # yes/no/on/off are strings (PyYAML: true)
        ("yes", "yes"),
        ("Off", "Off"),
        ("True", "true"),  # true/True/TRUE are booleans
        ("0755", "493"),  # YAML 1.1 octal, still decoded by v3 "for compatibility"
        ("0o17", "15"),  # YAML 1.2 octal (PyYAML: the string "0o17")
        ("0x1F", "31"),
        ("0b101", "5"),
        ("1_000", "1000"),  # v3 drops underscores before parsing a number
        ("1e3", "1000"),  # a float; Go's JSON writes 1000 (PyYAML: the string "1e3")
        ("1.50", "1.5"),
        (".5", "0.5"),
        ("+12", "12"),
        ("08", "8"),  # not octal, so parsed as the float 8
        ("99999999999999999999", "100000000000000000000"),  # too big for int64: a float
        ("1e999", "1e999"),  # out of range: v3 keeps the text
        ('"0755"', "0755"),  # quoted: a string, as written
        ("'19:00'", "19:00"),
        ("~", ""),  # an empty value reaches the program as "" (PyYAML path: "null")
        ("", ""),
        ("2024-01-01", "2024-01-01 00:00:00 +0000 UTC"),  # a Go time.Time, printed
        ("2024-1-2T03:04:05.120Z", "2024-01-02 03:04:05.12 +0000 UTC"),
        ("2024-01-01T10:00:00+02:00", "2024-01-01 10:00:00 +0200 +0200"),
        ("2024-01-01T10:00:00", "2024-01-01T10:00:00"),  # no zone: not a timestamp in v3
        ("2024-02-30", "2024-02-30"),  # no such day: a string
        ("{b: 1, a: [x, 2.0, null]}", '{"a":["x",2,null],"b":1}'),  # Go's JSON: keys sorted
        ("[on, 19:00]", '["on","19:00"]'),
    ],
)
def test_values_reach_the_program_as_the_pulumi_cli_passes_them(
    project_with: ProjectWith, written: str, passed: str
) -> None:
    assert value_passed(project_with, written) == passed


def test_the_real_stack_files_read_the_same_as_before() -> None:
    """Nothing in dev or prod depends on a YAML 1.1 reading (same values as PyYAML)."""
    import yaml

    from stacks.config.loader import read_pulumi_yaml
    from stacks.offline import PROJECT_DIR

    for stack in ("dev", "prod"):
        path = PROJECT_DIR / f"Pulumi.{stack}.yaml"
        assert read_pulumi_yaml(path) == yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("text", "line", "key", "first"),
    [
        ("config:\n  mlops:tags: {a: b}\n  mlops:env: dev\n  mlops:tags: {}\n", 4, "mlops:tags", 2),
        ("config:\n  mlops:network:\n    nat: single\n    nat: none\n", 4, "nat", 3),
        ('config:\n  mlops:x: 1\n  "mlops:x": 2\n', 3, "mlops:x", 2),  # compared as written
    ],
)
def test_a_key_written_twice_is_an_error_naming_file_line_and_key(
    project_with: ProjectWith, text: str, line: int, key: str, first: int
) -> None:
    with pytest.raises(StackFileError) as info:
        load_stack_file(project_with(raw=text), "test")
    assert str(info.value) == (
        f"Pulumi.test.yaml line {line}: key {key!r} is already defined at line {first} "
        "(the Pulumi CLI rejects a key written twice)"
    )


def test_every_duplicate_is_reported_at_once() -> None:
    from stacks.config.loader import parse_pulumi_yaml

    with pytest.raises(StackFileError) as info:
        parse_pulumi_yaml("a: 1\nb: 2\na: 3\nc: {x: 1, x: 2}\n", "f.yaml")
    assert str(info.value).splitlines() == [
        "f.yaml line 3: key 'a' is already defined at line 1 (the Pulumi CLI rejects a key "
        "written twice)",
        "f.yaml line 4: key 'x' is already defined at line 4 (the Pulumi CLI rejects a key "
        "written twice)",
    ]


def test_engine_commands_read_stack_files_the_same_way(tmp_path: Path) -> None:
    """preview/up/destroy's guards: a duplicate is an error and `yes` is not a boolean, so
    `mlops:ephemeral: yes` never lets destroy run (PyYAML read it as true)."""
    (tmp_path / "Pulumi.yaml").write_text("name: mlops-platform\nruntime: python\n")
    (tmp_path / "Pulumi.dup.yaml").write_text("config:\n  a:b: 1\n  a:b: 2\n")
    with pytest.raises(delivery.DeliveryError, match="line 3: key 'a:b' is already defined"):
        delivery.read_stack_document(tmp_path, "dup")
    (tmp_path / "Pulumi.yes.yaml").write_text("config:\n  mlops:ephemeral: yes\n")
    with pytest.raises(delivery.DeliveryError, match="must be the YAML boolean true"):
        delivery.destroy_refusal(tmp_path, "yes")


def test_anchors_merges_and_keys() -> None:
    from stacks.config.loader import parse_pulumi_yaml

    doc = parse_pulumi_yaml(
        "base: &b {x: 1, y: 2}\nmerged:\n  <<: *b\n  y: 3\nquoted: {'<<': 1, '1': one}\n", "f"
    )
    assert doc["merged"] == {"x": 1, "y": 3}  # the mapping's own keys win over merged ones
    assert doc["quoted"] == {"<<": 1, "1": "one"}  # quoted: plain string keys
    with pytest.raises(StackFileError, match="f line 1: key 1 is read as a number"):
        parse_pulumi_yaml("1: one\n", "f")  # the CLI accepts string keys only
    with pytest.raises(StackFileError, match="refers to a node that holds it"):
        parse_pulumi_yaml("a: &x [*x]\n", "f")
    with pytest.raises(StackFileError, match=r"f is not valid YAML: .*\(line 2, column 1\)"):
        parse_pulumi_yaml("a: [1\n", "f")
    assert parse_pulumi_yaml("", "f") is None
    assert parse_pulumi_yaml("a: 1\n---\nb: [\n", "f") == {"a": 1}  # the first document only


def test_values_go_cannot_encode_are_refused(project_with: ProjectWith) -> None:
    from stacks.config.loader import cli_config_value

    with pytest.raises(StackFileError, match=r"Pulumi.test.yaml: mlops:x: inf is not a number"):
        value_passed(project_with, ".inf")
    assert cli_config_value(1e-7) == "1e-7" and cli_config_value(0.00001) == "0.00001"
    assert cli_config_value("<a&b>") == "<a&b>"  # top-level strings pass as written
    assert cli_config_value(["<a&b>"]) == '["\\u003ca\\u0026b\\u003e"]'  # Go escapes HTML


def test_the_old_config_key_spelling_is_the_same_key(project_with: ProjectWith) -> None:
    flat, _ = load_stack_file(project_with(raw="config:\n  mlops:config:x: 1\n"), "test")
    assert flat == {"mlops:x": "1"}
    with pytest.raises(StackFileError, match="sets mlops:x a second time"):
        load_stack_file(project_with(raw="config:\n  mlops:x: 1\n  mlops:config:x: 2\n"), "test")
    with pytest.raises(StackFileError, match="has more than one ':'"):
        load_stack_file(project_with(raw="config:\n  mlops:a:b: 1\n"), "test")


# Namespaces ---------------------------------------------------------------------------------


def test_provider_namespaces_come_from_the_installed_provider_packages() -> None:
    from stacks.config.loader import provider_namespaces

    assert {"aws", "awsx"} <= set(provider_namespaces())
    assert "policy" not in provider_namespaces()  # pulumi_policy is not a resource provider


@pytest.mark.parametrize(
    ("key", "meant"),
    [("mlop:tags", "mlops:tags"), ("mlsop:regions", "mlops:regions"), ("aw:region", "aws:region")],
)
def test_a_key_in_a_namespace_nothing_reads_is_a_typo(
    stack_config: Callable[[str], dict], key: str, meant: str
) -> None:
    config = stack_config("dev")
    config[key] = "x"
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    [problem] = [p for p in info.value.problems if p.startswith(key)]
    assert problem.startswith(f"{key}: unknown namespace {key.split(':')[0]!r} (known: mlops, ")
    assert problem.endswith(f"; did you mean {meant}?")


def test_provider_and_pulumi_keys_are_not_typos(stack_config: Callable[[str], dict]) -> None:
    config = stack_config("dev")
    config |= {"aws:region": "eu-west-1", "awsx:x": "1", "pulumi:tags": "{}"}
    parse_raw_config(flat(config))


def test_the_project_namespace_is_explained(stack_config: Callable[[str], dict]) -> None:
    """What the CLI makes of a key written without a namespace in the running program."""
    config = stack_config("dev")
    config["mlops-platform:tags"] = {"team": "x"}
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config), project="mlops-platform")
    assert info.value.problems[0] == (
        "mlops-platform:tags: 'mlops-platform' is the project's name, the namespace the Pulumi "
        "CLI gives a key written without one; this program reads mlops: keys; did you mean "
        "mlops:tags?"
    )


def test_a_key_without_a_namespace_in_a_stack_file(project_with: ProjectWith) -> None:
    root = project_with(raw="config:\n  environment: dev\n")
    with pytest.raises(StackFileError) as info:
        load_stack_file(root, "test")
    assert str(info.value) == (
        "Pulumi.test.yaml: config key 'environment' has no namespace: the Pulumi CLI reads it "
        "as mlops-platform:environment (a key without a namespace gets the project's name), "
        "which this program does not read; did you mean mlops:environment?"
    )


# The project folder ---------------------------------------------------------------------------


def test_project_dir_problems(tmp_path: Path) -> None:
    from stacks.config.loader import project_dir_problem

    assert project_dir_problem(tmp_path / "missing") == f"{tmp_path / 'missing'}: no such folder"
    (tmp_path / "file").write_text("")
    assert project_dir_problem(tmp_path / "file") == f"{tmp_path / 'file'} is not a folder"
    assert project_dir_problem(tmp_path).startswith(f"{tmp_path} has no Pulumi.yaml: give")
    (tmp_path / "Pulumi.yaml").write_text("name: p\n")
    assert project_dir_problem(tmp_path) is None
    with pytest.raises(StackFileError, match="no such folder"):
        load_stack_file(tmp_path / "missing", "dev")


@pytest.mark.parametrize("operation", ["preview", "up", "refresh", "destroy", "sweep"])
def test_engine_commands_name_a_bad_project_dir(
    tmp_path: Path, operation: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing"
    assert delivery.main([operation, "dev", "--project-dir", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"{missing.resolve()}: no such folder" in err and len(err.splitlines()) == 1
    if operation != "sweep":  # the sweep reads only the stack file
        (tmp_path / "Pulumi.dev.yaml").write_text("config: {}\n")
        assert delivery.main([operation, "dev", "--project-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"--project-dir {tmp_path.resolve()} has no Pulumi.yaml")
        assert len(err.splitlines()) == 1
