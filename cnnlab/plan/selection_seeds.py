"""The seeds of a set-up in 6E's selection: one candidate per set-up (a run's parameters
less its seed) from its seeds' rows, and the chosen set-up's lead tested over its seeds.

A set-up's value is the mean of its seeds' values, each seed read at the epoch it is
judged; it is eligible only where every seed is. Its lead over the runner-up is tested
twice: an exact McNemar test on the seed-matched pairs of validation images pooled
(seed s of the chosen set-up against seed s of the runner-up, image by image), and,
where each side has at least two seeds, Welch's t-test on the seeds' values, the
between-seed noise that McNemar cannot see. The lead is beyond noise only where both
tests say so (McNemar alone with one seed a side).
"""

from __future__ import annotations

import numpy as np

from cnnlab.errors import CnnlabError

# what each seed's row keeps in its set-up's row (the per-seed values the table shows)
SEED_KEYS = ("seed", "run_id", "trained_epochs", "epochs_reached", "judged_epoch",
             "final_accuracy", "final_val_accuracy", "final_val_loss", "gap",
             "final_balanced_accuracy", "final_sensitivity", "finished",
             "overfitting_epoch", "overfitted")
MEAN_KEYS = ("final_accuracy", "final_val_accuracy", "final_val_loss", "gap",
             "final_balanced_accuracy", "final_sensitivity")
LEAD_TEST = "exact McNemar"


def setup_rows(run_rows: list[dict]) -> list[dict]:
    """One row per set-up (runs sharing ``setup_id``), in the order the set-ups first
    appear: the values the rule ranks by are the seeds' means, the per-seed rows are kept
    under ``seeds`` (each with its own ``run_id``), and ``setup_id`` names the set-up (the
    run id less ``-s<seed>``)."""
    grouped: dict[str, list[dict]] = {}
    for row in run_rows:
        grouped.setdefault(row["setup_id"], []).append(row)
    rows = []
    for setup_id, seeds in grouped.items():
        seeds = sorted(seeds, key=lambda row: row["seed"])
        first = seeds[0]
        onsets = [row["overfitting_epoch"] for row in seeds if row["overfitting_epoch"] is not None]
        rows.append({
            "task": first["task"], "setup_id": setup_id,
            "epochs": first["epochs"], "asked_by": first["asked_by"],
            # the weakest seed decides what the set-up can show
            "trained_epochs": min(row["trained_epochs"] for row in seeds),
            "epochs_reached": min(row["epochs_reached"] for row in seeds),
            "judged_epoch": min(row["judged_epoch"] for row in seeds),
            "params": {name: value for name, value in first["params"].items() if name != "seed"},
            **{key: float(np.mean([row[key] for row in seeds])) for key in MEAN_KEYS},
            "finished": all(row["finished"] for row in seeds),
            "overfitting_epoch": min(onsets) if onsets else None,
            "overfitted": any(row["overfitted"] for row in seeds),
            "not_carried": first["not_carried"],
            "seeds": [{key: row[key] for key in SEED_KEYS} for row in seeds],
        })
    return rows


def setup_refusal(row: dict, refusal) -> str:
    """Why a set-up is not eligible ('' if it is): the first seed that is not, by
    ``refusal(seed_row)``, named where the set-up has several seeds."""
    for seed_row in row["seeds"]:
        reason = refusal({**seed_row, "not_carried": row["not_carried"]})
        if reason:
            return reason if len(row["seeds"]) == 1 else f"seed {seed_row['seed']}: {reason}"
    return ""


def pooled_correct(chosen: dict, runner_up: dict, judged: dict
                   ) -> tuple[np.ndarray, np.ndarray, int]:
    """Each model's right calls on the validation images, seed by seed, concatenated over
    the seeds both set-ups have (seed s against seed s), and how many seeds that is."""
    theirs_by_seed = {row["seed"]: row["run_id"] for row in runner_up["seeds"]}
    ours_right, theirs_right = [], []
    for row in chosen["seeds"]:
        if row["seed"] not in theirs_by_seed:
            continue
        ours, theirs = judged[row["run_id"]], judged[theirs_by_seed[row["seed"]]]
        if ours.labels.shape != theirs.labels.shape or not np.array_equal(ours.labels,
                                                                          theirs.labels):
            raise CnnlabError(
                f"{ours.path} and {theirs.path}: the predictions hold the labels of different "
                f"validation images ({ours.labels.size} and {theirs.labels.size} images, not the "
                "same labels), so the two runs cannot be compared image by image; delete both "
                "training folders and run the workflow again on one data set.")
        ours_right.append(ours.correct())
        theirs_right.append(theirs.correct())
    if not ours_right:
        raise CnnlabError(f"{chosen['setup_id']} and {runner_up['setup_id']} share no seed, so "
                          "their lead cannot be tested image by image.")
    return np.concatenate(ours_right), np.concatenate(theirs_right), len(ours_right)


def lead(measure: str, lower_is_better: bool, chosen: dict, runner_up: dict | None,
         judged: dict) -> dict | None:
    """How far the chosen set-up is ahead of the runner-up in ``measure`` (the seeds'
    means; positive: the chosen one is better), McNemar on the pooled seed-matched pairs
    and Welch over the seeds (None with fewer than two seeds a side)."""
    if runner_up is None:
        return None
    from cnnlab.analysis import statistics  # SciPy only when selecting, not planning

    ours, theirs, pairs = pooled_correct(chosen, runner_up, judged)
    test = statistics.mcnemar_exact(ours, theirs)
    difference = chosen[measure] - runner_up[measure]
    sign = -1 if lower_is_better else 1
    welch = statistics.welch_t_test([sign * row[measure] for row in chosen["seeds"]],
                                    [sign * row[measure] for row in runner_up["seeds"]])
    welch_fields = None if welch is None else {
        "t": welch.t, "df": welch.df, "p": welch.p, "significant": welch.significant}
    return {
        "measure": measure,
        "difference": float(sign * difference),
        "test": LEAD_TEST,
        "only_chosen": test.only_a,
        "only_runner_up": test.only_b,
        "n": test.n,  # image pairs, over the seed pairs pooled
        "seeds": pairs,
        "images": test.n // pairs,
        "p": test.p,
        "welch": welch_fields,
        "beyond_noise": bool(test.p < statistics.ALPHA
                             and (welch is None or welch.significant)),
    }


def lead_line(runner_up: dict | None, lead: dict | None) -> str:
    """The chosen set-up's lead over the runner-up in one line, as :func:`lead` measured it,
    for the selection's log (the report words it from the same fields)."""
    if runner_up is None or lead is None:
        return "no other candidate was eligible: no runner-up to measure the lead by"
    welch = f"; Welch over the seeds p = {lead['welch']['p']:.3g}" if lead.get("welch") else ""
    return (f"lead over the runner-up {runner_up['setup_id']} ({runner_up['task']}, "
            f"{runner_up['epochs']} epochs): {lead['measure']} {lead['difference']:+.4g}; "
            f"{lead['test']} on {lead['n']} image pairs: {lead['only_chosen']} right only for "
            f"the chosen, {lead['only_runner_up']} only for the runner-up, p = {lead['p']:.3g}"
            f"{welch}: {'beyond' if lead['beyond_noise'] else 'within'} the noise")
