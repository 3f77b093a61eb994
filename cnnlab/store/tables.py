"""The lab's tidy tables (epochs.csv, setups.csv, comparisons.csv): their writer and reader.

Each table is one CSV file with one header row and plain numbers (no units, percent signs
or rounding in a cell: a column's name and docs/tables.md say its unit), so that
``pandas.read_csv``, R's ``read.csv`` or a spreadsheet reads it without options. What the
rows hold is made by :mod:`cnnlab.report.tidy`; this module only writes and reads them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from cnnlab.errors import CnnlabError
from cnnlab.store.files import write_text
from cnnlab.store.layout import TABLE_NAMES


def write_tables(folder: str | os.PathLike, tables: dict[str, pd.DataFrame]) -> list[Path]:
    """Each table as ``<folder>/<name>.csv``, atomically, in the order of TABLE_NAMES."""
    folder = Path(folder)
    missing = set(TABLE_NAMES) - set(tables)
    if missing:
        raise ValueError(f"tables to write lack {sorted(missing)}")
    # floats in full (repr) precision: a reader gets the report's own numbers back
    return [write_text(folder / f"{name}.csv", tables[name].to_csv(index=False))
            for name in TABLE_NAMES]


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """One table, or one message naming the file and what to do."""
    path = Path(path)
    if not path.is_file():
        raise CnnlabError(f"{path}: missing; the report (snakemake) or `cnnlab report "
                          "--partial` writes it.")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise CnnlabError(f"{path}: not a table this project wrote ({error}); delete it and "
                          "render the report again.") from None


def read_tables(folder: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """The tables of one data set's folder, by name."""
    return {name: read_table(Path(folder) / f"{name}.csv") for name in TABLE_NAMES}
