"""The input kind is a seam: image, signal and tabular are three registered InputKinds, and
the code that differs by kind asks the kind instead of branching on its name."""

import pytest
import torch

from distillctl.data.augment import AUGMENTS
from distillctl.inputs import KINDS, TENSOR, InputKind, example_input, for_shape, kind

SHAPES = {"image": (3, 32, 32), "signal": (1, 40), "tabular": (6,)}


def test_the_four_kinds_are_registered_modules():
    assert set(KINDS) == {"image", "signal", "tabular", "text"}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_kind_declares_what_differs(name):
    entry = kind(name)
    shape = SHAPES[name]
    assert entry.rank == len(shape) and for_shape(shape) is entry
    x = entry.example(shape, n=3)
    assert x.shape == (3, *shape) and x.dtype == (entry.dtype or torch.get_default_dtype())
    assert set(entry.views(shape)) <= set(AUGMENTS)  # its default augmentation exists
    for target in (entry.drawer, entry.tree_filter):  # the report's pictures resolve
        module, _, function = target.partition(":")
        assert callable(getattr(__import__(module, fromlist=[function]), function))
    groups = entry.feature_groups(shape, 2)  # how a perturbation masks features together
    assert groups.shape == shape and groups.dtype == torch.long
    expected = {"image": 16 * 16, "signal": 20, "tabular": 6}[name]  # 2x2 patches, windows of 2
    assert groups.unique().numel() == expected
    assert all(torch.equal(groups[0], g) for g in groups) or name == "tabular"  # channels share
    prepared = entry.preparation(None)  # float inputs pass through; uint8 pixels are scaled
    assert torch.equal(prepared.inputs(x), x)
    assert torch.equal(
        prepared.inputs(torch.full((1, *shape), 255, dtype=torch.uint8)), torch.ones(1, *shape)
    )
    background = torch.randn(5, *shape)
    assert torch.equal(entry.baseline("zero", x, background), torch.zeros(1, *shape))
    assert torch.allclose(entry.baseline("mean", x, background), background.mean(0, True))


def test_a_shape_no_kind_has_gets_float_zeros_for_dry_runs():
    assert for_shape((2, 3, 4, 5)) is TENSOR
    assert torch.equal(example_input((2, 3, 4, 5), n=1), torch.zeros(1, 2, 3, 4, 5))


def test_a_new_kind_is_one_registration(monkeypatch):
    """What transfer=augment turns on is the kind's own default: a kind registered elsewhere
    (here, in a test) is used without a branch anywhere else."""
    from distillctl.data.transfer import kind as kind_used_by_transfer

    cubes = InputKind("cube", 4, lambda s: {"noise": 0.3}, "m:f", "m:g", "its filter")
    monkeypatch.setitem(KINDS._entries, "cube", cubes)
    monkeypatch.setitem(KINDS._facts, "cube", KINDS.fact_type())
    assert kind_used_by_transfer("cube").views((1, 2, 2, 2)) == {"noise": 0.3}
    assert for_shape((1, 2, 2, 2)) is cubes
