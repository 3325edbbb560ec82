"""A value is read once: the composed config becomes frozen specs at the pre-check, and the
stages read those."""

import dataclasses

import pytest
from omegaconf import OmegaConf

from distillctl.configuration.parts import ModelSpec
from distillctl.configuration.specs import GROUPS, Specs, defaults
from distillctl.configuration.validate import validate
from distillctl.errors import ConfigError
from tests.conftest import compose_cfg


def test_the_option_groups_are_made_from_their_specs():
    from hydra import compose, initialize_config_dir

    from distillctl.configuration.groups import config_dir

    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("distill_student")  # the shipped defaults, no test overrides
    for group, spec in GROUPS.items():  # one place for each default: the spec's field
        assert OmegaConf.to_container(cfg[group]) == defaults(spec)
        for field in dataclasses.fields(spec):
            assert field.metadata.get("doc"), f"{group}.{field.name} says what it means"


def test_a_config_is_parsed_once_into_frozen_specs(tmp_path):
    cfg = compose_cfg("distill_student", ["explain.num_inputs=8", "loss=[ce,kd]"], tmp_path)
    specs = validate(cfg)
    assert isinstance(specs, Specs) and validate(cfg) is specs  # not parsed again
    assert specs.explain.num_inputs == 8 and specs.recipe.name == "ce+kd"
    assert specs.teacher_source.kind == "latest" and specs.student.arch == "cnn"
    assert dict(specs.trainer.args)["max_epochs"] == cfg.trainer.max_epochs
    with pytest.raises(dataclasses.FrozenInstanceError):
        specs.explain.num_inputs = 9
    other = validate(compose_cfg("distill_student", ["explain.num_inputs=9"], tmp_path))
    assert other is not specs and other.explain.num_inputs == 9


def test_a_spec_rule_is_one_message_naming_the_key(tmp_path):
    for override, text in (
        ("engine.nan_check_every=0", "engine.nan_check_every=0 is not valid"),
        ("distill.mix_alpha=0", "distill.mix_alpha=0 is not valid"),
        ("explain.quality.subsets=1", "explain.quality.subsets=1 is not valid"),
    ):
        with pytest.raises(ConfigError, match=text):
            validate(compose_cfg("distill_student", [override], tmp_path))


def test_a_counted_class_count_is_filled_in_when_the_data_gives_it():
    spec = ModelSpec("mlp", {"num_classes": None, "hidden": [8]})
    assert spec.node(3) == {"arch": "mlp", "num_classes": 3, "hidden": [8]}
    assert spec.node() == {"arch": "mlp", "num_classes": None, "hidden": [8]}


def test_a_run_config_from_before_the_engine_group_still_parses():
    """A run folder's saved config from before engine: (its NaN guard and compile knobs under
    trainer:) resumes: the knobs are read as engine's, never handed to the Trainer; a new
    config that adds one to trainer: is told where it goes."""
    from distillctl.configuration.specs import parse_all

    old = OmegaConf.create(
        {"trainer": {"max_epochs": 3, "detect_nan": False, "nan_check_every": 4}, "loss": {}}
    )
    old.loss = {"ce": {"weight": 1.0}}
    specs = parse_all(old)
    assert specs.engine.detect_nan is False and specs.engine.nan_check_every == 4
    assert dict(specs.trainer.args) == {"max_epochs": 3}
    both = OmegaConf.create({"trainer": {"compile": True}, "engine": {}, "loss": old.loss})
    with pytest.raises(ConfigError, match="trainer.compile is not a pytorch_lightning.Trainer"):
        parse_all(both)
