"""The teacher-output cache: the same results as recomputing, and off where it would be wrong."""

import pytest
import torch

from distillctl.errors import ConfigError
from distillctl.losses.teacher_cache import TeacherCache, decide
from distillctl.runfolder.record import load
from tests.conftest import run_stage


def _student_state(run_dir):
    state = torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("model.")}


@pytest.mark.parametrize("loss", ["[ce,kd]", "[ce,kd,fitnet]"])
def test_cached_teacher_outputs_train_the_same_student(tmp_path, teacher_run, loss):
    common = [f"teacher_ckpt={teacher_run}", f"loss={loss}", "trainer.max_epochs=2",
              "trainer.limit_train_batches=null"]  # fmt: skip
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
