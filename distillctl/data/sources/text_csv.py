"""`data=text_csv`: the user's own texts. `data.path` is a CSV, TSV (.tsv / .tab) or JSON Lines
(.jsonl) file; `data.text` names the text column, `data.target` the label column (numbers or
class names, kept for the report), `data.text_pair` an optional second text (sentence pairs),
`data.split_column` an optional column of train / val / test (else the splits are carved,
stratified, with `split_seed`).
"""

from __future__ import annotations

import json
from pathlib import Path

from distillctl.data import register
from distillctl.data.splits import Splits
from distillctl.data.texts import TOKENIZER_KEYS, Texts, text_splits
from distillctl.data.tokens import check_options
from distillctl.errors import RunError


def json_lines(path: Path) -> bool:
    return path.suffix.lower() in (".jsonl", ".ndjson", ".json")


def delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() in (".tsv", ".tab") else ","


def decoded(path: Path) -> str:
    """The file as text; bytes that are not UTF-8 are named by line."""
    if not path.is_file():
        raise RunError(f"data.path={path} does not exist", "pass data.path=<a .csv/.tsv/.jsonl>")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RunError(
            f"{path} line {line} holds bytes that are not UTF-8 ({raw[exc.start : exc.end]!r})",
            "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None


def records(path: Path) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """(columns, one dict per row, where each row starts) of a CSV, TSV or JSON Lines file."""
    import csv
    import io

    text = decoded(path)
    if json_lines(path):
        rows, where = [], []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RunError(
                    f"{path} line {number} is not a JSON object ({exc.msg})",
                    "write one JSON object per line",
                ) from None
            if not isinstance(row, dict):
                raise RunError(f"{path} line {number} is not a JSON object", "write {...} per line")
            rows.append({k: "" if v is None else str(v) for k, v in row.items()})
            where.append(f"line {number}")
        columns = list(dict.fromkeys(k for row in rows for k in row))
        return columns, rows, where
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(path))
    try:
        table = list(reader)
    except csv.Error as exc:
        raise RunError(f"{path} is not a readable table: {exc}", "fix the quoting") from None
    if len(table) < 2:
        raise RunError(f"{path} has no data rows", "write a header row and one row per text")
    header = [h.strip() for h in table[0]]
    rows, where = [], []
    for number, row in enumerate(table[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise RunError(
                f"{path} line {number} has {len(row)} fields but the header has {len(header)}",
                "fix that line (quote texts that contain the delimiter)",
            )
        rows.append(dict(zip(header, row)))
        where.append(f"line {number}")
    return header, rows, where


def header(path: Path) -> list[str]:
    """The columns of a CSV / TSV header line, or of the first JSON Lines record."""
    import csv

    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            if json_lines(path):
                try:
                    first = json.loads(line)
                except json.JSONDecodeError:
                    return []  # named by line when the file is read
                return list(first) if isinstance(first, dict) else []
            return [h.strip() for h in next(csv.reader([line], delimiter=delimiter(path)))]
    return []


def check_columns(cfg, columns: list[str], path: Path) -> None:
    keys = {"text": cfg.text, "target": cfg.target}
    for option in ("text_pair", "split_column"):
        if cfg.get(option):
            keys[option] = cfg.get(option)
    for option, column in keys.items():
        if str(column) not in columns:
            raise RunError(
                f"{path} has no column '{column}' (columns: {', '.join(columns)})",
                f"set data.{option} to the column that holds the "
                + {"text": "texts", "target": "labels", "text_pair": "second texts"}.get(
                    option, "splits"
                ),
            )


def check_early(cfg) -> None:
    """Before any run folder: the tokenizer's options, and the named columns in the file's
    header (the whole file is read, and checked line by line, with the data)."""
    check_options(cfg)
    path = Path(str(cfg.get("path") or "")).expanduser()
    if cfg.get("path") and path.is_file():
        columns = header(path)
        if columns:
            check_columns(cfg, columns, path)


def read_texts(cfg) -> Texts:
    path = Path(str(cfg.path)).expanduser()
    columns, rows, where = records(path)
    check_columns(cfg, columns, path)
    labels = [row.get(str(cfg.target), "").strip() for row in rows]
    for i, label in enumerate(labels):
        if not label:
            raise RunError(f"{path} {where[i]} has no label", "drop or label that row")
    pick = lambda key: [row.get(str(key), "") for row in rows]  # noqa: E731
    return Texts(
        texts=pick(cfg.text),
        labels=labels,
        pairs=pick(cfg.text_pair) if cfg.get("text_pair") else None,
        split=pick(cfg.split_column) if cfg.get("split_column") else None,
        where=where,
    )


@register(
    "text_csv",
    identity=(
        "path",
        "text",
        "target",
        "text_pair",
        "split_column",
        "test_fraction",
        "val_fraction",
        "split_seed",
        *TOKENIZER_KEYS,
    ),
    files=("path",),
    needs=(
        ("path", "a .csv, .tsv or .jsonl file"),
        ("text", "text column"),
        ("target", "label column"),
    ),
    kind="text",
    early=check_early,
)
def text_csv(cfg, data_dir: str) -> Splits:
    return text_splits(read_texts(cfg), cfg, data_dir, f"data.path={cfg.path}")


def unlabelled_texts(cfg, path: Path) -> list[str]:
    """The texts of an unlabelled file for distill.transfer=unlabeled: a plain text file (one
    text per line), or a table with the labelled data's text column (its labels ignored)."""
    if path.suffix.lower() in (".txt", ""):
        return [line for line in decoded(path).splitlines() if line.strip()]
    columns, rows, _ = records(path)
    column = str(cfg.get("text") or "text")
    if column not in columns:
        raise RunError(
            f"the unlabelled file {path} has no column '{column}' (columns: {', '.join(columns)})",
            "give it the labelled data's text column, or use a .txt file with one text per line",
        )
    return [row[column] for row in rows if row[column].strip()]


def unlabelled_ids(cfg, path: Path, splits: Splits):
    """Token ids of an unlabelled text file, encoded with the labelled data's tokenizer."""
    from distillctl.data.tokens import load

    texts = unlabelled_texts(cfg, path)
    if not texts:
        raise RunError(f"the unlabelled file {path} holds no texts", "write one text per line")
    tokenizer = load(splits.tokenizer, splits.input_shape[0])
    return tokenizer.encode(texts)[0]
