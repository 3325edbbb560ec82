"""`data=wordnet_glosses`: a real text corpus that installs offline (Princeton WordNet 3.x).

Each synset of the data files (`data.noun`, and `data.verb` with data.parts=[noun,verb]) is one
text: its gloss (the definition and examples after `|`, never the synset's own lemmas), labelled
with its lexicographer file (26 noun supersenses: noun.artifact, noun.person, ...; 82,115 noun
glosses). The files are read from `data.root`: /usr/share/wordnet (Debian/Ubuntu package
`wordnet-base`) or WordNet 3.x's `dict/` folder. Format: wndb(5WN), "synset_offset lex_filenum
ss_type w_cnt word lex_id ... p_cnt ... | gloss".
"""

from __future__ import annotations

from pathlib import Path

from distillctl.data import register
from distillctl.data.splits import Splits
from distillctl.data.texts import TOKENIZER_KEYS, Texts, subsample, text_splits
from distillctl.data.tokens import check_options
from distillctl.errors import ConfigError, RunError

# lexnames(5WN): the lexicographer files by number
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
PARTS = ("noun", "verb")
HOW = (
    "install WordNet's database (Debian/Ubuntu: `apt-get install wordnet-base`, files in "
    "/usr/share/wordnet), or point data.root at WordNet 3.x's dict/ folder"
)


def data_file(root: Path, part: str) -> Path:
    for name in (f"data.{part}", f"{part}.dat"):  # Unix and Windows spellings
        if (root / name).is_file():
            return root / name
    raise RunError(f"data.root={root} has no WordNet data file data.{part}", HOW)


def parts_of(cfg) -> list[str]:
    parts = [str(p) for p in (cfg.get("parts") or ["noun"])]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ConfigError(f"data.parts names {unknown}", f"choose from {list(PARTS)}")
    return parts


def check_early(cfg) -> None:
    """Before any run folder (and before the data is read, by data.check_given): the
    tokenizer's options, data.parts, and the data files where data.root says they are."""
    check_options(cfg)
    root = Path(str(cfg.root)).expanduser()
    if not root.is_dir():
        raise RunError(f"data.root={root} does not exist", HOW)
    for part in parts_of(cfg):
        data_file(root, part)


def parse_line(line: str, path: Path, number: int) -> tuple[str, str] | None:
    """(lexicographer file, gloss) of one data-file line; None for the licence header."""
    if not line.strip() or line.startswith("  "):
        return None
    head, bar, gloss = line.partition(" | ")
    fields = head.split()
    try:
        lexname = LEXNAMES[int(fields[1])]
    except (IndexError, ValueError):
        raise RunError(
            f"{path} line {number} is not a WordNet data line (no lexicographer file number)",
            HOW,
        ) from None
    if not bar or not gloss.strip():
        return None  # a synset without a gloss has no text
    return lexname, gloss.strip()


def read_glosses(cfg) -> Texts:
    root = Path(str(cfg.root)).expanduser()  # checked by check_early
    found = Texts(texts=[], labels=[])
    for part in parts_of(cfg):
        path = data_file(root, part)
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, start=1):
                parsed = parse_line(line, path, number)
                if parsed is not None:
                    found.labels.append(parsed[0])
                    found.texts.append(parsed[1])
                    found.where.append(f"{path.name} line {number}")
    if not found.texts:
        raise RunError(f"data.root={root}: the data files hold no glosses", HOW)
    return subsample(found, cfg.get("subset"), int(cfg.split_seed))


@register(
    "wordnet_glosses",
    identity=(
        "root",
        "parts",
        "subset",
        "test_fraction",
        "val_fraction",
        "split_seed",
        *TOKENIZER_KEYS,
    ),
    files=("root",),
    kind="text",
    early=check_early,
)
def wordnet_glosses(cfg, data_dir: str) -> Splits:
    return text_splits(read_glosses(cfg), cfg, data_dir, f"data.root={cfg.root}")
