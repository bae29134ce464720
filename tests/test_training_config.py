"""``mlops:training``: defaults, and every mistake reported by its key as written."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks.cli import main
from stacks.config import ConfigError, load_stack_config, parse_raw_config
from stacks.offline import PROJECT_DIR


def flat(config: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def problems(
    stack_config: Callable[[str], dict[str, Any]], change: Callable[[dict[str, Any]], None]
) -> list[str]:
    config = stack_config("dev")
    change(config)
    with pytest.raises(ConfigError) as info:
        parse_raw_config(flat(config))
    return info.value.problems


def training(**values: Any) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        config["mlops:training"] = {**config.get("mlops:training", {}), **values}

    return change


def test_both_stacks_have_the_loop_on_with_documented_defaults() -> None:
    for stack, scoring in (
        ("dev", ("churn-scoring",)),
        ("prod", ("churn-scoring", "churn-scoring-fanout")),
    ):
        cfg = load_stack_config(PROJECT_DIR, stack).training
        assert cfg.enabled and cfg.model == "churn" and cfg.scoring_jobs == scoring
        assert cfg.drift.measure == "psi" and cfg.drift.effective_threshold == 0.2
        assert cfg.drift.schedule.expression == "rate(1 day)" and cfg.drift.on_new_data
        assert cfg.metrics == ("auc", "log_loss") and cfg.promotion.metric == "auc"
        assert cfg.promotion.margin == 0.01 and cfg.promotion.automatic
        assert (cfg.window_days, cfg.drift.window_days, cfg.holdout_fraction) == (90, 1, 0.2)
        assert cfg.serving_refresh_seconds == 60


def test_ks_has_its_own_default_threshold(stack_config) -> None:
    config = stack_config("dev")
    config["mlops:training"] = {"drift": {"measure": "ks"}}
    assert parse_raw_config(flat(config)).training.drift.effective_threshold == 0.1


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            training(drift={"measure": "chi2"}),
            "mlops:training.drift.measure: 'chi2' is not a drift measure",
        ),
        (
            training(drift={"measure": "ks", "threshold": 1.5}),
            "mlops:training.drift: threshold 1.5 must be above 0 and at most 1 for ks",
        ),
        (training(drift={"treshold": 0.3}), "mlops:training.drift.treshold"),
        (
            training(drift={"schedule": {"cron": "0 6 * * ? *", "rate": "1 day"}}),
            "mlops:training.drift.schedule: give exactly one of cron",
        ),
        (training(model="Churn_Model"), "mlops:training.model: 'Churn_Model' is not a model name"),
        (training(metrics=["auc", "f1"]), "mlops:training.metrics"),
        (
            training(metrics=["log_loss"]),
            "mlops:training.promotion.metric: 'auc' is not one of mlops:training.metrics",
        ),
        (training(promotion={"margin": 2}), "mlops:training.promotion.margin"),
        (training(holdoutFraction=0.9), "mlops:training.holdoutFraction"),
        (training(dataPrefix="customers/*"), "mlops:training.dataPrefix"),
        (
            training(scoringJobs=["no-such-job"]),
            "mlops:training.scoringJobs[0]: 'no-such-job' is not a job of mlops:jobs.jobs",
        ),
        (
            training(trainJob={"vcpu": 4, "memoryMib": 8192, "timeoutSeconds": 600}),
            "mlops:training.trainJob.vcpu: 4 vCPU is more than mlops:jobs.maxVcpus (2)",
        ),
        (
            training(driftJob={"vcpu": 1, "memoryMib": 100000, "timeoutSeconds": 600}),
            "mlops:training.driftJob",
        ),
    ],
    ids=[
        "measure",
        "ks-threshold",
        "typo",
        "schedule",
        "model",
        "metric",
        "promotion-metric",
        "margin",
        "holdout",
        "prefix",
        "scoring-job",
        "train-vcpu",
        "drift-size",
    ],
)
def test_mistakes_are_reported_by_key(stack_config, change, expected) -> None:
    found = problems(stack_config, change)
    assert any(expected in p for p in found), found


def test_a_scoring_job_pinned_to_an_artefact_is_refused(stack_config) -> None:
    def pin(config: dict[str, Any]) -> None:
        config["mlops:jobs"]["jobs"][0]["environment"] = {"BATCH_INFERENCE_MODEL_KEY": "m.json"}

    found = problems(stack_config, pin)
    assert any(
        p.startswith("mlops:training.scoringJobs[0]: job 'churn-scoring' is pinned") for p in found
    )


def test_the_loop_needs_the_curated_and_models_zones(stack_config) -> None:
    def zones(config: dict[str, Any]) -> None:
        config["mlops:dataLake"]["zones"] = ["raw", "curated"]

    found = problems(stack_config, zones)
    assert any(
        p.startswith("mlops:training.enabled: continuous training reads") and "['models']" in p
        for p in found
    )
    config = stack_config("dev")
    config["mlops:dataLake"]["zones"] = ["raw", "curated"]
    config["mlops:training"] = {"enabled": False}
    found = problems(stack_config, lambda c: c.update(config))
    assert not any(p.startswith("mlops:training") for p in found)  # only the jobs' own zone


def test_a_config_mistake_exits_2_naming_the_key_without_a_traceback(
    project_with: Callable[..., Path], stack_config, capsys
) -> None:
    config = stack_config("dev")
    config["mlops:training"] = {"drift": {"measure": "chi2"}}
    assert main(["plan", "test", "--project-dir", str(project_with(config))]) == 2
    err = capsys.readouterr().err
    assert "mlops:training.drift.measure" in err and "Traceback" not in err
