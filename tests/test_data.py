import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from distillctl.data import build_splits, identity
from distillctl.data.module import IndexBatches, Served
from distillctl.errors import ConfigError

DIGITS = {
    "name": "digits",
    "num_classes": 10,
    "test_fraction": 0.2,
    "val_fraction": 0.1,
    "split_seed": 0,
    "batch_size": 64,
}


def test_digits_splits_are_disjoint_stratified_and_reproducible(tmp_path):
    a = build_splits(OmegaConf.create(DIGITS), str(tmp_path))
    b = build_splits(OmegaConf.create(DIGITS), str(tmp_path))
    assert sum(a.sizes().values()) == 1797
    assert a.input_shape == (1, 8, 8) and a.kind == "image"
    rows = {
        split: {r.tobytes() for r in getattr(a, f"x_{split}")} for split in ("train", "val", "test")
    }
    # digits has a few duplicate images; the splits must still be (nearly) disjoint by row
    assert len(rows["train"] & rows["test"]) <= 3
    assert np.array_equal(a.y_test, b.y_test)
    assert set(np.unique(a.y_val)) == set(range(10))
    other = build_splits(OmegaConf.create({**DIGITS, "split_seed": 1}), str(tmp_path))
    assert not np.array_equal(a.y_test, other.y_test)


def test_breast_cancer_is_standardised_on_train_statistics(tmp_path):
    cfg = OmegaConf.create({**DIGITS, "name": "breast_cancer", "num_classes": 2})
    splits = build_splits(cfg, str(tmp_path))
    assert splits.input_shape == (30,) and splits.kind == "tabular"
    assert np.allclose(splits.x_train.mean(axis=0), 0, atol=1e-4)
    assert len(splits.feature_names) == 30


def test_mnist1d_is_generated_locally_and_cached(tmp_path, monkeypatch):
    cfg = OmegaConf.create(
        {
            "name": "mnist1d",
            "num_classes": 10,
            "num_samples": 400,
            "train_split": 0.8,
            "generator_seed": 42,
            "val_fraction": 0.1,
            "split_seed": 0,
            "batch_size": 50,
        }
    )
    first = build_splits(cfg, str(tmp_path))
    assert first.input_shape == (1, 40) and first.kind == "signal"
    assert first.sizes() == {"train": 288, "val": 32, "test": 80}
    assert len(list(tmp_path.glob("mnist1d-*.npz"))) == 1

    import distillctl.data.sources.mnist1d as source

    monkeypatch.setattr(source, "_generate", lambda **kw: pytest.fail("cache not used"))
    again = build_splits(cfg, str(tmp_path))
    assert np.array_equal(first.x_test, again.x_test)


def test_a_damaged_mnist1d_cache_is_rebuilt(tmp_path):
    cfg = OmegaConf.create(
        {
            "name": "mnist1d",
            "num_classes": 10,
            "num_samples": 200,
            "train_split": 0.8,
            "generator_seed": 1,
            "val_fraction": 0.1,
            "split_seed": 0,
            "batch_size": 50,
        }
    )
    build_splits(cfg, str(tmp_path))
    cache = next(tmp_path.glob("mnist1d-*.npz"))
    cache.write_bytes(b"not an npz")
    assert build_splits(cfg, str(tmp_path)).sizes()["test"] == 40


def test_num_classes_that_disagree_with_the_data_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="data.num_classes=5 but data 'digits' has 10"):
        build_splits(OmegaConf.create({**DIGITS, "num_classes": 5}), str(tmp_path))


def test_identity_ignores_loader_settings_only():
    a = identity(OmegaConf.create(DIGITS))
    assert a == identity(OmegaConf.create({**DIGITS, "batch_size": 7}))
    # loader knobs are not the data: the same teacher is found when they change
    assert a == identity(OmegaConf.create({**DIGITS, "num_workers": 2, "in_memory": False}))
    assert a == {"name": "digits", "split_seed": 0, "test_fraction": 0.2, "val_fraction": 0.1}
    assert a != identity(OmegaConf.create({**DIGITS, "val_fraction": 0.2}))


def test_index_batches_shuffle_per_epoch_and_shard_per_rank():
    x, y = torch.arange(10.0)[:, None], torch.arange(10)
    epoch = {"n": 0}
    loader = IndexBatches(x, y, Served(4, shuffle=True, seed=3, epoch_fn=lambda: epoch["n"]))
    first = torch.cat([b.labels for b in loader])
    assert sorted(first.tolist()) == list(range(10)) and len(loader) == 3
    assert torch.equal(first, torch.cat([b.labels for b in loader]))  # same epoch, same order
    epoch["n"] = 1
    assert not torch.equal(first, torch.cat([b.labels for b in loader]))
    shards = [
        torch.cat([b.labels for b in IndexBatches(x, y, Served(4, True, 3, r, 2))]) for r in (0, 1)
    ]
    assert set(shards[0].tolist()).isdisjoint(shards[1].tolist())
    assert sorted(torch.cat(shards).tolist()) == list(range(10))


def test_shift_translates_each_sample_with_zero_fill():
    from distillctl.data.augment import shift

    x = torch.arange(1.0, 6.0).view(1, 1, 5).repeat(64, 1, 1)
    out = shift(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    for row in out[:, 0]:
        kept = row[row != 0]
        # a contiguous run of the original signal, cut at one end and zero-filled
        start = int(kept[0]) - 1
        assert torch.equal(kept, x[0, 0, start : start + len(kept)]) and len(kept) >= 3
    assert len({tuple(r.tolist()) for r in out[:, 0]}) == 5  # all offsets in [-2, 2] occur
    image = torch.ones(8, 1, 4, 4)
    assert shift(image, 1, torch.Generator().manual_seed(0)).sum() < image.sum()


def test_training_batches_are_augmented_and_evaluation_batches_are_not(tmp_path):
    from distillctl.data import build

    cfg = OmegaConf.create(
        {
            "data": {**DIGITS, "augment": {"shift": 1, "noise": 0.1}},
            "paths": {"data_dir": str(tmp_path)},
            "seed": 0,
        }
    )
    data, _ = build(cfg)
    x_train, _ = data.tensors("train")
    first = next(iter(data.train_dataloader()))
    xb = first.inputs
    assert not any(torch.equal(xb[0], row) for row in x_train)  # noise makes every input new
    xv = next(iter(data.val_dataloader())).inputs
    assert torch.equal(xv, data.tensors("val")[0][: len(xv)])
    again = next(iter(data.train_dataloader())).inputs
    assert torch.equal(xb, again)  # same seed and epoch: the same augmented batch


def test_an_unknown_or_negative_augmentation_is_a_config_error():
    from distillctl.data.augment import build

    with pytest.raises(ConfigError, match="data.augment.rotate is not an augmentation"):
        build({"rotate": 1})
    with pytest.raises(ConfigError, match="data.augment.noise=-1 must not be negative"):
        build({"noise": -1})
    assert build({"shift": 0, "noise": 0.0}) is None


@pytest.mark.parametrize("augment", [{}, {"shift": 1, "noise": 0.1}])
def test_tensor_and_loader_modules_serve_identical_batches(tmp_path, augment):
    """data.in_memory never changes a result: same order, same augmentation draws."""
    from distillctl.data import build
    from distillctl.data.module import LoaderDataModule, TensorDataModule

    def batches(in_memory, workers):
        data = {**DIGITS, "augment": augment, "in_memory": in_memory, "num_workers": workers}
        cfg = OmegaConf.create({"data": data, "paths": {"data_dir": str(tmp_path)}, "seed": 4})
        module, info = build(cfg)
        module.with_index = True
        assert info.identity == identity(cfg.data) and info.sizes["test"] == 360
        kind = TensorDataModule if in_memory else LoaderDataModule
        assert isinstance(module, kind)
        train = list(module.train_dataloader())
        return module, train, list(module.val_dataloader())

    _, tensor_train, tensor_val = batches(True, 0)
    for workers in (0, 1):
        module, train, val = batches(False, workers)
        assert len(train) == len(tensor_train) == len(module.train_dataloader())
        for a, b in zip(tensor_train, train):
            assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)
            assert torch.equal(a.index, b.index)
        assert all(torch.equal(a.inputs, b.inputs) for a, b in zip(tensor_val, val))


def test_in_memory_auto_follows_the_stated_budget(tmp_path):
    from distillctl.data import build_splits
    from distillctl.data.module import in_memory, nbytes

    splits = build_splits(OmegaConf.create(DIGITS), str(tmp_path))
    size_mb = nbytes(splits) / 2**20
    assert in_memory(
        OmegaConf.create({"in_memory": "auto", "memory_budget_mb": size_mb * 2}), splits
    )
    assert not in_memory(
        OmegaConf.create({"in_memory": "auto", "memory_budget_mb": size_mb / 2}), splits
    )
    assert not in_memory(OmegaConf.create({"in_memory": False}), splits)
    with pytest.raises(ConfigError, match="data.in_memory=sometimes is not a choice"):
        in_memory(OmegaConf.create({"in_memory": "sometimes"}), splits)


def test_lightning_moves_a_batch_field_by_field():
    """Lightning's device transfer (move_data_to_device) takes dataclasses apart: a Batch
    arrives as a Batch, every tensor field moved and None kept (pinned: the training steps
    read batch.inputs / batch.index after this transfer)."""
    from pytorch_lightning.utilities import move_data_to_device

    from distillctl.data.batch import Batch

    batch = Batch(torch.zeros(2, 3), torch.tensor([0, 1]), torch.tensor([4, 7]))
    moved = move_data_to_device(batch, torch.device("meta"))
    assert isinstance(moved, Batch) and moved.mask is None
    assert {moved.inputs.device.type, moved.labels.device.type, moved.index.device.type} == {"meta"}
