"""logger=csv|tensorboard|mlflow|wandb: each writes under the run folder, beside metrics.csv."""

from __future__ import annotations

import csv

import pytest

from distillctl.errors import ConfigError
from distillctl.train import loggers
from tests.conftest import compose_cfg, forked_cli, run_stage

EPOCHS = ["trainer.max_epochs=2", "trainer.limit_train_batches=3"]


def _csv_val_acc(run_dir) -> list[float]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return [float(row["val/acc"]) for row in csv.DictReader(handle)]


def test_csv_is_the_default_and_writes_only_the_run_folders_csvs(tmp_path):
    run_dir, _ = run_stage("train_teacher", tmp_path, *EPOCHS)
    assert len(_csv_val_acc(run_dir)) == 2
    assert not (run_dir / "tensorboard").exists() and not (run_dir / "mlflow").exists()


def test_tensorboard_gets_every_epochs_metrics_and_the_config(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir, _ = run_stage("train_teacher", tmp_path, *EPOCHS, "logger=tensorboard")
    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    logged = [event.value for event in events.Scalars("val/acc")]
    assert logged == pytest.approx(_csv_val_acc(run_dir))  # the same values as metrics.csv
    assert "train/loss" in events.Tags()["scalars"]
    assert "seed: 0" in (run_dir / "tensorboard" / "hparams.yaml").read_text()


def test_mlflow_store_in_the_run_folder_holds_metrics_and_params(tmp_path):
    from mlflow.tracking import MlflowClient

    run_dir, _ = run_stage("train_teacher", tmp_path, *EPOCHS, "logger=mlflow")
    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow' / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "distillctl"]
    (run,) = client.search_runs([experiment.experiment_id])
    history = client.get_metric_history(run.info.run_id, "val/acc")
    assert [m.value for m in history] == pytest.approx(_csv_val_acc(run_dir))
    assert run.data.params["seed"] == "0" and run.data.params["teacher.arch"] == "cnn"


def test_a_logger_whose_library_is_missing_is_named_before_any_run(tmp_path, monkeypatch):
    missing = loggers.LoggerFacts(needs=("no_such_module_xyz", "wandb>=0.16"))
    monkeypatch.setitem(loggers.LOGGERS._facts, "wandb", missing)
    cfg = compose_cfg("train_teacher", ["logger=wandb"], tmp_path)
    with pytest.raises(ConfigError, match="(?s)logger=wandb needs .* pip install 'wandb>=0.16'"):
        loggers.check(cfg)
    with pytest.raises(ConfigError, match="unknown logger 'nope'"):
        loggers.check(compose_cfg("train_teacher", ["logger.name=nope"], tmp_path))


def test_an_unreachable_tracking_server_is_one_message_before_any_run(tmp_path):
    """MLflow's client retries an unreachable server for minutes and ends in chained
    tracebacks: the address is tried once, briefly, before anything runs."""
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    cfg = compose_cfg("train_teacher", ["logger=mlflow", f"logger.tracking_uri={uri}"], tmp_path)
    with pytest.raises(ConfigError, match=f"logger.tracking_uri={uri} cannot be reached"):
        loggers.check(cfg)
    out = forked_cli(
        "train", "teacher", "logger=mlflow", f"logger.tracking_uri={uri}", cwd=tmp_path
    )
    assert out.returncode == 2 and "cannot be reached" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "outputs").exists()
