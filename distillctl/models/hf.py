"""`hf`: a Hugging Face transformers model for sequence classification
(`AutoModelForSequenceClassification`), `teacher=hf teacher.name=<hub id or folder>`.

`pretrained=true` loads the checkpoint's weights (its classification head re-sized to the
data's classes, newly initialised where the sizes differ); `false` builds the same
architecture from its config with random weights. Names resolve through distillctl/hub.py (a
folder anywhere; a hub id from the Hugging Face cache, or the network when there is one).

The network reads distillctl's token ids (inputs/text.py, [PAD] = 0) and renumbers them to the
model's own vocabulary with the swap of data/model_tokenizer.py (so its data must use
`data.tokenizer=model` with a tokenizer of this vocabulary). Its feature stages are declared like
every other network's: the embedding layer's output (`embedded`) and each layer's hidden states
(`states.<i>`, channel-first (B, d, L)), each layer's attention probabilities (`probs.<i>`,
the named choice `attention`), the last layer's first-token state as the embedding (`cls`).
Attention probabilities need transformers' eager attention, which this builder asks for; the
attention dropout is set to 0 so that what a term reads is a distribution in training mode too.
"""

from __future__ import annotations

import torch
from torch import nn

from distillctl.bounds import Bound
from distillctl.errors import ConfigError
from distillctl.inputs.text import real_tokens
from distillctl.models import ShapeError, register
from distillctl.models.text_blocks import ChannelsFirst, expect_text, finish

# the config fields of attention dropout in transformers' model families
ATTENTION_DROPOUT = ("attention_probs_dropout_prob", "attention_dropout")


def _name_given(node: dict, role: str) -> None:
    """Before any run folder: the model is a folder with config.json, cached, or fetchable."""
    from distillctl.hub import model_config

    if not node.get("name"):
        raise ConfigError(
            f"{role}=hf needs {role}.name: a Hugging Face hub id or a saved model's folder",
            f"e.g. {role}.name=distilbert-base-uncased or {role}.name=/path/to/saved_model",
        )
    model_config(str(node["name"]), f"{role}.name")


def vocabulary(name: str) -> dict[str, int]:
    from transformers import AutoTokenizer

    from distillctl.hub import loads_locally

    return AutoTokenizer.from_pretrained(name, **loads_locally(name)).get_vocab()


def _reads_its_tokenizer(node: dict, cfg, role: str) -> None:
    """Before any run folder: the data's ids come from this model's tokenizer (or one with the
    same vocabulary), else its embedding rows would mean other words."""
    data = cfg.get("data") or {}
    name, source = str(node.get("name")), data.get("tokenizer_from")
    align = str((cfg.get("distill") or {}).get("align", "tokens"))
    if role == "teacher" and align == "words" and cfg.get("stage") != "train_teacher":
        return  # it reads the texts with the tokenizer it was trained with (data/aligned.py)
    if str(data.get("tokenizer")) != "model":
        if not node.get("pretrained", True):
            return  # random weights learn whatever ids the data gives
        raise ConfigError(
            f"{role}=hf reads the ids of its own tokenizer, but data.tokenizer="
            f"{data.get('tokenizer')} trains another",
            f"set data.tokenizer=model data.tokenizer_from={name}",
        )
    if source and str(source) != name and vocabulary(name) != vocabulary(str(source)):
        raise ConfigError(
            f"{role}=hf {name} has another vocabulary than the data's tokenizer "
            f"(data.tokenizer_from={source}): the same ids would mean other tokens",
            f"give the {role} a model of that vocabulary; or, to distil across vocabularies, "
            f"the data's tokenizer is the student's (data.tokenizer_from=<the student's model>) "
            "and distill.align=words lets the teacher read its own",
        )


class HFClassifier(nn.Module):
    """A transformers classifier on distillctl's ids, its hidden states and attention tapped."""

    def __init__(self, model: nn.Module, to_model: torch.Tensor, layers: int):
        super().__init__()
        self.model = model
        # our id -> the model's id (not saved: it is rebuilt from the tokenizer's specials)
        self.register_buffer("to_model", to_model, persistent=False)
        self.embedded = ChannelsFirst()
        self.states = nn.ModuleList(ChannelsFirst() for _ in range(layers))
        self.probs = nn.ModuleList(nn.Identity() for _ in range(layers))
        self.cls = nn.Identity()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = real_tokens(ids)
        out = self.model(
            input_ids=self.to_model[ids],
            attention_mask=mask.long(),
            output_hidden_states=True,
            output_attentions=True,
        )
        self.embedded(out.hidden_states[0])
        for tap, states in zip(self.states, out.hidden_states[1:]):
            tap(states)
        for tap, probs in zip(self.probs, out.attentions):
            tap(probs)
        self.cls(out.hidden_states[-1][:, 0])
        return out.logits


def _layer_list(model: nn.Module, layers: int) -> str:
    """The dotted name of the model's list of transformer layers (bert.encoder.layer,
    distilbert.transformer.layer, ...)."""
    found = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and len(module) == layers
    ]
    return found[0] if found else ""


def load(name: str, num_classes: int, pretrained: bool, role: str) -> nn.Module:
    from transformers import AutoModelForSequenceClassification

    from distillctl.hub import loads_locally, model_config

    config = model_config(name, f"{role}.name")
    saved_labels = int(config.num_labels)
    config.num_labels = int(num_classes)
    for field in ATTENTION_DROPOUT:
        if hasattr(config, field):
            setattr(config, field, 0.0)
    config._attn_implementation = "eager"  # attention probabilities are returned
    if not pretrained:
        return AutoModelForSequenceClassification.from_config(config)
    from transformers.utils import logging

    quiet = logging.get_verbosity()
    logging.set_verbosity_error()  # its loading report and progress bar are not distillctl's
    logging.disable_progress_bar()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            name, config=config, ignore_mismatched_sizes=True, **loads_locally(name)
        )
        if saved_labels != int(num_classes):
            from distillctl.console import say

            say(
                f"{name}: its classification head ({saved_labels} classes) is replaced by a new "
                f"one for the data's {num_classes}, randomly initialised"
            )
        return model
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{role}.name={name}: its weights do not load ({str(exc).splitlines()[0]})",
            f"point {role}.name at a folder save_pretrained wrote, or use {role}.pretrained=false",
        ) from None
    finally:
        logging.set_verbosity(quiet)


def to_model_ids(name: str, size: int, role: str) -> torch.Tensor:
    """our id -> the model's id: the swap data/model_tokenizer.py applied to the data."""
    from transformers import AutoTokenizer

    from distillctl.data.model_tokenizer import permutation, special_ids
    from distillctl.hub import loads_locally

    try:
        tokenizer = AutoTokenizer.from_pretrained(name, **loads_locally(name))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{role}=hf {name} has no tokenizer that loads ({str(exc).splitlines()[0]}): its "
            "special tokens say how distillctl's ids map to the model's",
            "save the model's tokenizer beside it (tokenizer.save_pretrained(<folder>))",
        ) from None
    return torch.from_numpy(permutation(size, special_ids(tokenizer, name)))


@register(
    "hf",
    kinds=("text",),
    options=(("pretrained", Bound("true or false", lambda v: isinstance(v, bool)), "true"),),
    early=_name_given,
    external=True,
    fits_data=_reads_its_tokenizer,
)
def hf(input_shape, num_classes: int, name: str = "", pretrained: bool = True, vocab_size=None):
    vocab, length = expect_text("hf", input_shape, vocab_size)
    model = load(str(name), int(num_classes), bool(pretrained), "hf")
    config = model.config
    positions = getattr(config, "max_position_embeddings", None)
    if positions is not None and length > int(positions):
        raise ShapeError(
            f"{name} reads at most {positions} positions but data.max_length={length}",
            f"set data.max_length={positions} or less",
        )
    if vocab > int(config.vocab_size):
        raise ShapeError(
            f"{name} embeds {config.vocab_size} token ids but the data's tokenizer has {vocab}",
            "use data.tokenizer=model with this model's tokenizer (data.tokenizer_from)",
        )
    layers = int(config.num_hidden_layers)
    net = HFClassifier(model, to_model_ids(str(name), int(config.vocab_size), "hf"), layers)
    stages = [f"states.{i}" for i in range(layers)]
    attention = [f"probs.{i}" for i in range(layers)]
    net.transformer_taps = {
        "embedding": "embedded",
        "states": stages,
        "probs": attention,
        # transformers returns neither the scores before the softmax nor the values
        "scores": None,
        "values": None,
        "heads": int(config.num_attention_heads),
    }
    found = _layer_list(model, layers)  # none found: not a student init_from_teacher can fill
    net.blocks_path = f"model.{found}" if found else ""
    finish(net, input_shape, stages, embedding="cls", attention=attention)
    net.token_embedding = _embedding_name(net)
    return net


def _embedding_name(net: nn.Module) -> str:
    embeddings = net.model.get_input_embeddings()
    return next(name for name, module in net.named_modules() if module is embeddings)
