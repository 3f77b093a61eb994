"""A lab's numbers for pandas: ``load(folder)`` reads the tidy tables the report wrote.

    from cnnlab.results import load
    tables = load("results/tables/skin")          # or the lab's folder, with one data set
    tables.setups[["task", "setup_label", "val_accuracy_fraction"]]

The tables are ``epochs``, ``setups`` and ``comparisons`` (docs/tables.md names every
column, its unit and where it comes from). Nothing here imports TensorFlow, Keras or the
report: a notebook or a script reads a lab's results without the workflow's weight.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cnnlab.errors import CnnlabError
from cnnlab.store.layout import TABLE_NAMES, table_csv
from cnnlab.store.tables import read_tables


@dataclass(frozen=True)
class Tables:
    """The three tables of one lab's data set, as pandas DataFrames."""

    epochs: pd.DataFrame  # one row per task, run and epoch the task shows
    setups: pd.DataFrame  # one row per task and set-up it shows
    comparisons: pd.DataFrame  # one row per comparison the report tests


def tables_folder(folder: Path) -> Path:
    """The folder of the tables: ``folder`` itself, or its results/tables/<dataset>/ where
    it is a lab's folder with one data set's tables."""
    if (folder / f"{TABLE_NAMES[0]}.csv").is_file():
        return folder
    found = sorted(path.parent for path in folder.glob(table_csv("*", TABLE_NAMES[0])))
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(str(path) for path in found)
        raise CnnlabError(f"{folder}: holds the tables of several data sets ({names}); pass "
                          "the one to load.")
    raise CnnlabError(f"{folder}: no {TABLE_NAMES[0]}.csv here or under results/tables/; "
                      "render the report first (snakemake, or cnnlab report --partial).")


def load(folder: str | os.PathLike = ".") -> Tables:
    """The tables of ``folder`` (results/tables/<dataset>/, or a lab's folder)."""
    read = read_tables(tables_folder(Path(folder)))
    return Tables(**{name: read[name] for name in TABLE_NAMES})
