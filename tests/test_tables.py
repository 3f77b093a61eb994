"""The lab's tidy tables (results/tables/<dataset>/): written with the report from the same
numbers, read by pandas without options, every column in docs/tables.md, and every
accuracy and p-value the page shows found in them.

The crafted lab of test_report (real plan and selection, crafted histories) checks the
tables against a full report quickly; the small lab, trained by the real snakemake, checks
the rule's outputs, the partial report's and the docs' pandas lines.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from test_report import crafted_lab, render, section, visible_text

from cnnlab.analysis import verdicts
from cnnlab.errors import CnnlabError
from cnnlab.plan.complete_plan import complete_plan
from cnnlab.report.tidy import COLUMNS
from cnnlab.results import Tables, load
from cnnlab.store.layout import TABLE_NAMES
from tests.conftest import merged_config
from tests.workflow_helpers import PROJECT_ROOT, SMALL_CONFIG

DOCS = PROJECT_ROOT / "docs/tables.md"
TEXT_COLUMNS = {"dataset", "task", "setup", "setup_label", "run_id", "training", "status",
                "setup_task", "model", "dense", "optimizer", "loss", "precision",
                "curve_verdict", "curve_phrase", "overfitting_by", "setup_a_task", "setup_a",
                "setup_a_label", "setup_b_task", "setup_b", "setup_b_label", "factors",
                "measure", "unit", "test", "verdict"}
BOOLEAN_COLUMNS = {"at_baseline", "significant", "in_answer"}


class HtmlTables(HTMLParser):
    """Each <table> of an HTML fragment: its header texts and, per row, (text, data-sort)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self.cell: list | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"headers": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th") and self.tables:
            self.cell = [tag, "", dict(attrs).get("data-sort")]

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            kind, text, sort = self.cell
            if kind == "th":
                self.tables[-1]["headers"].append(" ".join(text.split()))
            else:
                self.tables[-1]["rows"][-1].append((" ".join(text.split()), sort))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[1] += data


def tables_in(fragment: str) -> list[dict]:
    parser = HtmlTables()
    parser.feed(fragment)
    for table in parser.tables:
        table["rows"] = [row for row in table["rows"] if row]
    return parser.tables


def table_with(fragment: str, header: str) -> dict | None:
    return next((t for t in tables_in(fragment) if header in t["headers"]), None)


def close(shown: str | None, value: float) -> bool:
    """A data-sort value (str(float) of the report) against the table's value."""
    return shown is not None and math.isclose(float(shown), value, rel_tol=1e-9, abs_tol=1e-12)


def column(table: dict, name: str) -> list[tuple[str, str]]:
    index = table["headers"].index(name)
    return [row[index] for row in table["rows"]]


def shown_percents(text: str) -> list[str]:
    """Every one-decimal percentage of a text ('65.5%', both ends of '58.7-71.7%'), but a
    share of a model's parameters (5E, 5F)."""
    text = re.sub(r"\d+\.\d% of (?:the|its) parameters", "", text)
    return [value for match in re.finditer(r"(\d+\.\d)(?:-(\d+\.\d))?%", text)
            for value in match.groups() if value]


def as_percents(setups: pd.DataFrame) -> set[str]:
    fractions = [name for name in setups.columns if name.endswith("_fraction")]
    return {f"{100 * value:.1f}" for value in setups[fractions].to_numpy().ravel()
            if math.isfinite(value)}


def glance_texts(html: str) -> dict[str, str]:
    """The at-a-glance table's sentence of each task."""
    rows = re.findall(r'<tr><td><a href="#task-(\w+)">.*?</a></td><td>.*?</td><td>(.*?)</td></tr>',
                      html, re.DOTALL)
    return {task: unescape(text) for task, text in rows}


# -- the checks, shared by the crafted and the small lab ------------------------------------


def check_plain_csv(folder: Path) -> dict[str, pd.DataFrame]:
    """Each table read without options: no empty column, numbers numeric, columns known."""
    read = {}
    for name in TABLE_NAMES:
        table = pd.read_csv(folder / f"{name}.csv")
        assert len(table), f"{name}.csv has no row"
        empty = [c for c in table.columns if table[c].isna().all()]
        assert not empty, f"{name}.csv: empty columns {empty}"
        assert set(table.columns) <= set(COLUMNS[name]), set(table.columns) - set(COLUMNS[name])
        for c in table.columns:
            if c in BOOLEAN_COLUMNS:
                assert table[c].dropna().isin([True, False]).all(), (name, c)
            elif c not in TEXT_COLUMNS:
                assert pd.api.types.is_numeric_dtype(table[c]), f"{name}.csv {c}: {table[c].dtype}"
        read[name] = table
    return read


def check_against_html(html: str, setups: pd.DataFrame, comparisons: pd.DataFrame) -> int:
    """Every accuracy and p the page shows (answers, glance, set-up and test tables) is in the
    tables, value for value; the number of values compared."""
    checked = 0
    glances = glance_texts(html)
    visible = visible_text(html)
    # a concept task that trains nothing (5D, 5E, 5G) words its figure's numbers (a linear
    # read-out's accuracy, shares of the weights), which are in its concept/<task>.json
    for task in setups["task"].unique():
        percents = as_percents(setups[setups["task"] == task])
        for shown in shown_percents(visible[task]) + shown_percents(glances[task]):
            assert shown in percents, f"{task}: {shown}% is not in setups.csv"
            checked += 1
        mine = setups[setups["task"] == task].reset_index(drop=True)
        part = section(html, task)
        table = table_with(part, "val acc [95% CI]")
        assert table is not None and len(table["rows"]) == len(mine), task
        for header, name in (("train acc", "train_accuracy_fraction"),
                             ("val acc [95% CI]", "val_accuracy_fraction"),
                             ("balanced acc", "balanced_accuracy_fraction"),
                             ("ROC AUC", "roc_auc"), ("gap (points)", "gap_fraction")):
            for (text, sort), value in zip(column(table, header), mine[name]):
                assert close(sort, value), (task, header, text, value)
                checked += 1
        assert [text for text, _ in column(table, "curve")] == mine["curve_phrase"].tolist()
        checked += check_tests(task, part, visible[task], comparisons)
    return checked


def check_tests(task: str, part: str, visible: str, comparisons: pd.DataFrame) -> int:
    """The section's tests table and its visible p-values against comparisons.csv."""
    # the McNemar tests of the set-ups' table (not 6E's lead or a curves' smoothness)
    mine = comparisons[(comparisons["task"] == task)
                       & (comparisons["factors"] != "selection lead")
                       & (comparisons["test"] == "exact McNemar")].reset_index(drop=True)
    table = table_with(part, "McNemar p")
    if table is None:
        assert mine.empty or mine["p_raw"].isna().all(), task
        return 0
    assert len(table["rows"]) == len(mine), task
    for (_, raw), (_, holm), p, adjusted in zip(column(table, "McNemar p"),
                                                column(table, "Holm p"), mine["p_raw"],
                                                mine["p_adjusted"]):
        assert close(raw, p), (task, raw, p)
        assert close(holm, adjusted) if holm is not None else adjusted == p
    every_p = comparisons.loc[comparisons["task"] == task, ["p_raw", "p_adjusted"]]
    every_p = every_p.to_numpy().ravel()
    for shown in re.findall(r"p (?:=|<) (\d\.\d{3})", visible):
        assert any(f"{p:.3f}" == shown or (shown == "0.001" and p < 0.001) for p in every_p), (
            f"{task}: p {shown} is not in comparisons.csv")
    return 2 * len(mine)


def check_docs_name_every_column() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name, columns in COLUMNS.items():
        part = text[text.index(f"## {name}.csv"):]
        part = part[:part.find("\n## ", 4) if "\n## " in part[4:] else len(part)]
        documented = re.findall(r"^\| `(\w+)` \| [^|]+ \| [^|]+ \|$", part, re.MULTILINE)
        assert documented == list(columns), (name, set(documented) ^ set(columns))


# -- the crafted lab: the whole report, no training --------------------------------------------


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    root = tmp_path_factory.mktemp("crafted-tables")
    before = Path.cwd()
    os.chdir(root)  # the selection reads the plan's relative paths
    try:
        plan = crafted_lab(root, merged_config())
        html = render(root, plan)
    finally:
        os.chdir(before)
    return root, plan, html


def test_the_report_writes_three_plain_tables(crafted):
    root, plan, _ = crafted
    read = check_plain_csv(root / "results/tables" / plan["dataset"])
    epochs, setups = read["epochs"], read["setups"]
    assert epochs.groupby(["task", "run_id", "epochs"])["epoch"].min().eq(1).all()
    assert not epochs.duplicated(["task", "setup", "epochs", "run_id", "epoch"]).any()
    assert (epochs.groupby(["task", "setup", "epochs", "run_id"])["epoch"].max()
            <= epochs.groupby(["task", "setup", "epochs", "run_id"])["epochs"].first()).all()
    # a task that shows 20 epochs of a 200-epoch training gets those 20
    shown = epochs[epochs["task"] == "5A"]
    assert shown["epoch"].max() == 20 and (shown["training_epochs"] == 200).all()
    assert set(setups["curve_verdict"]) <= set(verdicts.VERDICTS)
    overfit = setups[setups["curve_verdict"] == "overfitting"]
    assert len(overfit) and overfit["overfitting_epoch"].notna().all()
    assert set(overfit["overfitting_by"]) <= {"val_loss", "gap"}
    assert (setups["val_accuracy_ci_low_fraction"] <= setups["val_accuracy_fraction"]).all()


def test_every_accuracy_and_p_of_the_page_is_in_the_tables(crafted):
    root, plan, html = crafted
    folder = root / "results/tables" / plan["dataset"]
    setups = pd.read_csv(folder / "setups.csv")
    comparisons = pd.read_csv(folder / "comparisons.csv")
    assert check_against_html(html, setups, comparisons) > 100


def test_a_changed_number_is_caught(crafted):
    """The check above can fail: one accuracy off by a point is found."""
    root, plan, html = crafted
    folder = root / "results/tables" / plan["dataset"]
    setups = pd.read_csv(folder / "setups.csv")
    setups.loc[setups["task"] == "5A", "val_accuracy_fraction"] += 0.01
    with pytest.raises(AssertionError):
        check_against_html(html, setups, pd.read_csv(folder / "comparisons.csv"))


def test_6e_lead_over_the_runner_up_is_a_comparison(crafted):
    root, plan, html = crafted
    comparisons = load(root / "results/tables" / plan["dataset"]).comparisons
    lead = comparisons[comparisons["factors"] == "selection lead"]
    assert list(lead["task"]) == ["6E"]
    shown = re.search(r"its lead over the runner-up is (?:within|beyond) the noise "
                      r"\(p (?:=|<) (\d\.\d{3})", visible_text(html)["6E"]).group(1)
    assert f"{lead['p_raw'].iloc[0]:.3f}" == shown


def test_load_reads_a_tables_folder_or_a_lab_folder(crafted, tmp_path):
    root, plan, _ = crafted
    tables = load(root)
    assert isinstance(tables, Tables)
    assert list(tables.setups.columns) == list(load(root / "results/tables" / plan["dataset"])
                                               .setups.columns)
    assert {"task", "setup", "epoch", "val_accuracy_fraction"} <= set(tables.epochs.columns)
    with pytest.raises(CnnlabError, match="no epochs.csv here or under results/tables/"):
        load(tmp_path)


def test_the_docs_name_every_column_with_its_unit():
    check_docs_name_every_column()


# -- the small lab: the rule's outputs, the partial report, the docs' lines ------------------


@pytest.mark.workflow
def test_the_small_lab_writes_tables_that_agree_with_its_report(small_lab):
    workdir, _ = small_lab
    folder = workdir / "results/tables/tiny"
    read = check_plain_csv(folder)
    html = (workdir / "results/report/index.html").read_text()
    assert check_against_html(html, read["setups"], read["comparisons"]) > 50
    # every training of the lab has its epochs, each as its history has them
    plan = complete_plan(merged_config(workdir / SMALL_CONFIG), workdir)
    epochs = read["epochs"]
    assert set(epochs["training"]) == {t.directory for t in plan.trainings.values()}
    for training in plan.trainings.values():
        history = pd.read_csv(workdir / training.history_csv)
        mine = epochs[epochs["training"] == training.directory].drop_duplicates("epoch")
        mine = mine.set_index("epoch")["val_accuracy_fraction"]
        assert (history.set_index("epoch").loc[mine.index, "val_accuracy"] - mine).abs().max() < 1e-12


@pytest.mark.workflow
def test_the_docs_pandas_lines_redraw_a_tasks_curves(small_lab):
    workdir, _ = small_lab
    code = re.search(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL).group(1)
    assert len(code.strip().splitlines()) == 3
    script = ("import matplotlib\nmatplotlib.use('Agg')\n" + code
              + "print(len(ax.get_lines()), epochs[epochs.task == '6B'].setup_label.nunique())\n")
    result = subprocess.run([sys.executable, "-c", script], check=False, cwd=workdir,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines, setups = map(int, result.stdout.split())
    assert lines == setups > 1


@pytest.mark.workflow
def test_the_partial_report_writes_the_tables_of_what_exists(copy_of_small_lab):
    workdir = copy_of_small_lab
    folder = workdir / "results/tables/tiny"
    for path in folder.glob("*.csv"):
        path.unlink()
    # one training as if it still ran: the partial report reads it from its resume state
    (entry,) = complete_plan(merged_config(workdir / SMALL_CONFIG), workdir).tasks["5A"].entries
    (workdir / entry.training.history_csv).unlink()
    cnnlab = Path(sys.executable).with_name("cnnlab")
    result = subprocess.run([str(cnnlab), "report", "--partial", "--configfile", SMALL_CONFIG],
                            check=False, cwd=workdir, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    read = check_plain_csv(folder)
    epochs = read["epochs"]
    # the task that shows all its epochs reads it as partial (5A's shorter prefix, completed)
    statuses = epochs.loc[epochs["training"] == entry.training.directory, ["task", "status"]]
    assert "partial" in set(statuses["status"]), statuses
    html = (workdir / "results/report/partial.html").read_text()
    check_against_html(html, read["setups"], read["comparisons"])
