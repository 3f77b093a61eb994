"""6E's selection with several seeds: one candidate per set-up, ranked by the mean of its
seeds, eligible only in every seed, and its lead tested over the seed-matched pairs pooled
(McNemar) and over the seeds (Welch), pinned against numbers computed here by hand."""

import math

import numpy as np
import pytest
from scipy import stats

from cnnlab.plan.plan import plan_lab
from cnnlab.plan.selection import select_setup
from cnnlab.store.selection_file import read_selection
from tests.test_selection import (
    LABELS,
    exact_mcnemar_p,
    outputs_right_on,
    write_history,
    write_outputs,
)


def right_on(both, only, offset=0):
    """Right on the first `both` images, then on `only` images from `both + offset`."""
    index = np.arange(LABELS.size)
    return (index < both) | ((index >= both + offset) & (index < both + offset + only))


@pytest.fixture
def two_seed_lab(default_config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default_config["seeds"] = [1, 2]
    plan = plan_lab(default_config)
    # every candidate overfits (gap 0.3), except those a test writes otherwise
    for training in plan.trainings.values():
        write_history(tmp_path / training.history_csv, 0.95, 0.65, training.epochs)
        write_outputs(tmp_path, training, outputs_right_on(right_on(60, 0)))
    return plan, tmp_path


def seeds_of(plan, task, **params):
    """{seed: entry} of the set-up of `task` with these parameters."""
    found = {entry.spec.seed: entry for entry in plan.tasks[task].entries
             if all(getattr(entry.spec, k) == v for k, v in params.items())}
    assert len({entry.spec.setup_id for entry in found.values()}) == 1
    return found


def welch_by_hand(a, b):
    """Welch's t and two-sided p from the textbook formulas (t distribution from SciPy)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    return t, df, 2 * stats.t.sf(abs(t), df)


def test_the_luckiest_seed_does_not_choose_its_set_up(two_seed_lab):
    plan, root = two_seed_lab
    steady = seeds_of(plan, "6D", batch_size=2)  # 0.75 and 0.73: mean 0.74
    lucky = seeds_of(plan, "6D", batch_size=4)  # 0.80 and 0.60: mean 0.70, the best seed
    for seed, value in ((1, 0.75), (2, 0.73)):
        write_history(root / steady[seed].training.history_csv, value + 0.02, value, 150)
    for seed, value in ((1, 0.80), (2, 0.60)):
        write_history(root / lucky[seed].training.history_csv, value + 0.02, value, 150)
    # seed 1: 6 images only the steady set-up gets right, 1 only the lucky one;
    # seed 2: 5 and 0 (after 60 images both get right)
    write_outputs(root, steady[1].training, outputs_right_on(right_on(60, 6)))
    write_outputs(root, lucky[1].training, outputs_right_on(right_on(60, 1, offset=6)))
    write_outputs(root, steady[2].training, outputs_right_on(right_on(60, 5)))
    write_outputs(root, lucky[2].training, outputs_right_on(right_on(60, 0)))
    result = select_setup(plan, "6E", root / "results/selection/6E.json")

    setup_ids = [row["setup_id"] for row in result["candidates"]]
    assert len(setup_ids) == len(set(setup_ids))  # one candidate per set-up
    assert len(setup_ids) == len({e.spec.setup_id for t in ("6A", "6B", "6C", "6D")
                                 for e in plan.tasks[t].entries})
    chosen = result["chosen"]
    assert chosen["setup_id"] == steady[1].spec.setup_id
    assert chosen["values"]["final_val_accuracy"] == pytest.approx(0.74)
    assert [row["seed"] for row in chosen["seeds"]] == [1, 2]
    assert [row["run_id"] for row in chosen["seeds"]] == [steady[1].spec.run_id,
                                                           steady[2].spec.run_id]
    assert result["runner_up"]["setup_id"] == lucky[1].spec.setup_id
    assert result["runner_up"]["value"] == pytest.approx(0.70)

    lead = result["lead"]
    assert (lead["only_chosen"], lead["only_runner_up"]) == (11, 1)
    assert (lead["n"], lead["seeds"], lead["images"]) == (2 * LABELS.size, 2, LABELS.size)
    assert lead["p"] == pytest.approx(exact_mcnemar_p(11, 1))  # 26 / 4096
    assert lead["difference"] == pytest.approx(0.04)
    t, df, p = welch_by_hand([0.75, 0.73], [0.80, 0.60])
    assert lead["welch"]["t"] == pytest.approx(t)
    assert lead["welch"]["df"] == pytest.approx(df)
    assert lead["welch"]["p"] == pytest.approx(p)
    # McNemar alone would call it beyond noise; the seeds' spread says otherwise
    assert lead["p"] < 0.05 < lead["welch"]["p"] and lead["beyond_noise"] is False
    stored = read_selection(root / "results/selection/6E.json")
    assert stored["chosen"] == chosen and stored["lead"] == lead


def test_a_set_up_must_be_eligible_in_every_seed(two_seed_lab):
    plan, root = two_seed_lab
    uneven = seeds_of(plan, "6D", batch_size=4)  # seed 1 fine, seed 2 overfits
    steady = seeds_of(plan, "6D", batch_size=2)
    write_history(root / uneven[1].training.history_csv, 0.82, 0.80, 150)
    write_history(root / uneven[2].training.history_csv, 0.99, 0.70, 150)
    for seed in (1, 2):
        write_history(root / steady[seed].training.history_csv, 0.72, 0.70, 150)
    result = select_setup(plan, "6E", root / "6E.json")
    rows = {row["setup_id"]: row for row in result["candidates"]}
    refused = rows[uneven[1].spec.setup_id]
    assert not refused["eligible"]
    assert refused["reason"].startswith("seed 2: gap 0.290")
    assert refused["final_val_accuracy"] == pytest.approx(0.75)
    assert result["chosen"]["setup_id"] == steady[1].spec.setup_id
    assert result["runner_up"] is None and result["lead"] is None
