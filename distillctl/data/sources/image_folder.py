"""`data=image_folder`: the user's images, one sub-folder per class.

`data.root` is a folder with `train/`, `val/`, `test/` sub-folders of class folders (the ones
present are used; validation and test are carved from train with `split_seed` where absent), or a
single folder of class folders (all carved), or a `.tar`/`.tar.gz` of either, or a folder of such
archives (`train.tar.gz`, `test.tar.gz`). Archives are extracted once into the data cache, keyed
by their size and modification time. Images are decoded once (RGB or grey, resized on the
shorter side and centre-cropped to `image_size`) and cached as uint8 arrays; files that are not
images or cannot be decoded are skipped and reported by name and count.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from distillctl.console import say
from distillctl.data import archives, register
from distillctl.data.splits import Splits, carve, subset
from distillctl.errors import ConfigError, RunError
from distillctl.io import atomic_write_bytes

ARCHIVES = (".tar", ".tar.gz", ".tgz")
SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def _is_archive(path: Path) -> bool:
    return path.is_file() and path.name.endswith(ARCHIVES)


def _stamp(paths: list[Path]) -> str:
    key = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
    return hashlib.sha1(json.dumps(key).encode()).hexdigest()[:12]


def extract(archive: Path, cache: Path) -> Path:
    """The archive's contents in the cache (extracted and verified once per size and mtime)."""
    return archives.extract(archive, cache, f"{archive.name.split('.')[0]}-{_stamp([archive])}")


def locate(root_value: str, data_dir: str, source: str | None = None) -> Path:
    """The folder that holds the split folders (or class folders), archives extracted (that
    it exists is checked with the source's needs: data.check_given)."""
    root = Path(str(root_value)).expanduser()
    cache = Path(data_dir) / "image_folder"
    if _is_archive(root):
        root = extract(root, cache)
    archives = sorted(p for p in root.iterdir() if _is_archive(p)) if root.is_dir() else []
    if archives and not any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir()):
        merged = cache / f"{root.name}-{_stamp(archives)}"
        for archive in archives:
            for item in extract(archive, cache).iterdir():
                link = merged / item.name
                if item.is_dir() and not link.exists():
                    merged.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(item.resolve(), target_is_directory=True)
        root = merged
    # an archive (or folder) of one top folder (photos/train/... or photos/<class>/...): step in
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and entries[0].name not in SPLITS:
        inner = [p for p in entries[0].iterdir() if p.is_dir() and not p.name.startswith(".")]
        if any(p.name in SPLITS for p in inner) or len(inner) >= 2:
            root = entries[0]
    return root


def class_folders(folder: Path, where: str) -> list[Path]:
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise RunError(
            f"{where} {folder} has {len(classes)} class folder(s); an image folder needs one "
            "sub-folder per class, at least two",
            "lay it out as <root>/<class>/<image> (or <root>/train/<class>/<image>)",
        )
    return classes


def to_eight_bits(image):
    """A 16-bit grey image (PIL mode I;16*, or I as older Pillow reads 16-bit PNGs) scaled by its
    bit depth to 8 bits: PIL's own convert() clips it at 255, so most of it turns white."""
    from PIL import Image

    if not (image.mode.startswith("I;16") or image.mode == "I"):
        return image
    wide = np.asarray(image, np.int64)
    return Image.fromarray(np.clip((wide + 128) // 257, 0, 255).astype(np.uint8), "L")


def _decode(path: Path, size: int | None, channels: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        image = to_eight_bits(image).convert("RGB" if channels == 3 else "L")
        if size is not None:
            w, h = image.size
            scale = size / min(w, h)
            if scale != 1.0:
                image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))))
            w, h = image.size
            left, top = (w - size) // 2, (h - size) // 2
            image = image.crop((left, top, left + size, top + size))
        array = np.asarray(image, np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def read_split(folder: Path, names: list[str], size, channels: int, skipped: list[str]):
    """(images, labels) of one split folder whose class folders are `names`."""
    images, labels = [], []
    for label, name in enumerate(names):
        files = (
            sorted(p for p in (folder / name).rglob("*") if p.is_file())
            if (folder / name).is_dir()
            else []
        )
        count = 0
        for path in files:
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append(f"{path.relative_to(folder)} (not an image file)")
                continue
            try:
                array = _decode(path, size, channels)
            except Exception as exc:  # PIL raises many kinds on a damaged file
                skipped.append(f"{path.relative_to(folder)} ({type(exc).__name__})")
                continue
            if images and array.shape != images[0].shape:
                raise RunError(
                    f"{path} is {array.shape[1]}x{array.shape[2]} but earlier images are "
                    f"{images[0].shape[1]}x{images[0].shape[2]}",
                    "set data.image_size=<pixels> to resize every image to one size",
                )
            images.append(array)
            labels.append(label)
            count += 1
        if count == 0 and (folder / name).is_dir():
            raise RunError(
                f"class folder {folder / name} has no readable images",
                "put images in it (jpg, png, ...) or remove the folder",
            )
    return np.stack(images), np.asarray(labels, np.int64)


def _cached(key: dict, data_dir: str, build):
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = Path(data_dir) / "image_folder" / f"decoded-{digest}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {k: stored[k] for k in stored.files}
        except (OSError, ValueError):
            pass  # a damaged cache is rebuilt, not trusted
    arrays = build()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
    return arrays


@register(
    "image_folder",
    identity=(
        "root",
        "image_size",
        "channels",
        "val_fraction",
        "test_fraction",
        "split_seed",
        "subset",
    ),
    files=("root",),
    needs=(("root", "a folder of class folders, or a .tar/.tar.gz of one"),),
    kind="image",
)
def image_folder(cfg, data_dir: str) -> Splits:
    from distillctl.data.sources.vision import channel_stats

    root = locate(cfg.root, data_dir, cfg.get("source"))
    present = [s for s in SPLITS if (root / s).is_dir()]
    if present and "train" not in present:
        raise RunError(
            f"{root} has {', '.join(present)}/ but no train/",
            "add a train/ folder of class folders",
        )
    names = [p.name for p in class_folders(root / "train" if present else root, "data.root")]
    size = int(cfg.image_size) if cfg.get("image_size") else None
    channels = int(cfg.get("channels", 3))
    files = sorted(p for p in root.rglob("*") if p.is_file())
    key = {
        "files": _stamp(files) if files else "",
        "root": str(root.resolve()),
        "size": size,
        "channels": channels,
    }

    def decode():
        skipped: list[str] = []
        out = {}
        for split in present or ["all"]:
            folder = root / split if present else root
            out[f"x_{split}"], out[f"y_{split}"] = read_split(
                folder, names, size, channels, skipped
            )
        out["skipped"] = np.asarray(skipped, dtype=str)
        return out

    arrays = _cached(key, data_dir, decode)
    skipped = [str(s) for s in arrays.get("skipped", [])]
    if skipped:
        shown = "; ".join(skipped[:5]) + (
            f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        )
        say(f"image_folder: skipped {len(skipped)} file(s) that are not readable images: {shown}")
    seed = int(cfg.split_seed)

    def given(split: str):
        """A split the folder gives, in a fixed random order (files are read class by class, so
        `trainer.limit_test_batches` would otherwise see the first classes only)."""
        order = np.random.default_rng(seed).permutation(len(arrays[f"y_{split}"]))
        return arrays[f"x_{split}"][order], arrays[f"y_{split}"][order]

    if present:
        train = given("train")
        test = given("test") if "test" in present else None
    else:
        train, test = (arrays["x_all"], arrays["y_all"]), None
    if test is None:
        train, test = carve(*train, cfg.test_fraction, seed, "test")
    if "val" in present:
        val = given("val")
    else:
        train, val = carve(*train, cfg.val_fraction, seed, "val")
    x_tr, y_tr = subset(*train, cfg.get("subset"), seed)
    splits = Splits(
        x_tr, y_tr, val[0], val[1], test[0], test[1],
        num_classes=len(names), kind="image", class_names=names,
    )  # fmt: skip
    splits.normalise = channel_stats(splits.x_train)
    splits.report = {"skipped_files": len(skipped), "skipped": skipped[:100]}
    return splits


def read_unlabelled_images(folder: Path, splits) -> np.ndarray:
    """Every image file under `folder` (any depth, no classes), decoded to the training images'
    channels and size, for distill.transfer=unlabeled; unreadable files are skipped and named."""
    if splits.kind != "image":
        raise ConfigError(
            f"distill.unlabeled_path={folder} is a folder of images but the data is {splits.kind}",
            "pass a .npy or .pt file of inputs shaped like the training data",
        )
    channels, height, width = splits.x_train.shape[1:]
    if height != width:
        raise ConfigError(
            f"the training images are {height}x{width}; unlabelled images are resized to squares",
            "pass the unlabelled images as a .npy file of uint8 (N, C, H, W) pixels",
        )
    images, skipped = [], []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        try:
            images.append(_decode(path, int(height), int(channels)))
        except Exception as exc:  # PIL raises many kinds on a damaged file
            skipped.append(f"{path.relative_to(folder)} ({type(exc).__name__})")
    if skipped:
        shown = "; ".join(skipped[:5])
        say(f"unlabelled images: skipped {len(skipped)} unreadable file(s): {shown}")
    if not images:
        raise ConfigError(
            f"distill.unlabeled_path={folder} has no readable images",
            "put image files (jpg, png, ...) in it",
        )
    return np.stack(images)
