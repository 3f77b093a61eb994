"""Whether a lab's folder holds the results of a configuration other than the one given:
one line for ``cnnlab status`` and ``cnnlab report --partial``, so that a forgotten
``--configfile`` is not read as a lab with nothing done.

Each data set's results live under its own name (results/data, runs, state and selection
/<dataset>/), so labs on two data sets share a folder without reading each other's
files; this only says so when the given configuration's data set has no training of
its own there, or its trainings there are none that the configuration plans.
"""

from __future__ import annotations

from pathlib import Path

from cnnlab.plan.plan import Plan

RESULT_FOLDERS = ("data", "runs", "selection")


def datasets_with_results(root: Path) -> list[str]:
    """The data sets that have a folder under results/data, runs or selection."""
    found = set()
    for name in RESULT_FOLDERS:
        folder = root / "results" / name
        if folder.is_dir():
            found |= {path.name for path in folder.iterdir() if path.is_dir()}
    return sorted(found)


def other_configuration(plan: Plan, root: str | Path) -> str | None:
    """One line where ``root`` holds results of another configuration than ``plan``'s and
    none of its own trainings; None otherwise."""
    root = Path(root)
    own = [training for training in plan.trainings.values()
           if (root / training.directory).is_dir()]
    if own:
        return None
    runs = root / "results" / "runs" / plan.dataset
    planned = {Path(training.directory).parent.name for training in plan.trainings.values()}
    strangers = sorted(path.name for path in runs.glob("*") if path.name not in planned) \
        if runs.is_dir() else []
    others = [name for name in datasets_with_results(root) if name != plan.dataset]
    if others:
        held = f"results of data set{'s' if len(others) > 1 else ''} {', '.join(others)}"
    elif strangers:
        held = (f"{len(strangers)} run{'s' if len(strangers) > 1 else ''} of {plan.dataset} "
                f"that this configuration does not plan (e.g. {strangers[0]})")
    else:
        return None
    return (f"note: {root / 'results'} holds {held}, and none of this configuration's "
            f"trainings (data set {plan.dataset}): is this the configuration the lab ran with? "
            "Give the same --configfile (and --config) as to snakemake.")
