"""StartupScripts: cloud-init multipart user data with first-boot and every-boot scripts.

The rendered user data is parsed back with the standard ``email`` package, checked with the
tools made for it (``cloud-init schema``, cloud-init's own user-data parser, ``bash -n``) and
its generated scripts are run with bash where that is safe.
"""

from __future__ import annotations

import email
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.compute import (
    AGENT_START_SCRIPT,
    CLOUDWATCH_AGENT_CONFIG_PATH,
    DEFAULT_METRICS_NAMESPACE,
    DIMENSION_AUTO_SCALING_GROUP,
    DIMENSION_INSTANCE_ID,
    DIMENSION_INSTANCE_TYPE,
    EFS_MOUNT_SCRIPT,
    EVERY_BOOT_HOOK_PATH,
    EVERY_BOOT_SCRIPTS_DIR,
    FIRST_BOOT_DONE_MARKER,
    FIRST_BOOT_FINISH_SCRIPT,
    METRIC_CPU_USAGE_ACTIVE,
    METRIC_DISK_USED_PERCENT,
    METRIC_MEM_USED_PERCENT,
    PER_BOOT_SCRIPTS_DIR,
    SCRIPT_HEADER,
    USER_DATA_MAX_BYTES,
    CloudWatchAgentConfig,
    EfsMount,
    Script,
    StartupScripts,
    cloudwatch_agent_config,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
CLOUD_INIT = shutil.which("cloud-init")
BASH = shutil.which("bash")
needs_cloud_init = pytest.mark.skipif(
    CLOUD_INIT is None, reason="the cloud-init executable is not installed (CI installs it)"
)
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")

EFS = EfsMount(
    file_system_id="fs-0123456789abcdef0",
    access_point_id="fsap-0fedcba9876543210",
    mount_path="/mnt/shared",
    region="eu-west-1",
)
FSTAB_LINE = (
    "fs-0123456789abcdef0:/ /mnt/shared efs _netdev,nofail,noresvport,tls,iam,"
    "region=eu-west-1,accesspoint=fsap-0fedcba9876543210 0 0\n"
)


def full_scripts() -> StartupScripts:
    """Every feature at once: two first-boot scripts, two every-boot scripts, agent, EFS."""
    return StartupScripts(
        first_boot=[
            Script("install-tools", "dnf install -y git python3-pip\npip3 install jupyterlab\n"),
            Script("create-user", "useradd --create-home analyst || true"),
        ],
        every_boot=[
            Script("refresh-motd", 'echo "booted at $(date -u)" > /etc/motd\n'),
            Script("start-jupyter", "systemctl restart jupyter.service\n"),
        ],
        cloudwatch_agent=CloudWatchAgentConfig(log_group_name="/mlops/dev/instances"),
        efs_mount=EFS,
    )


# -- parsing helpers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    content_type: str
    filename: str | None
    text: str


def parse(user_data: str) -> list[Part]:
    """The leaf parts of the multipart user data, decoded to text."""
    message = email.message_from_string(user_data)
    assert message.get_content_type() == "multipart/mixed"
    parts = []
    for leaf in message.walk():
        if leaf.is_multipart():
            continue
        parts.append(Part(leaf.get_content_type(), leaf.get_filename(), _text(leaf)))
    return parts


def _text(leaf: Message) -> str:
    payload = leaf.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(leaf.get_content_charset() or "us-ascii")


def cloud_config_text(user_data: str) -> str:
    first = parse(user_data)[0]
    assert first.content_type == "text/cloud-config"
    return first.text


def cloud_config(user_data: str) -> dict[str, Any]:
    text = cloud_config_text(user_data)
    assert text.startswith("#cloud-config\n")
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def shell_parts(user_data: str) -> list[Part]:
    return [p for p in parse(user_data) if p.content_type == "text/x-shellscript"]


def written_files(user_data: str) -> list[dict[str, Any]]:
    return list(cloud_config(user_data).get("write_files", []))


def per_boot_files(user_data: str) -> list[dict[str, Any]]:
    """Files cloud-init itself runs at every boot (the hook, nothing else)."""
    return [f for f in written_files(user_data) if f["path"].startswith(PER_BOOT_SCRIPTS_DIR + "/")]


def every_boot_files(user_data: str) -> list[dict[str, Any]]:
    """The every-boot scripts (run by the hook only)."""
    return [
        f for f in written_files(user_data) if f["path"].startswith(EVERY_BOOT_SCRIPTS_DIR + "/")
    ]


def all_scripts(user_data: str) -> dict[str, str]:
    """Every script the user data installs, by name: first-boot parts and executable files."""
    scripts = {p.filename or "": p.text for p in shell_parts(user_data)}
    scripts.update(
        {f["path"]: f["content"] for f in written_files(user_data) if f["permissions"] == "0755"}
    )
    return scripts


# -- structure ------------------------------------------------------------------------------


def test_user_data_is_a_cloud_config_part_then_one_shell_part_per_first_boot_script() -> None:
    parts = parse(full_scripts().render())

    assert [(p.content_type, p.filename) for p in parts] == [
        ("text/cloud-config", "cloud-config.yaml"),
        ("text/x-shellscript", AGENT_START_SCRIPT),
        ("text/x-shellscript", EFS_MOUNT_SCRIPT),
        ("text/x-shellscript", "01-install-tools"),
        ("text/x-shellscript", "02-create-user"),
        ("text/x-shellscript", FIRST_BOOT_FINISH_SCRIPT),
    ]


def test_first_boot_scripts_run_once_as_shell_parts_in_the_given_order() -> None:
    user_data = full_scripts().render()
    shells = shell_parts(user_data)

    install = "dnf install -y git python3-pip\npip3 install jupyterlab\n"
    assert shells[2].text == SCRIPT_HEADER + install
    assert shells[3].text == SCRIPT_HEADER + "useradd --create-home analyst || true\n"
    # cloud-init runs x-shellscript parts in file-name order (code points): the names keep
    # the list order, and the finishing part sorts last.
    names = [p.filename for p in shells]
    assert names == sorted(names)
    assert names[-1] == FIRST_BOOT_FINISH_SCRIPT
    # A first-boot script is not also installed as a file.
    assert not any("useradd" in f["content"] for f in written_files(user_data))


def test_every_boot_scripts_are_executable_files_run_by_one_per_boot_hook() -> None:
    user_data = full_scripts().render()
    files = every_boot_files(user_data)

    assert [f["path"] for f in files] == [
        f"{EVERY_BOOT_SCRIPTS_DIR}/{EFS_MOUNT_SCRIPT}",
        f"{EVERY_BOOT_SCRIPTS_DIR}/01-refresh-motd",
        f"{EVERY_BOOT_SCRIPTS_DIR}/02-start-jupyter",
    ]
    assert all(f["permissions"] == "0755" and f["owner"] == "root:root" for f in files)
    assert files[1]["content"] == SCRIPT_HEADER + 'echo "booted at $(date -u)" > /etc/motd\n'
    assert files[2]["content"] == SCRIPT_HEADER + "systemctl restart jupyter.service\n"
    # cloud-init runs only the hook by itself; the hook names the scripts in order.
    [hook] = per_boot_files(user_data)
    assert PER_BOOT_SCRIPTS_DIR == "/var/lib/cloud/scripts/per-boot"
    assert hook["path"] == EVERY_BOOT_HOOK_PATH and hook["permissions"] == "0755"
    assert f"for name in {EFS_MOUNT_SCRIPT} 01-refresh-motd 02-start-jupyter; do" in hook["content"]
    assert f"[ ! -e {FIRST_BOOT_DONE_MARKER} ]" in hook["content"]
    # Not also a first-boot part.
    assert not any("jupyter.service" in p.text for p in shell_parts(user_data))


def test_last_first_boot_part_runs_the_every_boot_scripts_then_writes_the_marker() -> None:
    finish = shell_parts(full_scripts().render())[-1]

    assert finish.filename == FIRST_BOOT_FINISH_SCRIPT
    lines = finish.text.splitlines()
    run = lines.index(f"{EVERY_BOOT_HOOK_PATH} --first-boot || status=$?")
    mark = lines.index(f"touch {FIRST_BOOT_DONE_MARKER}")
    assert run < mark
    assert lines[-1] == 'exit "$status"'
    # The marker is per instance: cloud-init's instance directory.
    assert FIRST_BOOT_DONE_MARKER.startswith("/var/lib/cloud/instance/")


def test_without_every_boot_work_there_is_no_hook_and_no_finishing_part() -> None:
    user_data = StartupScripts(first_boot=[Script("a", "true")]).render()

    assert per_boot_files(user_data) == every_boot_files(user_data) == []
    assert [p.filename for p in shell_parts(user_data)] == ["01-a"]


def test_every_rendered_script_starts_with_bash_and_strict_mode() -> None:
    scripts = all_scripts(full_scripts().render())

    # 5 first-boot parts, 3 every-boot scripts, the per-boot hook.
    assert len(scripts) == 9
    for name, text in scripts.items():
        assert text.startswith("#!/bin/bash\nset -euo pipefail\n"), name
        assert text.endswith("\n"), name


def test_efs_is_written_to_fstab_once_and_mounted_at_every_boot() -> None:
    user_data = full_scripts().render()
    document = cloud_config(user_data)

    assert "amazon-efs-utils" in document["packages"]
    fstab = [f for f in document["write_files"] if f["path"] == "/etc/fstab"]
    assert fstab == [
        {
            "path": "/etc/fstab",
            "owner": "root:root",
            "permissions": "0644",
            "content": FSTAB_LINE,
            "append": True,
        }
    ]
    # write_files runs once per instance; the line exists nowhere else, so no script
    # (every-boot or first-boot) appends it again.
    everything = "".join(p.text for p in parse(user_data))
    assert everything.count("fs-0123456789abcdef0:/") == 1
    mount = every_boot_files(user_data)[0]
    assert mount["path"].endswith("/" + EFS_MOUNT_SCRIPT)
    assert "mount /mnt/shared" in mount["content"]
    assert "mkdir -p /mnt/shared" in mount["content"]
    assert "fstab" not in mount["content"].replace("/etc/fstab entry", "")
    # On the first boot it is also run before the first-boot scripts, so they can use it.
    first_mount = shell_parts(user_data)[1]
    assert first_mount.filename == EFS_MOUNT_SCRIPT
    assert first_mount.text.endswith(f"exec {mount['path']}\n")


def test_without_efs_there_is_no_fstab_entry_package_or_mount() -> None:
    user_data = StartupScripts(first_boot=[Script("a", "true")]).render()
    text = cloud_config_text(user_data)

    assert "fstab" not in text
    assert "amazon-efs-utils" not in text
    assert every_boot_files(user_data) == []
    assert EFS_MOUNT_SCRIPT not in user_data


@needs_bash
@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("mounted", "failures", "expected_rc", "expected_mounts"),
    [(True, 0, 0, 0), (False, 0, 0, 1), (False, 2, 0, 3), (False, 10, 1, 5)],
    ids=["already-mounted", "mounts-at-once", "retries-then-mounts", "gives-up-and-fails"],
)
def test_efs_mount_script_retries_and_fails_loudly(
    tmp_path: Path, mounted: bool, failures: int, expected_rc: int, expected_mounts: int
) -> None:
    """The generated every-boot mount script, run with stand-in mount tools on PATH."""
    script = tmp_path / "mount.sh"
    script.write_text(EFS.mount_script().rendered())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "mount-calls"
    stubs = {
        "mkdir": 'echo "mkdir $*" >> "$LOG"',
        "mountpoint": f'echo "mountpoint $*" >> "$LOG"; exit {0 if mounted else 1}',
        "sleep": "exit 0",
        "mount": (
            f'echo "mount $*" >> "$LOG"; echo x >> {calls}; [ "$(wc -l < {calls})" -gt {failures} ]'
        ),
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "log"
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "LOG": str(log)}

    result = subprocess.run([BASH, str(script)], env=env, capture_output=True, text=True)

    assert result.returncode == expected_rc, result.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "mkdir -p /mnt/shared"
    checks = ["mountpoint -q /mnt/shared"]
    assert lines[1:] == (checks if mounted else []) + [
        line for _ in range(expected_mounts) for line in checks + ["mount /mnt/shared"]
    ]
    if expected_rc:
        assert "could not mount /mnt/shared after 5 attempts" in result.stderr


# -- boot order, simulated ---------------------------------------------------------------------
#
# A small stand-in for cloud-init's final stage, run in a temporary root: the user data's
# files are written (``write_files``, once per instance), the x-shellscript parts are stored
# in the instance's script directory, then each boot runs ``scripts-per-boot`` (every boot)
# before ``scripts-user`` (first boot only), both in code-point name order and continuing
# after a failure, as ``cloudinit.subp.runparts`` does. Absolute paths the scripts use under
# /var/lib/cloud and /etc/mlops are moved into the temporary root; mount tools are stubs.


class SimulatedInstance:
    """One instance of an image, booted with the given user data in ``root``."""

    def __init__(self, root: Path, user_data: str, instance_id: str) -> None:
        self.root = root
        self.user_data = user_data
        self.instance_id = instance_id
        self.boots = 0
        self.log = root / "boot.log"
        self.bin = root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        stubs = {
            "mkdir": "exit 0",
            "sleep": "exit 0",
            "mountpoint": f'[ -e "{root}/mounted" ]',
            "mount": f'echo "mount $*" >> "{self.log}"; touch "{root}/mounted"',
        }
        for name, body in stubs.items():
            (self.bin / name).write_text(f"#!/bin/bash\n{body}\n")
            (self.bin / name).chmod(0o755)

    def rooted(self, text: str) -> str:
        for prefix in ("/var/lib/cloud/", "/etc/mlops/"):
            text = text.replace(prefix, f"{self.root}{prefix}")
        return text

    def _install(self) -> None:
        """What cloud-init does once per instance before the final stage."""
        instance_dir = self.root / "var/lib/cloud/instances" / self.instance_id
        (instance_dir / "scripts").mkdir(parents=True)
        link = self.root / "var/lib/cloud/instance"
        if link.is_symlink():
            link.unlink()
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(instance_dir)
        for entry in written_files(self.user_data):
            if entry["path"] == "/etc/fstab" or entry["permissions"] != "0755":
                continue
            target = Path(self.rooted(entry["path"]))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(self.rooted(entry["content"]))
            target.chmod(0o755)
        for part in shell_parts(self.user_data):
            script = instance_dir / "scripts" / (part.filename or "part")
            script.write_text(self.rooted(part.text))
            script.chmod(0o700)

    def _run_parts(self, directory: Path) -> list[str]:
        failed = []
        if directory.is_dir():
            for name in sorted(os.listdir(directory)):
                env = {"PATH": f"{self.bin}:{os.environ['PATH']}", "BOOT_LOG": str(self.log)}
                result = subprocess.run([str(directory / name)], env=env, capture_output=True)
                if result.returncode:
                    failed.append(name)
        return failed

    def boot(self) -> tuple[list[str], list[str]]:
        """One boot: the log lines it wrote and the scripts cloud-init saw fail."""
        first = self.boots == 0
        self.boots += 1
        (self.root / "mounted").unlink(missing_ok=True)  # a reboot unmounts everything
        self.log.write_text("")
        if first:
            self._install()
        failed = self._run_parts(self.root / "var/lib/cloud/scripts/per-boot")
        if first:
            failed += self._run_parts(self.root / "var/lib/cloud/instance/scripts")
        return self.log.read_text().splitlines(), failed


def _logging(name: str, extra: str = "") -> Script:
    return Script(name, f'echo "{name}" >> "$BOOT_LOG"\n{extra}')


def ordered_scripts(**fields: Any) -> StartupScripts:
    return StartupScripts(
        first_boot=[_logging("first-a"), _logging("first-b")],
        every_boot=[_logging("every-a"), _logging("every-b")],
        **fields,
    )


@needs_bash
@pytest.mark.subprocess
def test_first_boot_runs_first_boot_work_then_every_boot_work_and_later_boots_every_boot_only(
    tmp_path: Path,
) -> None:
    instance = SimulatedInstance(tmp_path, ordered_scripts(efs_mount=EFS).render(), "i-1")

    first = instance.boot()
    assert first == (
        ["mount /mnt/shared", "first-a", "first-b", "every-a", "every-b"],
        [],
    )
    assert (tmp_path / "var/lib/cloud/instances/i-1/mlops-first-boot-done").exists()
    for _ in range(2):
        assert instance.boot() == (["mount /mnt/shared", "every-a", "every-b"], [])


@needs_bash
@pytest.mark.subprocess
def test_an_every_boot_script_can_rely_on_first_boot_work(tmp_path: Path) -> None:
    marker = f"{tmp_path}/state/prepared"
    scripts = StartupScripts(
        first_boot=[Script("prepare", f"mkdir -p {tmp_path}/state\ntouch {marker}")],
        every_boot=[Script("use", f'test -e {marker}\necho used >> "$BOOT_LOG"')],
    )
    instance = SimulatedInstance(tmp_path, scripts.render(), "i-1")
    # mkdir is stubbed for the mount script; this test needs the real one.
    (instance.bin / "mkdir").unlink()

    assert instance.boot() == (["used"], [])
    assert instance.boot() == (["used"], [])


@needs_bash
@pytest.mark.subprocess
def test_a_new_instance_from_an_image_of_an_old_one_starts_with_a_first_boot(
    tmp_path: Path,
) -> None:
    """The per-boot hook survives in the image; the marker is per instance, so it does not."""
    user_data = ordered_scripts().render()
    old = SimulatedInstance(tmp_path, user_data, "i-old")
    old.boot()
    old.boot()
    new = SimulatedInstance(tmp_path, user_data, "i-new")

    assert new.boot() == (["first-a", "first-b", "every-a", "every-b"], [])
    assert new.boot() == (["every-a", "every-b"], [])


@needs_bash
@pytest.mark.subprocess
def test_a_failed_first_boot_script_still_leads_to_every_boot_work_on_every_boot(
    tmp_path: Path,
) -> None:
    scripts = StartupScripts(
        first_boot=[_logging("first-a", "exit 3"), _logging("first-b")],
        every_boot=[_logging("every-a")],
    )
    instance = SimulatedInstance(tmp_path, scripts.render(), "i-1")

    assert instance.boot() == (["first-a", "first-b", "every-a"], ["01-first-a"])
    assert instance.boot() == (["every-a"], [])


@needs_bash
@pytest.mark.subprocess
def test_a_failed_every_boot_script_is_reported_and_does_not_stop_the_others(
    tmp_path: Path,
) -> None:
    scripts = StartupScripts(
        first_boot=[_logging("first-a")],
        every_boot=[_logging("every-a", "false"), _logging("every-b")],
    )
    instance = SimulatedInstance(tmp_path, scripts.render(), "i-1")

    # First boot: the finishing part fails (so cloud-init reports it) but marks the boot done.
    assert instance.boot() == (["first-a", "every-a", "every-b"], [FIRST_BOOT_FINISH_SCRIPT])
    assert instance.boot() == (["every-a", "every-b"], ["mlops-every-boot"])


@needs_bash
@pytest.mark.subprocess
@pytest.mark.parametrize(
    "content",
    ["false\necho reached", "false | true\necho reached", 'echo "$UNSET_VARIABLE"\necho reached'],
    ids=["errexit", "pipefail", "nounset"],
)
def test_rendered_scripts_stop_at_the_first_failure(tmp_path: Path, content: str) -> None:
    user_data = StartupScripts(first_boot=[Script("strict", content)]).render()
    script = tmp_path / "strict.sh"
    script.write_text(shell_parts(user_data)[0].text)

    result = subprocess.run([BASH, str(script)], capture_output=True, text=True, env={})

    assert result.returncode != 0
    assert "reached" not in result.stdout


# -- CloudWatch agent ------------------------------------------------------------------------


def test_metric_names_are_the_names_the_agent_publishes() -> None:
    # The agent publishes "<plugin>_<measurement>": disk's used_percent is disk_used_percent.
    assert METRIC_CPU_USAGE_ACTIVE == "cpu_usage_active"
    assert METRIC_MEM_USED_PERCENT == "mem_used_percent"
    assert METRIC_DISK_USED_PERCENT == "disk_used_percent"
    assert DIMENSION_AUTO_SCALING_GROUP == "AutoScalingGroupName"


def test_agent_config_collects_cpu_memory_and_disk_per_instance_and_per_group() -> None:
    config = cloudwatch_agent_config()
    metrics = config["metrics"]
    collected = metrics["metrics_collected"]

    assert metrics["namespace"] == DEFAULT_METRICS_NAMESPACE == "MLOps/Instances"
    assert collected["cpu"]["totalcpu"] is True
    assert METRIC_CPU_USAGE_ACTIVE in collected["cpu"]["measurement"]
    assert collected["mem"]["measurement"] == [METRIC_MEM_USED_PERCENT]
    assert collected["disk"]["measurement"] == [METRIC_DISK_USED_PERCENT]
    assert collected["disk"]["resources"] == ["*"]
    assert "nfs4" in collected["disk"]["ignore_file_system_types"]
    assert metrics["append_dimensions"] == {
        DIMENSION_AUTO_SCALING_GROUP: "${aws:AutoScalingGroupName}",
        DIMENSION_INSTANCE_ID: "${aws:InstanceId}",
        DIMENSION_INSTANCE_TYPE: "${aws:InstanceType}",
    }
    assert metrics["aggregation_dimensions"] == [[DIMENSION_AUTO_SCALING_GROUP]]
    assert config["agent"]["metrics_collection_interval"] == 60
    assert "logs" not in config
    # Each measurement is "<section>_<name>", so the published names are the constants.
    for section, settings_ in collected.items():
        assert all(m.startswith(section + "_") for m in settings_["measurement"])


def test_agent_config_takes_namespace_interval_mount_points_and_log_group() -> None:
    config = cloudwatch_agent_config(
        CloudWatchAgentConfig(
            namespace="Team/Pool",
            collection_interval_seconds=10,
            disk_mount_points=["/", "/data"],
            log_group_name="/mlops/prod/pool",
        )
    )

    assert config["metrics"]["namespace"] == "Team/Pool"
    assert config["agent"]["metrics_collection_interval"] == 10
    assert config["metrics"]["metrics_collected"]["disk"]["resources"] == ["/", "/data"]
    files = config["logs"]["logs_collected"]["files"]["collect_list"]
    assert {f["file_path"] for f in files} >= {"/var/log/cloud-init-output.log"}
    assert all(f["log_group_name"] == "/mlops/prod/pool" for f in files)
    assert all(f["log_stream_name"].startswith("{instance_id}/") for f in files)


def test_agent_is_installed_configured_and_started_on_first_boot() -> None:
    user_data = full_scripts().render()
    document = cloud_config(user_data)

    assert "amazon-cloudwatch-agent" in document["packages"]
    [agent_file] = [f for f in document["write_files"] if f["path"] == CLOUDWATCH_AGENT_CONFIG_PATH]
    written = json.loads(agent_file["content"])
    assert written == cloudwatch_agent_config(
        CloudWatchAgentConfig(log_group_name="/mlops/dev/instances")
    )
    start = shell_parts(user_data)[0]
    assert start.filename == AGENT_START_SCRIPT
    assert "amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s" in start.text
    assert f"file:{CLOUDWATCH_AGENT_CONFIG_PATH}" in start.text


def test_without_agent_nothing_about_it_is_rendered() -> None:
    user_data = StartupScripts(every_boot=[Script("a", "true")]).render()

    assert "cloudwatch" not in user_data.lower()
    assert [p.filename for p in shell_parts(user_data)] == [FIRST_BOOT_FINISH_SCRIPT]


# -- determinism and size --------------------------------------------------------------------


def test_equal_inputs_render_identical_bytes() -> None:
    first, second = full_scripts().render(), full_scripts().render()

    assert first == second
    assert full_scripts().render() != StartupScripts(first_boot=[Script("a", "true")]).render()


@pytest.mark.subprocess
def test_rendering_does_not_depend_on_the_process(tmp_path: Path) -> None:
    """Other hash seeds (set and dict order) in fresh interpreters give the same bytes."""
    program = (
        "import hashlib, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_startup_scripts import full_scripts\n"
        "print(hashlib.sha256(full_scripts().render().encode()).hexdigest())\n"
    )
    expected = hashlib.sha256(full_scripts().render().encode()).hexdigest()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(PROJECT_DIR)}
        result = subprocess.run(
            [sys.executable, "-c", program], env=env, capture_output=True, text=True, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected


def test_render_base64_is_the_user_data_encoded() -> None:
    import base64

    scripts = full_scripts()

    assert base64.b64decode(scripts.render_base64()).decode() == scripts.render()


def _size_with_one_script_of(length: int) -> int:
    return len(StartupScripts(first_boot=[Script("big", "x" * length)]).render().encode())


def test_user_data_up_to_16384_bytes_is_accepted_and_one_byte_more_is_not() -> None:
    fitting = 1 + USER_DATA_MAX_BYTES - _size_with_one_script_of(1)
    assert _size_with_one_script_of(fitting) == USER_DATA_MAX_BYTES == 16384

    with pytest.raises(ValueError) as error:
        StartupScripts(first_boot=[Script("big", "x" * (fitting + 1))])

    message = str(error.value)
    assert f"renders to {USER_DATA_MAX_BYTES + 1} bytes" in message
    assert "at most 16384 bytes" in message
    assert "first_boot[0] 'big'" in message


def test_size_error_names_the_largest_scripts() -> None:
    with pytest.raises(ValueError) as error:
        StartupScripts(
            first_boot=[Script("small", "true")],
            every_boot=[Script("small", "true"), Script("huge", "echo " + "y" * 20000)],
        )

    assert "every_boot[1] 'huge' (20005 bytes)" in str(error.value)


# -- bad input ---------------------------------------------------------------------------------

GOOD = Script("ok", "true")


def _agent(**fields: Any) -> dict[str, Any]:
    return {"cloudwatch_agent": CloudWatchAgentConfig(**fields)}


def _efs(**fields: Any) -> dict[str, Any]:
    values = {
        "file_system_id": EFS.file_system_id,
        "access_point_id": EFS.access_point_id,
        "mount_path": EFS.mount_path,
        "region": EFS.region,
        **fields,
    }
    return {"efs_mount": EfsMount(**values)}


def _first(*scripts: Any) -> dict[str, Any]:
    return {"first_boot": list(scripts)}


def _every(*scripts: Any) -> dict[str, Any]:
    return {"every_boot": list(scripts)}


BAD_INPUTS = {
    "name-with-space": (_first(GOOD, Script("a b", "true")), "first_boot[1].name: 'a b'"),
    "name-empty": (_first(Script("", "true")), "first_boot[0].name: ''"),
    "name-with-slash": (_every(Script("../etc/x", "true")), "every_boot[0].name: '../etc/x'"),
    "name-hidden": (_every(Script(".profile", "true")), "every_boot[0].name: '.profile'"),
    "name-too-long": (_first(Script("a" * 65, "true")), "first_boot[0].name: 'aaaa"),
    "name-not-text": (_first(Script(7, "true")), "first_boot[0].name: 7"),
    "name-duplicate": (
        _every(Script("same", "true"), Script("same", "false")),
        "every_boot[1].name: 'same' is already used by every_boot[0]",
    ),
    "content-empty": (_first(Script("a", "")), "first_boot[0].content: is empty"),
    "content-blank": (_first(Script("a", "  \n\t\n")), "first_boot[0].content: is empty"),
    "content-shebang": (
        _first(Script("a", "#!/bin/sh\necho hi")),
        "first_boot[0].content: starts with a '#!' line",
    ),
    "content-crlf": (
        _every(Script("a", "echo hi\r\necho there\r\n")),
        "every_boot[0].content: contains control character U+000D on line 1 (Windows line",
    ),
    "content-nul": (
        _first(Script("a", "echo\x00")),
        "first_boot[0].content: contains control character U+0000",
    ),
    "content-line-separator": (
        _every(Script("a", "echo a\u2028b")),
        "every_boot[0].content: contains control character U+2028",
    ),
    "content-bytes": (_first(Script("a", b"true")), "first_boot[0].content: must be text"),
    "content-surrogate": (
        _first(Script("a", "echo \udc80")),
        "first_boot[0].content: is not valid Unicode",
    ),
    "list-is-a-string": ({"first_boot": "echo hi"}, "first_boot: must be a list of Script"),
    "list-item-not-script": (
        _every({"name": "a", "content": "true"}),
        "every_boot[0]: must be a Script",
    ),
    "too-many-scripts": (
        _first(*(Script(f"s{i}", "true") for i in range(100))),
        "first_boot: has 100 scripts; at most 99",
    ),
    "agent-not-config": (
        {"cloudwatch_agent": {"namespace": "x"}},
        "cloudwatch_agent: must be a CloudWatchAgentConfig",
    ),
    "namespace-reserved": (
        _agent(namespace="AWS/EC2"),
        "cloudwatch_agent.namespace: 'AWS/EC2' starts with 'AWS/'",
    ),
    "namespace-empty": (
        _agent(namespace=""),
        "cloudwatch_agent.namespace: '' is not a CloudWatch namespace",
    ),
    "namespace-bad-characters": (_agent(namespace="a$b"), "cloudwatch_agent.namespace: 'a$b'"),
    "interval-zero": (
        _agent(collection_interval_seconds=0),
        "cloudwatch_agent.collection_interval_seconds: 0 ",
    ),
    "interval-not-minutes": (
        _agent(collection_interval_seconds=45),
        "cloudwatch_agent.collection_interval_seconds: 45 ",
    ),
    "interval-too-long": (
        _agent(collection_interval_seconds=172860),
        "cloudwatch_agent.collection_interval_seconds: 172860 ",
    ),
    "interval-bool": (
        _agent(collection_interval_seconds=True),
        "cloudwatch_agent.collection_interval_seconds: True ",
    ),
    "mount-points-string": (
        _agent(disk_mount_points="*"),
        "cloudwatch_agent.disk_mount_points: must be a list",
    ),
    "mount-points-empty": (
        _agent(disk_mount_points=[]),
        "cloudwatch_agent.disk_mount_points: is empty",
    ),
    "mount-points-star-and-path": (
        _agent(disk_mount_points=["*", "/"]),
        "cloudwatch_agent.disk_mount_points: '*' already means",
    ),
    "mount-point-relative": (
        _agent(disk_mount_points=["/", "data"]),
        "cloudwatch_agent.disk_mount_points[1]: 'data'",
    ),
    "mount-point-twice": (
        _agent(disk_mount_points=["/", "/"]),
        "cloudwatch_agent.disk_mount_points[1]: '/' is listed twice",
    ),
    "log-group-bad": (
        _agent(log_group_name="my group!"),
        "cloudwatch_agent.log_group_name: 'my group!'",
    ),
    "efs-not-mount": ({"efs_mount": "fs-0123456789abcdef0"}, "efs_mount: must be an EfsMount"),
    "efs-file-system-id": (_efs(file_system_id="fs-XYZ"), "efs_mount.file_system_id: 'fs-XYZ'"),
    "efs-access-point-id": (
        _efs(access_point_id="fs-0123456789abcdef0"),
        "efs_mount.access_point_id: 'fs-0123456789abcdef0'",
    ),
    "efs-path-relative": (_efs(mount_path="mnt/shared"), "efs_mount.mount_path: 'mnt/shared'"),
    "efs-path-root": (_efs(mount_path="/"), "efs_mount.mount_path: '/'"),
    "efs-path-system": (
        _efs(mount_path="/etc"),
        "efs_mount.mount_path: '/etc' would hide a system directory",
    ),
    "efs-path-dotdot": (
        _efs(mount_path="/mnt/../etc"),
        "efs_mount.mount_path: '/mnt/../etc' contains '.' or '..'",
    ),
    "efs-path-space": (_efs(mount_path="/mnt/my share"), "efs_mount.mount_path: '/mnt/my share'"),
    "efs-region": (_efs(region="Ireland"), "efs_mount.region: 'Ireland'"),
}


@pytest.mark.parametrize(("fields", "expected"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_each_bad_input_is_a_clear_error_naming_its_field(
    fields: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValueError) as error:
        StartupScripts(**fields)

    message = str(error.value)
    assert message.startswith("invalid StartupScripts (1 problem):\n  - "), message
    assert expected in message


def test_every_problem_is_reported_in_one_error() -> None:
    with pytest.raises(ValueError) as error:
        StartupScripts(
            first_boot=[GOOD, Script("bad name", "")],
            every_boot=[Script("x", "#!/bin/sh\ntrue")],
            cloudwatch_agent=CloudWatchAgentConfig(
                namespace="AWS/Mine", collection_interval_seconds=7
            ),
            efs_mount=EfsMount("fs-1", "fsap-1", "relative", "nowhere"),
        )

    message = str(error.value)
    assert message.startswith("invalid StartupScripts (9 problems):")
    for key in (
        "first_boot[1].name",
        "first_boot[1].content",
        "every_boot[0].content",
        "cloudwatch_agent.namespace",
        "cloudwatch_agent.collection_interval_seconds",
        "efs_mount.file_system_id",
        "efs_mount.access_point_id",
        "efs_mount.mount_path",
        "efs_mount.region",
    ):
        assert f"  - {key}: " in message


def test_agent_config_helper_rejects_a_bad_config_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"invalid CloudWatchAgentConfig \(2 problems\)") as error:
        cloudwatch_agent_config(CloudWatchAgentConfig(namespace="AWS/X", disk_mount_points=[]))

    assert "  - namespace: 'AWS/X'" in str(error.value)
    assert "  - disk_mount_points: is empty" in str(error.value)


def test_script_lists_are_stored_as_tuples() -> None:
    scripts = [Script("a", "true")]
    startup = StartupScripts(first_boot=scripts)
    scripts.append(Script("b", "true"))

    assert startup.first_boot == (Script("a", "true"),)
    assert startup == StartupScripts(first_boot=[Script("a", "true")])


# -- checked by the tools made for it ---------------------------------------------------------

EXAMPLES = {
    "everything": full_scripts,
    "nothing": StartupScripts,
    "first-boot-only": lambda: StartupScripts(first_boot=[Script("a", "echo first")]),
    "every-boot-only": lambda: StartupScripts(every_boot=[Script("a", "echo every")]),
    "agent-only": lambda: StartupScripts(cloudwatch_agent=CloudWatchAgentConfig()),
    "efs-only": lambda: StartupScripts(efs_mount=EFS),
    "awkward-text": lambda: StartupScripts(
        every_boot=[
            Script("spaces", "  echo 'indented'   \n\n\techo tab  \n   "),
            Script(
                "unicode", "echo 'café — 数据 ✓'\n: \"quotes\" 'and' \\backslash: # not a comment"
            ),
            Script(
                "yaml-ish", "cat <<'EOF' > /tmp/x.yaml\n- item\nkey: value\n---\n...\n|\n>\nEOF\n"
            ),
        ],
        first_boot=[Script("unicode", "echo 'naïve ∑'")],
    ),
}


# ``cloud-init schema -c FILE`` runs ``handle_schema_args`` (cloudinit/config/schema.py): it
# prints "Valid cloud-config: FILE" or reports the problems and exits 1. Starting cloud-init once
# per document cost ~0.5 s each; this program runs that same handler once per document in one
# interpreter (a fresh argument namespace, output and exit status captured per document), so
# each document still gets its own verdict. test_batched_schema_verdict_is_the_cli_verdict
# proves the verdicts match the real command's.
CLOUD_INIT_SCHEMA_BATCH = """
import argparse, contextlib, io, json, sys
from cloudinit.config.schema import handle_schema_args

verdicts = {}
for path in sys.argv[1:]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            handle_schema_args("schema", argparse.Namespace(
                config_file=path, docs=None, system=False, annotate=False))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    verdicts[path] = {"returncode": code, "output": out.getvalue() + err.getvalue()}
print(json.dumps(verdicts))
"""


def _mode_mistake() -> str:
    """The full example's cloud-config with a mistake in write_files (the control case)."""
    document = cloud_config(full_scripts().render())
    document["write_files"][0]["mode"] = "0644"
    return "#cloud-config\n" + yaml.safe_dump(document)


@pytest.fixture(scope="module")
def schema_verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """``cloud-init schema``'s verdict on every example (and the control), one per document."""
    if CLOUD_INIT is None:
        pytest.skip("the cloud-init executable is not installed (CI installs it)")
    folder = tmp_path_factory.mktemp("cloud-config")
    documents = {name: cloud_config_text(example().render()) for name, example in EXAMPLES.items()}
    documents["control-mode-mistake"] = _mode_mistake()
    paths = {}
    for name, text in documents.items():
        paths[name] = folder / f"{name}.yaml"
        paths[name].write_text(text, encoding="utf-8")
    result = subprocess.run(
        [_cloud_init_python(), "-c", CLOUD_INIT_SCHEMA_BATCH, *map(str, paths.values())],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    verdicts = json.loads(result.stdout)
    return {name: {**verdicts[str(path)], "path": str(path)} for name, path in paths.items()}


@needs_cloud_init
@pytest.mark.subprocess
@pytest.mark.parametrize("example", EXAMPLES.keys())
def test_cloud_config_part_passes_cloud_init_schema(
    schema_verdicts: dict[str, dict[str, Any]], example: str
) -> None:
    verdict = schema_verdicts[example]

    assert verdict["returncode"] == 0, verdict["output"]
    assert "Valid cloud-config" in verdict["output"]


@needs_cloud_init
@pytest.mark.subprocess
def test_cloud_init_schema_check_can_fail(schema_verdicts: dict[str, dict[str, Any]]) -> None:
    """Control: the same check rejects a cloud-config with a mistake in write_files."""
    verdict = schema_verdicts["control-mode-mistake"]

    assert verdict["returncode"] != 0
    assert "'mode' was unexpected" in verdict["output"]


@needs_cloud_init
@pytest.mark.subprocess
@pytest.mark.parametrize("example", ["everything", "control-mode-mistake"])
def test_batched_schema_verdict_is_the_cli_verdict(
    schema_verdicts: dict[str, dict[str, Any]], example: str
) -> None:
    """The real ``cloud-init schema -c`` command agrees with the batch, passing and failing."""
    verdict = schema_verdicts[example]

    result = subprocess.run(
        [CLOUD_INIT, "schema", "-c", verdict["path"]], capture_output=True, text=True
    )

    assert (result.returncode == 0) == (verdict["returncode"] == 0)
    assert result.stdout + result.stderr == verdict["output"]


CLOUD_INIT_PARSER = """
import json, sys, tempfile
from cloudinit import util
from cloudinit.helpers import Paths
from cloudinit.user_data import UserDataProcessor

with tempfile.TemporaryDirectory() as cloud_dir:
    message = UserDataProcessor(Paths({"cloud_dir": cloud_dir})).process(sys.stdin.buffer.read())
parts = [
    {"type": part.get_content_type(), "filename": part.get_filename(),
     "text": util.fully_decoded_payload(part)}
    for part in message.walk() if not part.is_multipart()
]
print(json.dumps(parts))
"""


def _cloud_init_python() -> str:
    """The interpreter the cloud-init executable runs with (its shebang)."""
    assert CLOUD_INIT is not None
    first_line = Path(CLOUD_INIT).read_text(errors="replace").splitlines()[0]
    assert first_line.startswith("#!"), first_line
    return first_line[2:].strip().split()[0]


@needs_cloud_init
@pytest.mark.subprocess
@pytest.mark.parametrize("example", ["everything", "awkward-text"])
def test_cloud_init_reads_the_same_parts_names_and_scripts(example: str) -> None:
    """cloud-init's own user-data parser sees what the email package sees (also for UTF-8)."""
    user_data = EXAMPLES[example]().render()

    result = subprocess.run(
        [_cloud_init_python(), "-c", CLOUD_INIT_PARSER],
        input=user_data.encode("utf-8"),
        capture_output=True,
    )

    assert result.returncode == 0, result.stderr.decode()
    seen = [Part(p["type"], p["filename"], p["text"]) for p in json.loads(result.stdout)]
    assert seen == parse(user_data)


@needs_bash
@pytest.mark.subprocess
@pytest.mark.parametrize("example", EXAMPLES.values(), ids=EXAMPLES.keys())
def test_every_rendered_script_is_valid_bash(tmp_path: Path, example: Any) -> None:
    for index, (name, text) in enumerate(all_scripts(example().render()).items()):
        script = tmp_path / f"script-{index}"
        script.write_text(text, encoding="utf-8")
        result = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}: {result.stderr}"


@needs_bash
@pytest.mark.subprocess
def test_bash_syntax_check_can_fail(tmp_path: Path) -> None:
    """Control: a script with a syntax error renders, and the same check catches it."""
    user_data = StartupScripts(every_boot=[Script("broken", "if true; then\necho x\n")]).render()
    script = tmp_path / "broken"
    script.write_text(every_boot_files(user_data)[0]["content"])

    result = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True)

    assert result.returncode != 0


# -- properties --------------------------------------------------------------------------------

_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
_characters = st.one_of(
    st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="\u2028\u2029"),
    st.sampled_from("\n\t"),
)
_contents = st.text(_characters, min_size=1, max_size=120).filter(
    lambda text: bool(text.strip()) and not text.startswith("#!")
)
_script_lists = st.lists(
    st.builds(Script, name=_names, content=_contents), max_size=6, unique_by=lambda s: s.name
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first_boot=_script_lists,
    every_boot=_script_lists,
    with_agent=st.booleans(),
    with_efs=st.booleans(),
)
def test_any_valid_scripts_round_trip_in_order(
    first_boot: list[Script], every_boot: list[Script], with_agent: bool, with_efs: bool
) -> None:
    startup = StartupScripts(
        first_boot=first_boot,
        every_boot=every_boot,
        cloudwatch_agent=CloudWatchAgentConfig() if with_agent else None,
        efs_mount=EFS if with_efs else None,
    )
    user_data = startup.render()

    def expected(script: Script) -> str:
        return SCRIPT_HEADER + script.content + ("" if script.content.endswith("\n") else "\n")

    has_every_boot = bool(every_boot) or with_efs
    shells = shell_parts(user_data)
    assert [p.filename for p in shells[: int(with_agent) + int(with_efs)]] == (
        [AGENT_START_SCRIPT] * with_agent + [EFS_MOUNT_SCRIPT] * with_efs
    )
    assert [p.filename for p in shells[len(shells) - has_every_boot :]] == (
        [FIRST_BOOT_FINISH_SCRIPT] * has_every_boot
    )
    shells = shells[int(with_agent) + int(with_efs) : len(shells) - has_every_boot]
    names = [f"{i:02d}-{s.name}" for i, s in enumerate(first_boot, 1)]
    assert [p.filename for p in shells] == names
    assert [p.text for p in shells] == [expected(s) for s in first_boot]
    files = every_boot_files(user_data)[1 if with_efs else 0 :]
    assert [f["path"] for f in files] == [
        f"{EVERY_BOOT_SCRIPTS_DIR}/{i:02d}-{s.name}" for i, s in enumerate(every_boot, 1)
    ]
    assert [f["content"] for f in files] == [expected(s) for s in every_boot]
    assert len(per_boot_files(user_data)) == has_every_boot
    assert (
        user_data
        == StartupScripts(
            first_boot=list(first_boot),
            every_boot=list(every_boot),
            cloudwatch_agent=CloudWatchAgentConfig() if with_agent else None,
            efs_mount=EFS if with_efs else None,
        ).render()
    )


@settings(max_examples=40, deadline=None)
@given(
    prefix=st.text(_characters, max_size=20),
    bad=st.sampled_from(["\r", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"]),
    suffix=st.text(_characters, max_size=20),
)
def test_any_control_character_in_a_script_is_rejected(prefix: str, bad: str, suffix: str) -> None:
    with pytest.raises(ValueError, match=r"every_boot\[0\]\.content: contains control character"):
        StartupScripts(every_boot=[Script("s", "echo " + prefix + bad + suffix)])
