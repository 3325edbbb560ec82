"""The user's own data: image folders (real photographs, tests/fixtures/cifar10-jpeg), CSV tables,
synthetic."""

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from distillctl.data import build, build_splits, identity
from distillctl.errors import ConfigError, RunError
from tests.conftest import run_stage

# 10 CIFAR-10 photographs per class per split, committed (see its README): no ../shared needed
PHOTOS = Path(__file__).resolve().parent / "fixtures" / "cifar10-jpeg"


def _real_jpegs(split: str, per_class: int) -> dict[str, bytes]:
    """The first `per_class` photographs of each class from the committed CIFAR-10 archive."""
    taken: dict[str, int] = {}
    out = {}
    with tarfile.open(PHOTOS / f"{split}.tar.gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and taken.get(parts[1], 0) < per_class:
                taken[parts[1]] = taken.get(parts[1], 0) + 1
                out[member.name] = tar.extractfile(member).read()
            if len(taken) == 10 and all(v >= per_class for v in taken.values()):
                break
    return out


def _archive(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _cfg(**data):
    base = {
        "name": "image_folder",
        "root": None,
        "num_classes": None,
        "image_size": None,
        "channels": 3,
        "test_fraction": 0.2,
        "val_fraction": 0.2,
        "split_seed": 0,
        "subset": None,
        "batch_size": 8,
    }
    return OmegaConf.create({**base, **data})


@pytest.fixture(scope="module")
def photo_archives(tmp_path_factory) -> Path:
    """A folder laid out like the CIFAR-10 JPEG archives: train.tar.gz and test.tar.gz,
    with a damaged JPEG and a stray text file in train."""
    root = tmp_path_factory.mktemp("photos")
    train = _real_jpegs("train", 5)
    train["train/cat/broken.jpg"] = b"\xff\xd8\xff not really a jpeg"
    train["train/dog/notes.txt"] = b"not an image"
    _archive(root / "train.tar.gz", train)
    _archive(root / "test.tar.gz", _real_jpegs("test", 2))
    return root


def test_an_image_folder_of_archives_reads_real_photographs(photo_archives, tmp_path):
    cfg = _cfg(root=str(photo_archives))
    splits = build_splits(cfg, str(tmp_path))
    assert splits.input_shape == (3, 32, 32) and splits.x_train.dtype == np.uint8
    assert splits.class_names[:3] == ["airplane", "automobile", "bird"]
    # 50 photographs in train, 2 unreadable files skipped and named; val carved, test given
    assert splits.sizes() == {"train": 40, "val": 10, "test": 20}
    assert splits.report["skipped_files"] == 2
    assert any("broken.jpg" in s for s in splits.report["skipped"])
    assert any("notes.txt (not an image file)" in s for s in splits.report["skipped"])
    assert 0.2 < splits.normalise[0][0] < 0.8  # channel statistics of real photographs
    marker = next((tmp_path / "image_folder").glob("train-*/.extracted"))
    stamp = marker.stat().st_mtime_ns
    again = build_splits(cfg, str(tmp_path))  # extracted and decoded once, then cached
    assert marker.stat().st_mtime_ns == stamp and np.array_equal(again.x_test, splits.x_test)


def test_one_folder_of_classes_is_carved_and_can_be_grey_and_resized(photo_archives, tmp_path):
    folder = tmp_path / "flat"
    for name, data in _real_jpegs("test", 5).items():
        path = folder / Path(name).relative_to("test")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    grey = _cfg(root=str(folder), channels=1, image_size=16, val_fraction=0.25)
    splits = build_splits(grey, str(tmp_path))
    assert splits.input_shape == (1, 16, 16)
    assert splits.sizes() == {"train": 30, "val": 10, "test": 10}
    with pytest.raises(ConfigError, match="cannot hold every one of the 10 classes"):
        build_splits(_cfg(root=str(folder), image_size=16, val_fraction=0.1), str(tmp_path))
    assert identity(_cfg(root=str(folder))) != identity(_cfg(root=str(folder), image_size=16))
    (folder / "empty").mkdir()
    with pytest.raises(RunError, match="class folder .*empty has no readable images"):
        build_splits(grey, str(tmp_path / "other"))


def test_a_missing_root_is_named(tmp_path):
    with pytest.raises(ConfigError, match="data.root=.*nowhere does not exist"):
        build_splits(_cfg(root=str(tmp_path / "nowhere")), str(tmp_path))


def _wine_csv(path: Path, gaps: bool = True) -> Path:
    from sklearn.datasets import load_wine

    bunch = load_wine()
    colours = ["red", "white", "rose"]
    lines = [",".join([*bunch.feature_names, "colour", "cultivar"])]
    for i, (row, label) in enumerate(zip(bunch.data, bunch.target)):
        values = [f"{v:g}" for v in row]
        if gaps and i % 25 == 3:
            values[0] = ""  # a missing alcohol value every 25 rows
        lines.append(",".join([*values, colours[i % 3], f"c{label}"]))
    path.write_text("\n".join(lines) + "\n")
    return path


def _csv_cfg(path: Path, **extra):
    base = {
        "name": "csv",
        "path": str(path),
        "target": "cultivar",
        "categorical": [],
        "missing": "impute",
        "num_classes": None,
        "test_fraction": 0.2,
        "val_fraction": 0.1,
        "split_seed": 0,
        "batch_size": 16,
    }
    return OmegaConf.create({**base, **extra})


def test_a_csv_table_is_encoded_with_training_statistics_only(tmp_path):
    splits = build_splits(_csv_cfg(_wine_csv(tmp_path / "wine.csv")), str(tmp_path))
    assert splits.num_classes == 3 and splits.class_names == ["c0", "c1", "c2"]
    assert splits.feature_names[-3:] == ["colour=red", "colour=rose", "colour=white"]
    assert splits.input_shape == (13 + 3,)
    assert np.allclose(splits.x_train[:, :13].mean(axis=0), 0, atol=0.02)  # gaps hold the mean
    assert splits.report["imputed"] == {"alcohol": 7}
    assert sum(splits.sizes().values()) == 178


def test_csv_mistakes_are_named_by_column_and_line(tmp_path):
    path = _wine_csv(tmp_path / "wine.csv")
    with pytest.raises(RunError, match="column 'alcohol' has 7 missing value"):
        build_splits(_csv_cfg(path, missing="error"), str(tmp_path))
    with pytest.raises(RunError, match="no column 'label' .*columns: alcohol"):
        build_splits(_csv_cfg(path, target="label"), str(tmp_path))
    text = path.read_text().splitlines()
    text[5] = text[5].replace(text[5].split(",")[1], "lots", 1)
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(
        RunError, match="column 'malic_acid' of .* is numeric but line 6 holds 'lots'"
    ):
        build_splits(_csv_cfg(path), str(tmp_path))
    text[5] = text[5].replace("lots", "inf", 1)  # would reach training as a NaN loss
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(RunError, match="line 6 holds 'inf' \\(not a finite number\\)"):
        build_splits(_csv_cfg(path), str(tmp_path))
    only_target = tmp_path / "labels.csv"
    only_target.write_text("cultivar\n1\n2\n1\n2\n")
    with pytest.raises(RunError, match="has only the target column 'cultivar'"):
        build_splits(_csv_cfg(only_target), str(tmp_path))


def test_a_word_in_a_numeric_column_of_the_unlabelled_table_is_named(tmp_path):
    from distillctl.data.sources.csv_table import unlabelled_rows

    path = _wine_csv(tmp_path / "wine.csv", gaps=False)
    lines = path.read_text().splitlines()
    more = tmp_path / "more.csv"
    bad = lines[3].split(",")
    bad[2] = "plenty"
    more.write_text("\n".join([lines[0], lines[1], ",".join(bad)]) + "\n")
    with pytest.raises(
        RunError, match="column 'ash' of .*more.csv is numeric but line 3 holds 'plenty'"
    ):
        unlabelled_rows(_csv_cfg(path), more)


def test_a_teacher_trains_on_a_csv_with_classes_counted_from_the_table(tmp_path):
    path = _wine_csv(tmp_path / "wine.csv")
    run_dir, result = run_stage(
        "train_teacher", tmp_path, "data=csv", f"data.path={path}", "data.target=cultivar",
        "teacher=mlp", "trainer.max_epochs=3", "trainer.limit_train_batches=null",
    )  # fmt: skip
    record = json.loads((run_dir / "run.json").read_text())
    assert record["data_report"]["imputed"] == {"alcohol": 7}
    assert record["model"]["num_classes"] == 3
    assert result["test_acc"] > 0.5  # wine is easy; three epochs learn something
    # distil and explain it: explain rebuilds the table from the run's data identity alone
    table = [f"data.path={path}", "data.target=cultivar", "teacher=mlp", "student=mlp"]
    distilled, _ = run_stage("distill_student", tmp_path, "data=csv", *table)
    explained, _ = run_stage("explain", tmp_path, f"explain.run={distilled}")
    assert (explained / "attributions" / "feature_importance.png").exists()
    assert json.loads((explained / "run.json").read_text())["data"]["target"] == "cultivar"


def test_synthetic_data_has_the_asked_shape_and_classes(tmp_path):
    data = {"name": "synthetic", "shape": [3, 8, 8], "num_classes": 7, "num_samples": 64,
            "num_test": 16, "generator_seed": 0, "batch_size": 32}  # fmt: skip
    cfg = OmegaConf.create({"data": data, "paths": {"data_dir": str(tmp_path)}, "seed": 0})
    module, info = build(cfg)
    assert info.input_shape == (3, 8, 8) and info.num_classes == 7 and info.kind == "image"
    first = next(iter(module.train_dataloader()))
    x, y = first.inputs, first.labels
    assert x.shape == (32, 3, 8, 8) and x.dtype.is_floating_point and int(y.max()) < 7


def test_data_info_prints_sizes_classes_shape_and_identity(tmp_path, capsys, monkeypatch):
    from distillctl.commands.data_info import data_info

    monkeypatch.setenv("DISTILLCTL_DATA", str(tmp_path))
    path = _wine_csv(tmp_path / "wine.csv")
    data_info(["data=csv", f"data.path={path}", "data.target=cultivar"])
    out = capsys.readouterr().out
    assert "train 127, val 15, test 36" in out and "3: c0, c1, c2" in out
    assert "[16] (tabular)" in out and "identity" in out and "target=cultivar" in out
    assert "{'alcohol': 7}" in out


def test_given_splits_are_in_a_fixed_mixed_order_not_class_by_class(photo_archives, tmp_path):
    splits = build_splits(_cfg(root=str(photo_archives)), str(tmp_path))
    first = splits.y_test[:10]
    assert len(set(first.tolist())) > 3  # the first batch of a limited test run sees many classes
    again = build_splits(_cfg(root=str(photo_archives)), str(tmp_path))
    assert np.array_equal(again.y_test, splits.y_test)


def test_a_folder_typed_relative_or_absolute_is_the_same_data(
    photo_archives, tmp_path, monkeypatch
):
    """data.root is made absolute once: a teacher trained on /abs/photos is found by
    teacher_ckpt=latest from a distill that says ../photos (and the saved configs say where)."""
    monkeypatch.chdir(photo_archives.parent)
    common = ["data=image_folder", "data.val_fraction=0.2", "teacher=mlp", "student=mlp"]
    teacher, _ = run_stage("train_teacher", tmp_path, *common, f"data.root={photo_archives}")
    monkeypatch.chdir(photo_archives)
    relative = f"data.root=../{photo_archives.name}"
    run_dir, _ = run_stage("distill_student", tmp_path, *common, relative)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["parents"]["teacher"] == str(teacher.resolve())
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert saved.data.root == str(photo_archives) and saved.data.num_classes is None
    assert record["num_classes"] == 10  # counted from the folders: run.json says it


def test_sixteen_bit_images_are_scaled_by_their_bit_depth(tmp_path):
    """A dark and a bright class of 16-bit grey PNGs keep their contrast (PIL's convert clips
    16-bit values at 255: near-white everywhere)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, level in (("dark", 8000), ("bright", 56000)):
        (tmp_path / "pngs" / name).mkdir(parents=True)
        for i in range(10):
            pixels = (level + rng.integers(-2000, 2000, (8, 8))).astype(np.uint16)
            Image.fromarray(pixels).save(tmp_path / "pngs" / name / f"{i}.png")
    splits = build_splits(_cfg(root=str(tmp_path / "pngs"), channels=1), str(tmp_path))
    x = np.concatenate([splits.x_train, splits.x_val, splits.x_test]).astype(float)
    y = np.concatenate([splits.y_train, splits.y_val, splits.y_test])
    bright = splits.class_names.index("bright")
    assert (
        abs(x[y == bright].mean() - 56000 / 257) < 3 and abs(x[y != bright].mean() - 8000 / 257) < 3
    )


def _photo_tar(path: Path, top: str = "", compress: bool = True) -> Path:
    """40 photographs of two classes (20 each), optionally under one top folder."""
    files = {
        f"{top}{name.split('/', 1)[1]}": data
        for name, data in _real_jpegs("train", 10).items()
        if name.split("/")[1] in ("cat", "dog")
    }
    files.update(
        {f"{top}cat/extra{i}.jpg": files[f"{top}cat/0000.jpg"] for i in range(10)}
        | {f"{top}dog/extra{i}.jpg": files[f"{top}dog/0000.jpg"] for i in range(10)}
    )
    with tarfile.open(path, "w:gz" if compress else "w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_damaged_archive_is_one_message_and_never_a_short_data_set(tmp_path):
    import gzip

    cfg = lambda root: _cfg(root=str(root), val_fraction=0.25)  # noqa: E731
    good = _photo_tar(tmp_path / "good.tar.gz")
    assert sum(build_splits(cfg(good), str(tmp_path / "d0")).sizes().values()) == 40
    # a gzip CRC mismatch: the last 8 bytes hold CRC32 and length
    crc = tmp_path / "crc.tar.gz"
    data = bytearray(good.read_bytes())
    data[-8] ^= 0xFF
    crc.write_bytes(bytes(data))
    with pytest.raises(RunError, match=r"crc.tar.gz is damaged: .*CRC"):
        build_splits(cfg(crc), str(tmp_path / "d1"))
    # a damaged member header half-way: tarfile alone would stop there, as if the archive ended
    plain = _photo_tar(tmp_path / "plain.tar", compress=False)
    raw = bytearray(plain.read_bytes())
    with tarfile.open(plain) as tar:
        middle = tar.getmembers()[20]
    raw[middle.offset : middle.offset + 100] = b"\x07" * 100
    header = tmp_path / "header.tar"
    header.write_bytes(bytes(raw))
    with pytest.raises(RunError, match=r"header.tar is damaged: a member header after member"):
        build_splits(cfg(header), str(tmp_path / "d2"))
    assert not list((tmp_path / "d2").rglob(".extracted"))  # nothing cached as complete
    # a gzip stream that cannot be inflated
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(gzip.compress(b"x" * 5000)[:30] + b"\x00garbage" * 50)
    with pytest.raises(RunError, match=r"broken.tar.gz is damaged"):
        build_splits(cfg(broken), str(tmp_path / "d3"))


def test_a_cached_extraction_that_lost_files_is_extracted_again(tmp_path):
    good = _photo_tar(tmp_path / "good.tar.gz")
    build_splits(_cfg(root=str(good), val_fraction=0.25), str(tmp_path))
    (folder,) = (tmp_path / "image_folder").glob("good-*")
    victims = sorted(folder.rglob("*.jpg"))[:5]
    for victim in victims:
        victim.unlink()
    for cached in (tmp_path / "image_folder").glob("decoded-*"):
        cached.unlink()
    again = build_splits(_cfg(root=str(good), val_fraction=0.25), str(tmp_path))
    assert sum(again.sizes().values()) == 40 and all(v.exists() for v in victims)


def test_an_archive_of_one_top_folder_of_classes_is_read_inside_it(tmp_path):
    nested = _photo_tar(tmp_path / "nested.tar.gz", top="photos/")
    splits = build_splits(_cfg(root=str(nested), val_fraction=0.25), str(tmp_path))
    assert splits.class_names == ["cat", "dog"] and sum(splits.sizes().values()) == 40


def test_list_layers_takes_the_class_count_a_table_gives(tmp_path, capsys):
    """A CSV's classes are counted, not typed: `list layers` builds the network with that count
    (it stopped in a TypeError on num_classes=None before)."""
    from distillctl.commands.layers import list_layers

    path = _wine_csv(tmp_path / "wine.csv")
    args = ["data=csv", f"data.path={path}", "data.target=cultivar", "teacher=mlp"]
    list_layers([*args, f"paths.output_root={tmp_path}", f"paths.data_dir={tmp_path}"])
    out = capsys.readouterr().out
    assert "head" in out and "(3,)" in out  # three cultivars
