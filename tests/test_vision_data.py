"""torchvision's data sets read from tiny files in torchvision's own formats (no network)."""

import json

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from distillctl.data import build, build_splits, identity
from distillctl.errors import RunError
from tests import fake_vision
from tests.conftest import run_stage


def _cfg(name: str, classes: int = 10, **extra):
    return OmegaConf.create(
        {
            "name": name,
            "num_classes": classes,
            "root": None,
            "download": False,
            "val_fraction": 0.25,
            "split_seed": 0,
            "subset": None,
            "batch_size": 16,
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("name", "write", "sizes", "shape"),
    [
        ("mnist", fake_vision.mnist, (45, 15, 20), (1, 28, 28)),
        ("cifar10", fake_vision.cifar10, (75, 25, 20), (3, 32, 32)),
        ("svhn", fake_vision.svhn, (45, 15, 20), (3, 32, 32)),
    ],
)
def test_each_set_reads_its_torchvision_files(tmp_path, name, write, sizes, shape):
    write(tmp_path)
    splits = build_splits(_cfg(name), str(tmp_path))
    assert tuple(splits.sizes().values()) == sizes and splits.input_shape == shape
    assert splits.x_train.dtype == np.uint8  # pixels stay bytes until the device
    assert sorted(np.unique(splits.y_test)) == list(range(10))
    mean, std = splits.normalise
    inputs = splits.inputs("train")
    assert inputs.dtype == np.float32
    assert np.allclose(inputs.mean(axis=(0, 2, 3)), 0, atol=1e-4)  # train statistics
    assert np.allclose(inputs.std(axis=(0, 2, 3)), 1, atol=1e-3)


def test_our_mnist_reader_agrees_with_torchvisions(tmp_path):
    import torchvision

    fake_vision.mnist(tmp_path, gz=False)
    theirs = torchvision.datasets.MNIST(str(tmp_path), train=False, download=False)
    splits = build_splits(_cfg("mnist"), str(tmp_path))
    assert np.array_equal(splits.x_test[:, 0], theirs.data.numpy())
    assert np.array_equal(splits.y_test, theirs.targets.numpy())


def test_cifar100_has_its_fine_labels_and_names(tmp_path):
    fake_vision.cifar100(tmp_path)
    splits = build_splits(_cfg("cifar100", classes=100), str(tmp_path))
    assert splits.num_classes == 100 and splits.class_names[7] == "class7"


def test_missing_files_say_where_and_how(tmp_path):
    with pytest.raises(RunError, match="cifar-10-batches-py") as err:
        build_splits(_cfg("cifar10"), str(tmp_path))
    assert "data_batch_1" in err.value.problem and "data.download=true" in err.value.fix


def test_download_without_a_network_is_one_message(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    def offline(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(tvd, "MNIST", offline)
    with pytest.raises(RunError, match="could not fetch 'mnist'.*Name or service not known"):
        build_splits(_cfg("mnist", download=True), str(tmp_path))


def test_a_pickle_that_asks_for_code_is_not_a_cifar_batch(tmp_path):
    import pickle

    fake_vision.cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py/test_batch").write_bytes(pickle.dumps({"data": print}))
    with pytest.raises(RunError, match="builtins.print is not allowed"):
        build_splits(_cfg("cifar10"), str(tmp_path))


def test_subset_keeps_that_many_training_samples_and_is_part_of_the_identity(tmp_path):
    fake_vision.cifar10(tmp_path)
    small = build_splits(_cfg("cifar10", subset=30), str(tmp_path))
    assert small.sizes()["train"] == 30 and len(np.unique(small.y_train)) == 10
    assert identity(_cfg("cifar10", subset=30)) != identity(_cfg("cifar10"))
    assert identity(_cfg("cifar10")) == identity(_cfg("cifar10", batch_size=128, download=True))


def test_crop_and_flip_run_on_scaled_pixels_and_both_modules_agree(tmp_path):
    fake_vision.cifar10(tmp_path)

    def first_batch(in_memory):
        data = {**_cfg("cifar10"), "augment": {"crop": 4, "flip": 0.5}, "in_memory": in_memory}
        cfg = OmegaConf.create({"data": data, "paths": {"data_dir": str(tmp_path)}, "seed": 1})
        module, _ = build(cfg)
        return next(iter(module.train_dataloader()))

    first = first_batch(True)
    x = first.inputs
    assert x.dtype == torch.float32 and x.shape == (16, 3, 32, 32)
    assert torch.equal(x, first_batch(False).inputs)


def test_flip_mirrors_images_with_its_probability():
    from distillctl.data.augment import flip

    x = torch.arange(8.0).view(1, 1, 2, 4).repeat(200, 1, 1, 1)
    out = flip(x, 0.5, torch.Generator().manual_seed(0))
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert (mirrored | (out == x).flatten(1).all(1)).all()
    assert 70 < int(mirrored.sum()) < 130
    assert torch.equal(flip(x, 1.0, torch.Generator()), x.flip(-1))


def test_a_cifar_teacher_and_student_train_end_to_end(tmp_path):
    fake_vision.cifar10(tmp_path / "data")
    common = ["data=cifar10", "data.val_fraction=0.25", "trainer.limit_train_batches=2"]
    teacher, _ = run_stage("train_teacher", tmp_path, *common, "teacher=resnet8")
    run_dir, result = run_stage(
        "distill_student", tmp_path, *common, "teacher=resnet8", "student=wrn_16_1"
    )
    record = json.loads((run_dir / "run.json").read_text())
    assert record["parents"]["teacher"] == str(teacher.resolve())
    assert set(record["teacher_eval"]) == {"val_acc", "test_acc"}
    assert 0.0 <= result["test_acc"] <= 1.0


def test_a_run_is_explained_from_where_its_data_was_read(tmp_path):
    """A run trained with paths.data_dir=/elsewhere is explained from there, whatever the
    explaining command's paths.data_dir says."""
    elsewhere = tmp_path / "elsewhere"
    fake_vision.cifar10(elsewhere)
    common = [
        "data=cifar10",
        "data.val_fraction=0.25",
        "teacher=resnet8",
        "student=resnet8",
        f"paths.data_dir={elsewhere}",
    ]
    run_stage("train_teacher", tmp_path, *common)
    distilled, _ = run_stage("distill_student", tmp_path, *common)
    run_dir, _ = run_stage(
        "explain", tmp_path, f"explain.run={distilled}", "explainer=captum_saliency"
    )  # paths.data_dir is tmp_path/data here: no files there
    record = json.loads((run_dir / "run.json").read_text())
    assert record["data_location"]["data_dir"] == str(elsewhere)
    assert (run_dir / "report.html").is_file()
