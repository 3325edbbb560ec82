"""The teacher-output cache: the same results as recomputing, and off where it would be wrong."""

import pytest
import torch

from distillctl.errors import ConfigError
from distillctl.losses.teacher_cache import TeacherCache, decide
from distillctl.losses.teacher_store import DeviceStore, DiskStore, cache_key
from distillctl.runfolder.record import load
from tests.conftest import run_stage


def _student_state(run_dir):
    state = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("model.")}


@pytest.mark.parametrize(
    "loss, store", [("[ce,kd]", "memory"), ("[ce,kd,fitnet]", "memory"), ("[ce,kd,fitnet]", "disk")]
)
def test_cached_teacher_outputs_train_the_same_student(tmp_path, teacher_run, loss, store):
    common = [f"teacher_ckpt={teacher_run}", f"loss={loss}", "trainer.max_epochs=2",
              "trainer.limit_train_batches=null", f"teacher_cache_store={store}"]  # fmt: skip
    cached, _ = run_stage("distill_student", tmp_path, *common, "teacher_cache=true", name="c")
    plain, _ = run_stage("distill_student", tmp_path, *common, "teacher_cache=false", name="p")
    a, b = _student_state(cached), _student_state(plain)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)  # bit for bit
    assert load(cached)["status"] == load(plain)["status"] == "done"


def test_the_cache_serves_every_sample_once_complete_and_refuses_what_it_cannot_hold():
    cache = TeacherCache(size=6, budget_bytes=1e6)
    calls = []

    def compute(index):
        def run():
            calls.append(index.tolist())
            return {"__logits__": index.float()[:, None] * torch.ones(1, 3)}

        return run

    for index in (torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])):
        cache.lookup(index, compute(index))
    assert cache.complete and len(calls) == 2
    out = cache.lookup(torch.tensor([5, 0]), compute(torch.tensor([5, 0])))
    assert len(calls) == 2  # served from the cache, no teacher pass
    assert torch.equal(out["__logits__"][:, 0], torch.tensor([5.0, 0.0]))
    tiny = TeacherCache(size=1000, budget_bytes=100)
    tiny.lookup(torch.tensor([0]), compute(torch.tensor([0])))
    assert "exceed data.memory_budget_mb" in tiny.disabled and tiny.store is None


def test_the_cache_is_off_with_augmentation_or_a_graph_and_true_then_is_refused():
    assert decide("auto", augmented=False, needs_graph=False)[0]
    assert decide("auto", augmented=True, needs_graph=False) == (
        False,
        "off: random augmentation changes the teacher's input every epoch",
    )
    assert not decide("auto", augmented=False, needs_graph=True)[0]
    with pytest.raises(ConfigError, match="teacher_cache=true, but random augmentation"):
        decide("true", augmented=True, needs_graph=False)


def _teacher_outputs(index):
    def run():
        CALLS.append(index.tolist())
        return {"__logits__": index.float()[:, None] * torch.ones(1, 3), "f": index[:, None] * 1.0}

    return run


CALLS: list = []


def test_a_disk_entry_is_written_whole_then_reused_without_a_teacher_pass(tmp_path):
    CALLS.clear()
    entry = tmp_path / "teacher_outputs" / "k"
    first = TeacherCache(size=5, budget_bytes=10, store="auto", entry=entry)  # over budget
    first.lookup(torch.tensor([0, 1, 2]), _teacher_outputs(torch.tensor([0, 1, 2])))
    assert isinstance(first.store, DiskStore) and not entry.exists()  # half-written: private
    assert DiskStore.open(entry) is None
    first.lookup(torch.tensor([3, 4]), _teacher_outputs(torch.tensor([3, 4])))
    assert (entry / "meta.json").exists() and not list(tmp_path.rglob("*.tmp-*"))
    CALLS.clear()
    again = TeacherCache(size=5, budget_bytes=1e6, store="auto", entry=entry)
    assert again.reused == entry and again.complete
    out = again.lookup(torch.tensor([4, 1]), _teacher_outputs(torch.tensor([4, 1])))
    assert CALLS == []  # no teacher pass in the run that found the entry
    assert torch.equal(out["__logits__"][:, 2], torch.tensor([4.0, 1.0]))
    assert out["__logits__"].dtype == torch.float32 and isinstance(again.store, DeviceStore)
    # an entry for another number of samples is not this data's: recomputed
    assert TeacherCache(size=6, budget_bytes=1e6, store="disk", entry=entry).reused is None


def test_the_disk_key_follows_the_teacher_weights_and_the_data_not_the_serving():
    teacher = torch.nn.Linear(4, 3)
    data = {"name": "digits", "seed": 0, "batch_size": 64, "subset": None}
    extra = {"layers": [], "precision": "32-true", "channels_last": False}
    key = cache_key(teacher, data, extra)
    assert cache_key(teacher, {**data, "batch_size": 32, "num_workers": 2}, extra) == key
    assert cache_key(teacher, {**data, "subset": 100}, extra) != key
    assert cache_key(teacher, data, {**extra, "layers": ["fc"]}) != key
    assert cache_key(teacher, data, {**extra, "precision": "bf16-mixed"}) != key
    with torch.no_grad():
        teacher.weight[0, 0] += 1e-6  # one weight, barely moved: another teacher
    assert cache_key(teacher, data, extra) != key


def test_a_second_distillation_reuses_the_first_ones_disk_entry(tmp_path, teacher_run, capsys):
    common = [f"teacher_ckpt={teacher_run}", "teacher_cache_store=disk", "trainer.max_epochs=2",
              "trainer.limit_train_batches=null"]  # fmt: skip
    first, _ = run_stage("distill_student", tmp_path, *common, name="first")
    assert "reusing" not in capsys.readouterr().out
    (entry,) = (tmp_path / ".cache" / "teacher_outputs").iterdir()
    second, _ = run_stage("distill_student", tmp_path, *common, name="second")
    assert f"reusing {entry}" in capsys.readouterr().out
    assert load(second)["teacher_cache"] == str(entry)
    a, b = _student_state(first), _student_state(second)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("damage", ["overwritten", "truncated"])
def test_a_damaged_disk_entry_is_named_recomputed_and_replaced(tmp_path, capsys, damage):
    """Other numbers of the right shape in one .npy (or a file cut short) are never trained on:
    the checksum written with the entry names it, the teacher runs again, the entry is replaced."""
    import numpy as np

    entry = tmp_path / "teacher_outputs" / "k"
    first = TeacherCache(size=4, budget_bytes=10, store="disk", entry=entry)
    first.lookup(torch.arange(4), _teacher_outputs(torch.arange(4)))
    (npy,) = entry.glob("0.npy")
    if damage == "overwritten":
        stored = np.load(npy)
        np.save(npy, np.random.default_rng(0).normal(size=stored.shape).astype(stored.dtype))
    else:
        npy.write_bytes(npy.read_bytes()[:-8])
    CALLS.clear()
    again = TeacherCache(size=4, budget_bytes=10, store="disk", entry=entry)
    printed = "".join(capsys.readouterr()).replace("\n", " ")
    assert again.reused is None and "is damaged (0.npy does not match the checksum" in printed
    out = again.lookup(torch.arange(4), _teacher_outputs(torch.arange(4)))
    assert CALLS != []  # the teacher ran again
    assert torch.equal(out["__logits__"][:, 2], torch.arange(4.0))
    third = TeacherCache(size=4, budget_bytes=10, store="disk", entry=entry)
    assert third.reused == entry  # replaced by an intact entry: reused from now on
    assert torch.equal(third.lookup(torch.arange(4), None)["__logits__"][:, 2], torch.arange(4.0))
