"""How fast the offline plan is: ``plan dev``, ``plan prod``, prod's layout over 2/4/8/16
regions, the pull request job's path for prod (plan, check, a second plan, diff, cost), and
prod against the flat baseline (:mod:`flat_program`: the same resources through
the SDK's classes without the components; and the generic variant, plain ``CustomResource``
calls, a lower floor). Issue 15's figures.

    python benchmarks/plan_speed.py                      # medians of 5, everything
    python benchmarks/plan_speed.py --repeat 3 --regions 2,16 --compare-off

Every run is a fresh ``python -m stacks plan`` process (what a user and CI run), timed from
start to exit: wall time, CPU time (user + system, less sensitive to other load on the
machine) and peak memory (max RSS). Cases are interleaved round by round so that load from
others spreads over all of them; the load average before and after is printed so a reader
can judge the contention. ``--compare-off`` runs every case again with the engine's speedups
off (``MLOPS_OFFLINE_SPEEDUPS=0``: the mock runtime's own behaviour). Not a test, and CI does
not run it: timings depend on the machine. Only the standard library and the project.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from flat_program import generate  # noqa: E402

SPEEDUPS_ENV = "MLOPS_OFFLINE_SPEEDUPS"
_COUNT_RE = re.compile(r"^(?:Stack \S+ of \S+|flat \S+): (\d+) resources")


# Stack files with more regions ------------------------------------------------------------


def aws_partition_regions() -> list[str]:
    """The commercial partition's regions, from botocore's endpoint data (the data the
    config's region check reads)."""
    from botocore.loaders import create_loader

    data = create_loader().load_data("endpoints")
    (aws,) = [p for p in data["partitions"] if p["partition"] == "aws"]
    return sorted(aws["regions"])


def _widen(value: Any, old: list[str], new: list[str]) -> Any:
    """``value`` with every mapping keyed by exactly the ``old`` regions (per-region settings
    such as certificate ARNs) given an entry for each of ``new``: the first region's, with
    its name replaced."""
    if isinstance(value, dict):
        out = {k: _widen(v, old, new) for k, v in value.items()}
        if old and set(value) == set(old):
            template = json.dumps(value[old[0]])
            for region in new:
                out.setdefault(region, json.loads(template.replace(old[0], region)))
        return out
    if isinstance(value, list):
        return [_widen(v, old, new) for v in value]
    return value


def with_regions(config: dict[str, Any], count: int, names: Sequence[str]) -> dict[str, Any]:
    """``config`` (a stack file's ``config:``) over ``count`` regions: its own first, then
    ``names`` in order; each new region copies the first one's entry with its own name, a
    /16 of its own and, when zones are pinned, as many zones (``<region>a``, ``b``, ...)."""
    config = copy.deepcopy(config)
    regions = config["mlops:regions"]
    old = [r["name"] for r in regions]
    extra = [n for n in names if n not in old][: max(0, count - len(old))]
    base = int(str(regions[0]["cidr"]).split(".")[1])
    out = []
    for i, name in enumerate((old + extra)[:count]):
        entry = copy.deepcopy(regions[i] if i < len(regions) else regions[0])
        if i >= len(regions):
            entry["name"] = name
            entry["cidr"] = f"10.{(base + i) % 256}.0.0/16"
            zones = regions[0].get("availabilityZones")
            if zones:
                entry["availabilityZones"] = [f"{name}{chr(97 + j)}" for j in range(len(zones))]
        out.append(entry)
    config["mlops:regions"] = out
    dns = config.get("mlops:dns")
    if isinstance(dns, dict) and dns.get("routing") == "failover" and count > 2:
        dns["routing"] = "latency"  # failover pairs two regions; more serve by latency
    return {k: (v if k == "mlops:regions" else _widen(v, old, extra)) for k, v in config.items()}


def write_project(directory: Path, stack: str, config: dict[str, Any]) -> Path:
    """A project folder for ``python -m stacks plan <stack> --project-dir``: the repository's
    ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` holding ``config`` (JSON is YAML 1.2)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Pulumi.yaml").write_bytes((PROJECT_DIR / "Pulumi.yaml").read_bytes())
    text = json.dumps({"config": config}, indent=1)
    (directory / f"Pulumi.{stack}.yaml").write_text(text + "\n", encoding="utf-8")
    return directory


def region_variant(directory: Path, count: int) -> Path:
    """A project whose ``bench`` stack is prod's stack file over ``count`` regions; regions
    the config refuses (a service missing there, say) are skipped."""
    from stacks.config import ConfigError, load_stack_file, parse_raw_config
    from stacks.config.loader import read_pulumi_yaml

    document = read_pulumi_yaml(PROJECT_DIR / "Pulumi.prod.yaml")
    names = aws_partition_regions()
    while True:
        config = with_regions(document["config"], count, names)
        project = write_project(directory, "bench", config)
        flat, _ = load_stack_file(project, "bench")
        try:
            parse_raw_config(flat)
            return project
        except ConfigError as exc:
            refused = [n for n in names if any(n in p for p in exc.problems)]
            kept = {r["name"] for r in config["mlops:regions"][:2]}
            refused = [n for n in refused if n not in kept]
            if not refused:
                raise
            names = [n for n in names if n not in refused]


# Measuring --------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    resources: int | None = None


def run_once(case: Case) -> None:
    env = {**os.environ, **case.env}
    start = time.perf_counter()
    child = subprocess.Popen(
        case.argv, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    # wait4 gives this child's own resource usage (getrusage(CHILDREN) would sum them all).
    # Reading the pipes first: a full pipe would block the child.
    out, err = child.stdout.read(), child.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{case.name} failed ({child.returncode}):\n{err.decode()[-3000:]}")
    match = _COUNT_RE.match(out.decode())
    case.resources = int(match.group(1)) if match else case.resources
    case.wall.append(wall)
    case.cpu.append(usage.ru_utime + usage.ru_stime)
    case.rss_mb.append(usage.ru_maxrss / 1024)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} [{min(values):.2f}-{max(values):.2f}]"


def report(cases: list[Case], flat: str | None) -> list[str]:
    lines = [
        f"{'case':<24} {'resources':>9}  {'wall s: median [min-max]':>25}  "
        f"{'cpu s: median [min-max]':>24}  {'RSS MB':>6}  {'ms/resource':>11}"
    ]
    by_name = {c.name: c for c in cases}
    for c in cases:
        per = f"{statistics.median(c.wall) / c.resources * 1000:.1f}" if c.resources else "-"
        lines.append(
            f"{c.name:<24} {c.resources or '-':>9}  {spread(c.wall):>25}  {spread(c.cpu):>24}  "
            f"{statistics.median(c.rss_mb):>6.0f}  {per:>11}"
        )
    for suffix in ("", " (speedups off)"):
        two, sixteen = by_name.get(f"2 regions{suffix}"), by_name.get(f"16 regions{suffix}")
        if two and sixteen and two.resources and sixteen.resources:
            lines.append(
                f"16 vs 2 regions{suffix}: resources x{sixteen.resources / two.resources:.2f}, "
                f"wall x{_ratio(sixteen.wall, two.wall):.2f}, cpu x{_ratio(sixteen.cpu, two.cpu):.2f}, "
                f"memory x{_ratio(sixteen.rss_mb, two.rss_mb):.2f}"
            )
        prod = by_name.get(f"plan prod{suffix}")
        for base_name in (flat, "flat generic (prod)"):
            base = by_name.get(base_name or "")
            if prod and base and not suffix:
                lines.append(
                    f"plan prod vs {base.name}: wall x{_ratio(prod.wall, base.wall):.2f}, "
                    f"cpu x{_ratio(prod.cpu, base.cpu):.2f}"
                )
    return lines


def _ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(a) / statistics.median(b)


def pr_path(stack: str, work: Path) -> int:
    """What the pull request job runs for one stack (.github/workflows/pr.yml), one process
    per step: plan (head), check --plan, plan (base: here the same commit), the diff in its
    three formats, cost --diff."""
    cli = [sys.executable, "-m", "stacks"]
    head, base = str(work / f"plan-{stack}.json"), str(work / f"base-{stack}.json")
    steps: list[tuple[list[str], tuple[int, ...]]] = [
        ([*cli, "plan", stack, "--out", head], (0,)),
        ([*cli, "check", stack, "--plan", head], (0,)),
        ([*cli, "plan", stack, "--out", base], (0,)),
        ([*cli, "diff", base, head], (0, 1)),
        ([*cli, "diff", base, head, "--format", "json"], (0, 1)),
        ([*cli, "diff", base, head, "--format", "markdown", "--max-chars", "65000"], (0, 1)),
        ([*cli, "cost", "--diff", base, head, "--format", "markdown"], (0,)),
    ]
    for step, accepted in steps:
        done = subprocess.run(step, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL)
        if done.returncode not in accepted:
            print(f"{' '.join(step[2:])} exited {done.returncode}", file=sys.stderr)
            return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (default 5)")
    parser.add_argument("--regions", default="2,4,8,16", help="region counts ('' for none)")
    parser.add_argument("--no-stacks", action="store_true", help="skip plan dev / plan prod")
    parser.add_argument("--no-baseline", action="store_true", help="skip the flat baseline")
    parser.add_argument(
        "--compare-off", action="store_true", help=f"also run every case with {SPEEDUPS_ENV}=0"
    )
    parser.add_argument("--json", help="also write the raw timings to this file")
    parser.add_argument(
        "--no-pr-path", action="store_true", help="skip the pull request job's path (prod)"
    )
    parser.add_argument("--pr-path-run", nargs=2, metavar=("STACK", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.pr_path_run:
        return pr_path(args.pr_path_run[0], Path(args.pr_path_run[1]))

    python = sys.executable
    plan = [python, "-m", "stacks", "plan"]
    with tempfile.TemporaryDirectory(prefix="plan-speed-") as tmp:
        work = Path(tmp)
        cases: list[Case] = []
        if not args.no_stacks:
            cases += [Case("plan dev", [*plan, "dev"]), Case("plan prod", [*plan, "prod"])]
        for n in [int(x) for x in args.regions.split(",") if x.strip()]:
            project = region_variant(work / f"regions-{n}", n)
            cases.append(Case(f"{n} regions", [*plan, "bench", "--project-dir", str(project)]))
        flat = None
        if not args.no_baseline:
            out = work / "prod.json"
            subprocess.run(
                [*plan, "prod", "--out", str(out)],
                cwd=PROJECT_DIR,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            for typed, name in ((True, "flat baseline (prod)"), (False, "flat generic (prod)")):
                program = work / f"flat_prod_{'typed' if typed else 'generic'}.py"
                program.write_text(
                    generate(json.loads(out.read_text()), typed=typed), encoding="utf-8"
                )
                cases.append(Case(name, [python, str(program)]))
            flat = "flat baseline (prod)"
        if not args.no_pr_path:
            pr_dir = work / "pr"
            pr_dir.mkdir()
            runner = [python, str(Path(__file__).resolve()), "--pr-path-run", "prod", str(pr_dir)]
            cases.append(Case("PR job path (prod)", runner))
        if args.compare_off:
            cases += [
                Case(f"{c.name} (speedups off)", c.argv, {SPEEDUPS_ENV: "0"}) for c in list(cases)
            ]
        bytecode = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "unset"
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
            f"PYTHONDONTWRITEBYTECODE {bytecode}, {args.repeat} runs per case"
        )
        load_before = os.getloadavg()
        for c in cases:  # warm-up: file cache and compiled modules
            run_once(c)
            c.wall.clear()
            c.cpu.clear()
            c.rss_mb.clear()
        for _ in range(args.repeat):
            for c in cases:
                run_once(c)
        load_after = os.getloadavg()
    print(
        "load average (1/5/15 min) before "
        + "/".join(f"{x:.2f}" for x in load_before)
        + ", after "
        + "/".join(f"{x:.2f}" for x in load_after)
    )
    print("\n".join(report(cases, flat)))
    if args.json:
        Path(args.json).write_text(
            json.dumps([c.__dict__ for c in cases], indent=1) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
