"""`data=csv`: the user's table. `data.path` is a CSV file, `data.target` the label column.

Every other column is a feature: numeric columns are standardised, categorical ones (those in
`data.categorical`, or whose values are all non-numeric) one-hot encoded. Everything is fitted
on the training split only (means, deviations, categories, imputed values); test and validation
are carved (stratified, `split_seed`) before any fitting. Missing values are imputed from train
(mean, or the most frequent category) with a count per column in run.json, or refused by column
name with `data.missing=error`. A numeric column holding a word is an error naming the column,
the row and the value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from distillctl.data import register
from distillctl.data.splits import Splits, carve
from distillctl.errors import RunError

MISSING = {"", "na", "nan", "null", "none", "?"}


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    import csv

    if not path.is_file():
        raise RunError(f"data.path={path} does not exist", "pass data.path=<a .csv file>")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise RunError(
            f"{path} is not a readable CSV file: {exc}", "save it as UTF-8 CSV"
        ) from None
    if len(rows) < 2:
        raise RunError(f"{path} has no data rows", "write a header row and one row per sample")
    header, body = [h.strip() for h in rows[0]], [r for r in rows[1:] if any(c.strip() for c in r)]
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise RunError(
                f"{path} line {number} has {len(row)} fields but the header has {len(header)}",
                "fix that line (quote values that contain commas)",
            )
    return header, body


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def check_numeric(name: str, values: list[str], source: Path | str, first_line: int = 2) -> None:
    """Every present value of a numeric column is a finite number: a word, `inf` or `nan`
    spelled out as a number is named by column, line and value (it would reach training as a
    NaN loss, far from its cause)."""
    for row, value in enumerate(values):
        if _is_missing(value):
            continue
        number = _number(value)
        if number is not None and np.isfinite(number):
            continue
        fix = "fix the value (or leave it empty to impute it)"
        if number is None:
            fix += f", or list the column as categorical: data.categorical=[{name}]"
        raise RunError(
            f"column '{name}' of {source} is numeric but line {row + first_line} holds "
            f"'{value.strip()}' ({'not a number' if number is None else 'not a finite number'})",
            fix,
        )


def _is_missing(text: str) -> bool:
    return text.strip().lower() in MISSING


class Column:
    """One feature column: its kind, fitted on the training rows, and its encoded values."""

    def __init__(self, name: str, values: list[str], categorical: bool):
        self.name, self.values, self.categorical = name, [v.strip() for v in values], categorical

    def fit(self, rows: np.ndarray, missing: str) -> int:
        present = [self.values[i] for i in rows if not _is_missing(self.values[i])]
        gaps = sum(_is_missing(v) for v in self.values)  # filled in every split
        if gaps and missing == "error":
            first = next(i for i, v in enumerate(self.values) if _is_missing(v))
            raise RunError(
                f"column '{self.name}' has {gaps} missing value(s) (first at line {first + 2})",
                "fill them in, or set data.missing=impute (train mean / most frequent value)",
            )
        if not present:
            raise RunError(
                f"column '{self.name}' has no values in the training rows", "drop the column"
            )
        if self.categorical:
            self.categories = sorted(set(present))
            counts = {c: present.count(c) for c in self.categories}
            self.fill = max(self.categories, key=lambda c: counts[c])
        else:
            numbers = np.asarray([float(v) for v in present])
            self.fill = float(numbers.mean())
            self.mean, self.std = self.fill, float(numbers.std()) + 1e-6
        return gaps

    def names(self) -> list[str]:
        return [f"{self.name}={c}" for c in self.categories] if self.categorical else [self.name]

    def encode(self, values: list[str] | None = None) -> np.ndarray:
        """This column's values (or other rows' `values`) with the training rows' encoding."""
        values = self.values if values is None else [v.strip() for v in values]
        values = [self.fill if _is_missing(v) else v for v in values]
        if self.categorical:
            index = {c: i for i, c in enumerate(self.categories)}
            out = np.zeros((len(values), len(self.categories)), np.float32)
            for row, value in enumerate(values):
                if value in index:  # a category unseen in training stays all zeros
                    out[row, index[value]] = 1.0
            return out
        return ((np.asarray(values, np.float64) - self.mean) / self.std).astype(np.float32)[:, None]


def _column(name: str, values: list[str], declared: set[str], source: Path) -> Column:
    if name in declared:
        return Column(name, values, True)
    present = [(i, v) for i, v in enumerate(values) if not _is_missing(v)]
    words = [(i, v) for i, v in present if _number(v) is None]
    if present and len(words) == len(present):
        return Column(name, values, True)
    check_numeric(name, values, source)
    return Column(name, values, False)


def fitted(cfg):
    """The table's columns fitted on its training rows, with its labels and split rows."""
    path = Path(str(cfg.path)).expanduser()
    header, body = read_table(path)
    target = str(cfg.target)
    if target not in header:
        raise RunError(
            f"{path} has no column '{target}' (columns: {', '.join(header)})",
            "set data.target to the column that holds the labels",
        )
    missing_mode = str(cfg.get("missing", "impute"))
    if missing_mode not in ("impute", "error"):
        raise RunError(
            f"data.missing={missing_mode} is not a choice", "set data.missing=impute or error"
        )
    t = header.index(target)
    labels = [row[t].strip() for row in body]
    if any(_is_missing(v) for v in labels):
        line = next(i for i, v in enumerate(labels) if _is_missing(v)) + 2
        raise RunError(f"the target '{target}' is missing at line {line}", "drop or label that row")
    classes = sorted(set(labels), key=lambda c: (_number(c) is None, _number(c) or 0, c))
    y = np.asarray([classes.index(v) for v in labels], np.int64)
    declared = {str(c) for c in (cfg.get("categorical") or [])}
    unknown = declared - set(header)
    if unknown:
        raise RunError(
            f"data.categorical names no column {sorted(unknown)}", f"columns: {', '.join(header)}"
        )
    if len(header) < 2:
        raise RunError(
            f"{path} has only the target column '{target}': there is nothing to learn from",
            "add feature columns, or set data.target to the label column of a wider table",
        )
    columns = [
        _column(h, [row[i] for row in body], declared, path) for i, h in enumerate(header) if i != t
    ]
    rows = np.arange(len(y))
    seed = int(cfg.split_seed)
    (rest, y_rest), (test, _) = carve(rows, y, cfg.test_fraction, seed, "test")
    (train, _), (val, _) = carve(rest, y_rest, cfg.val_fraction, seed, "val")
    imputed = {c.name: c.fit(train, missing_mode) for c in columns}
    return columns, classes, y, (train, val, test), imputed


@register(
    "csv",
    identity=(
        "path",
        "target",
        "categorical",
        "missing",
        "test_fraction",
        "val_fraction",
        "split_seed",
    ),
    files=("path",),
    needs=(("path", "a .csv file"), ("target", "label column")),
    kind="tabular",
)
def csv_table(cfg, data_dir: str) -> Splits:
    columns, classes, y, (train, val, test), imputed = fitted(cfg)
    x = np.concatenate([c.encode() for c in columns], axis=1)
    return Splits(
        x[train], y[train], x[val], y[val], x[test], y[test],
        num_classes=len(classes), kind="tabular", class_names=classes,
        feature_names=[n for c in columns for n in c.names()],
        report={"imputed": {k: v for k, v in imputed.items() if v}, "rows": len(y)},
    )  # fmt: skip


def unlabelled_rows(cfg, path: Path) -> np.ndarray:
    """Rows of another table with the same feature columns (its target column, if any, is
    ignored), encoded exactly as the labelled table's training rows fitted them: for
    distill.transfer=unlabeled with data=csv."""
    columns = fitted(cfg)[0]
    header, body = read_table(path)
    absent = [c.name for c in columns if c.name not in header]
    if absent:
        raise RunError(
            f"the unlabelled table {path} lacks the column(s) {', '.join(absent)}",
            "give it the labelled table's feature columns (the target column may be left out)",
        )
    where = {h: i for i, h in enumerate(header)}
    values = {c.name: [row[where[c.name]] for row in body] for c in columns}
    for column in columns:
        if not column.categorical:
            check_numeric(column.name, values[column.name], path)
    return np.concatenate([c.encode(values[c.name]) for c in columns], axis=1)
