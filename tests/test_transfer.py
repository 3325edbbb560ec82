"""distill.transfer: generated, augmented (mixed) and unlabelled inputs beside the labelled
training split; label terms skip what has no label; the teacher's data stays the labelled data."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from distillctl.data import build_splits, mix
from distillctl.data.sources.mnist1d import generated, transfer_inputs
from distillctl.errors import ConfigError, RunError
from distillctl.losses import build_recipe
from distillctl.losses.ce import masked_cross_entropy
from distillctl.runfolder.record import load
from tests.conftest import compose_cfg, run_stage

MNIST1D = ["data=mnist1d", "data.num_samples=600", "teacher=cnn1d", "student=mlp"]


def _epochs(run_dir) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_generated_inputs_come_from_another_seed_and_never_repeat_a_test_signal(tmp_path):
    cfg = compose_cfg("distill_student", MNIST1D, tmp_path).data
    x = transfer_inputs(cfg, 500, 1, str(tmp_path))
    assert x.shape == (500, 1, 40) and x.dtype == np.float32
    data = generated(int(cfg.num_samples), float(cfg.train_split), int(cfg.generator_seed),
                     str(tmp_path))  # fmt: skip
    test = data["x_test"].astype(np.float32)
    assert not (x[:, 0, None, :] == test[None]).all(-1).any()  # no test signal drawn again
    with pytest.raises(ConfigError, match="generator_seed: the generator would draw the test"):
        transfer_inputs(cfg, 500, int(cfg.generator_seed), str(tmp_path))


def test_a_generated_transfer_set_trains_kd_on_all_and_ce_on_the_labelled(tmp_path):
    teacher, _ = run_stage("train_teacher", tmp_path, *MNIST1D)
    common = [*MNIST1D, "distill.transfer=generated", "distill.transfer_samples=300",
              "trainer.max_epochs=2", "trainer.limit_train_batches=null"]  # fmt: skip
    run_dir, result = run_stage("distill_student", tmp_path, *common)  # teacher_ckpt=latest
    info = load(run_dir)
    assert info["parents"]["teacher"] == str(teacher.resolve())  # the labelled data's teacher
    assert info["transfer"] == {"transfer": "generated", "transfer_samples": 300,
                                "transfer_seed": 1}  # fmt: skip
    cfg = compose_cfg("distill_student", MNIST1D, tmp_path)
    n_train = len(build_splits(cfg.data, str(tmp_path / "data")).y_train)  # labelled split
    rows = _epochs(run_dir)
    for row in rows:  # every epoch: kd saw every input, ce only the labelled ones
        assert float(row["train/samples_ce"]) == n_train
        assert float(row["train/samples_kd"]) == n_train + 300
    assert result["transfer"]["transfer"] == "generated"


def test_the_ce_term_ignores_unlabelled_samples():
    logits = torch.randn(6, 4, requires_grad=True)
    labels = torch.tensor([0, -1, 2, -1, 3, 1])
    loss = masked_cross_entropy(logits, labels)
    keep = labels != -1
    expected = torch.nn.functional.cross_entropy(logits[keep], labels[keep])
    assert torch.allclose(loss, expected)
    loss.backward()
    assert torch.all(logits.grad[~keep] == 0)  # no gradient from an unlabelled sample
    recipe = build_recipe({"ce": {"weight": 1.0}, "kd": {"weight": 1.0, "temperature": 4.0}})
    assert {k: int(v) for k, v in recipe.samples_seen(labels).items()} == {"ce": 4, "kd": 6}


def test_mixup_and_cutmix_follow_their_formulas_and_unlabel_the_batch():
    x = torch.arange(4 * 1 * 10, dtype=torch.float32).view(4, 1, 10)
    y = torch.tensor([0, 1, 2, 3])
    gen = torch.Generator().manual_seed(0)
    lam, perm, _ = mix._draws(4, 1.0, torch.Generator().manual_seed(0))
    mixed, labels = mix.build("mixup", 1.0)(x, y, gen)
    assert torch.allclose(mixed, lam * x + (1 - lam) * x[perm])
    assert torch.all(labels == -1)
    cut, _ = mix.build("cutmix", 1.0)(x, y, torch.Generator().manual_seed(0))
    from_partner = cut == x[perm]
    from_self = cut == x
    assert torch.all(from_partner | from_self)  # every value is the input's or its partner's
    taken = (from_partner & ~from_self)[0, 0]
    if taken.any():  # one contiguous run of steps, of about (1 - lam) of the signal
        where = taken.nonzero().flatten()
        assert where.max() - where.min() + 1 <= round(10 * (1 - lam)) + 1


def test_under_augment_teacher_and_student_receive_the_same_tensor(tmp_path, teacher_run):
    from distillctl.losses import Recipe

    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = Recipe.forward

    def watched(self, student, teacher, x, labels, index, epoch, mask=None):
        inputs = {}
        hooks = [
            m.register_forward_pre_hook(lambda _m, a, key=k: inputs.__setitem__(key, a[0]))
            for k, m in (("student", student), ("teacher", teacher))
        ]
        try:
            return original(self, student, teacher, x, labels, index, epoch, mask)
        finally:
            for hook in hooks:
                hook.remove()
            seen.append((inputs["student"], inputs["teacher"], labels))

    Recipe.forward = watched
    try:
        args = [f"teacher_ckpt={teacher_run}", "distill.transfer=augment", "distill.mix=mixup"]
        run_dir, _ = run_stage("distill_student", tmp_path, *args)
    finally:
        Recipe.forward = original
    assert seen and all(torch.equal(s, t) for s, t, _ in seen)
    assert all(torch.all(labels == -1) for _, _, labels in seen)  # mixed: no true label
    assert load(run_dir)["transfer"]["views"] == {"crop": 1, "flip": 0}  # digits: 8x8 images


def test_an_unlabelled_file_of_the_wrong_shape_or_kind_is_named(tmp_path, teacher_run):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((5, 7), np.float32))
    args = [f"teacher_ckpt={teacher_run}", "distill.transfer=unlabeled"]
    with pytest.raises(ConfigError, match=r"inputs of shape \[7\] but the data's inputs are"):
        run_stage("distill_student", tmp_path, *args, f"distill.unlabeled_path={wrong}")
    for name, values, what in (
        ("complex", np.zeros((5, 1, 8, 8), np.complex64), "holds complex64 values"),
        ("strings", np.full((5, 1, 8, 8), "a"), "holds <U1 values"),
        ("nan", np.full((5, 1, 8, 8), np.nan, np.float32), "holds NaN or infinite values"),
    ):
        np.save(tmp_path / f"{name}.npy", values)
        with pytest.raises(ConfigError, match=what):
            run_stage("distill_student", tmp_path, *args,
                      f"distill.unlabeled_path={tmp_path / f'{name}.npy'}", name=name)  # fmt: skip
    good = tmp_path / "good.pt"
    torch.save({"x": torch.rand(20, 1, 8, 8)}, good)
    run_dir, _ = run_stage("distill_student", tmp_path, *args, f"distill.unlabeled_path={good}",
                           name="good")  # fmt: skip
    assert load(run_dir)["transfer"]["transfer_samples"] == 20
    with pytest.raises(ConfigError, match="distill.mix=mixup mixes consistent views"):
        run_stage("distill_student", tmp_path, f"teacher_ckpt={teacher_run}", "distill.mix=mixup")


def test_a_folder_of_unlabelled_images_is_decoded_to_the_training_images_size(tmp_path):
    from PIL import Image

    from distillctl.data.sources.image_folder import read_unlabelled_images
    from distillctl.data.splits import Splits

    folder = tmp_path / "unlabelled" / "any" / "depth"
    folder.mkdir(parents=True)
    for i, size in enumerate((12, 20)):
        Image.new("RGB", (size, size), (10 * i, 0, 0)).save(folder / f"{i}.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    pixels = np.zeros((4, 3, 8, 8), np.uint8)
    labels = np.zeros(4, np.int64)
    splits = Splits(pixels, labels, pixels, labels, pixels, labels, num_classes=2, kind="image")
    x = read_unlabelled_images(tmp_path / "unlabelled", splits)
    assert x.shape == (2, 3, 8, 8) and x.dtype == np.uint8 and x[1, 0, 0, 0] == 10


def test_an_unlabelled_csv_is_encoded_as_the_labelled_tables_training_rows(tmp_path):
    from distillctl.data.sources.csv_table import unlabelled_rows
    from tests.test_user_data import _csv_cfg, _wine_csv

    labelled = _wine_csv(tmp_path / "wine.csv")
    cfg = _csv_cfg(labelled)
    splits = build_splits(cfg, str(tmp_path))
    # the same rows without their target, columns in another order: the same encoding
    lines = [line.split(",") for line in labelled.read_text().splitlines()]
    header = lines[0]
    keep = [i for i, h in enumerate(header) if h != "cultivar"][::-1]
    table = tmp_path / "more.csv"
    table.write_text("\n".join(",".join(row[i] for i in keep) for row in lines) + "\n")
    x = unlabelled_rows(cfg, table)
    assert x.shape == (178, splits.input_shape[0])
    rows = {tuple(np.round(r, 5)) for r in x}
    assert all(tuple(np.round(r, 5)) in rows for r in splits.x_train)  # the same encoding
    table.write_text("alcohol,colour\n13.2,red\n")
    with pytest.raises(RunError, match="lacks the column"):
        unlabelled_rows(cfg, table)
    # through a distillation: the rows join the training split unlabelled
    table.write_text("\n".join(",".join(row[i] for i in keep) for row in lines[:41]) + "\n")
    common = ["data=csv", f"data.path={labelled}", "data.target=cultivar", "teacher=mlp",
              "student=mlp"]  # fmt: skip
    run_stage("train_teacher", tmp_path, *common)
    run_dir, _ = run_stage("distill_student", tmp_path, *common, "distill.transfer=unlabeled",
                           f"distill.unlabeled_path={table}")  # fmt: skip
    assert load(run_dir)["transfer"]["transfer_samples"] == 40
