"""Watching a running lab: `cnnlab status` and `cnnlab report --partial` on the small lab
while the real snakemake trains it, after it was killed, and the time-left estimate.

A training of the small lab lasts about a second, too short to look at it from outside
while it runs: the tests pause its process (SIGSTOP) once it has finished an epoch, as a
slow epoch would, look, and let it go on (SIGCONT). Its numbers do not change: the
final report must equal that of a lab nobody looked at.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from cnnlab.store import heartbeat
from tests.conftest import merged_config
from tests.interrupt_helpers import (
    comparable_report_text,
    finish,
    first_difference,
    saved_epoch,
    start_snakemake,
    wait_until,
)
from tests.test_planning import HEAVY, loaded_modules, packages
from tests.workflow_helpers import SMALL_CONFIG, copy_workflow, small_disk

pytestmark = [pytest.mark.workflow]

CNNLAB = str(Path(sys.executable).with_name("cnnlab"))
CONFIG = merged_config(SMALL_CONFIG)


def cnnlab(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CNNLAB, *args, "--configfile", SMALL_CONFIG], cwd=workdir,
                          capture_output=True, text=True, timeout=300, check=False)


def status_row(text: str, run_id: str) -> list[str]:
    """The cells of a run's row in `cnnlab status`' table (a long run id has a line of its
    own, its cells on the next)."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.split()[:1] == [run_id]:
            cells = line.split()[1:] or lines[index + 1].split()
            return cells
    raise AssertionError(f"no row of {run_id} in:\n{text}")


def file_states(*folders: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime in ns) of every file under the folders."""
    return {str(path): (path.stat().st_size, path.stat().st_mtime_ns)
            for folder in folders if folder.exists()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def running_training(workdir: Path) -> tuple[heartbeat.Progress, psutil.Process] | None:
    """A training whose process runs, past its first epoch, paused (SIGSTOP) before it
    could finish; None if there is none at this moment."""
    for path in sorted(workdir.glob("results/state/*/*/progress-e*.json")):
        progress = heartbeat.read_heartbeat(path)
        if progress is None or progress.status != heartbeat.RUNNING or progress.epoch < 1:
            continue
        if progress.epoch >= progress.epochs:
            continue  # it is writing its outputs: it would be done by the time we look
        try:
            process = psutil.Process(progress.pid)
            process.suspend()
        except psutil.Error:
            continue
        again = heartbeat.read_heartbeat(path)
        if (again is not None and again.status == heartbeat.RUNNING
                and not (workdir / progress.directory / "history.csv").exists()):
            return again, process
        process.resume()
    return None


@pytest.fixture(scope="module")
def watched_lab(tmp_path_factory):
    """The small lab, run by the real snakemake with nothing paused, and the whole lab's
    time left as lab_status estimated it every two seconds: (workdir, [(seconds since the
    start, estimated seconds left)], the seconds the run took)."""
    from cnnlab.watch.status import lab_status

    workdir = copy_workflow(tmp_path_factory.mktemp("watched-lab"))
    started = time.monotonic()
    snakemake = start_snakemake(workdir, "--cores", "2", "--configfile", SMALL_CONFIG)
    estimates = []
    while snakemake.running() and time.monotonic() - started < 1500:
        estimates.append((time.monotonic() - started,
                          lab_status(CONFIG, workdir, cores=2).seconds_left))
        time.sleep(2)
    result = finish(snakemake, timeout=60)
    assert result.returncode == 0, result.stdout[-6000:]
    return workdir, estimates, time.monotonic() - started, result.stdout


def test_status_on_a_fresh_lab_lists_every_training_waiting_and_loads_no_heavy_package(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    result = cnnlab(workdir, "status", "--cores", "2")
    assert result.returncode == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80, result.stdout
    assert "\033" not in result.stdout  # plain text when not a terminal
    from cnnlab.plan.complete_plan import complete_plan

    plan = complete_plan(CONFIG, workdir)
    for training in plan.trainings.values():
        assert status_row(result.stdout, training.run_id)[1] == "waiting"
    # 6E's runs are known after its selection only
    assert "runs that 6E's selection chooses" in result.stdout
    code = ("from cnnlab.watch.command import main\n"
            f"main(['status', '--configfile', {SMALL_CONFIG!r}])")
    loaded = packages(loaded_modules(code, workdir))
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_a_config_mistake_is_one_message(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    (workdir / "bad.yaml").write_text("seeds: [1, 1.5]\n")
    result = subprocess.run([CNNLAB, "status", "--configfile", "bad.yaml"], cwd=workdir,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("cnnlab: ") and "seeds" in result.stderr, result.stderr


def test_config_values_apply_last_as_in_snakemake(tmp_path):
    from cnnlab.errors import CnnlabError
    from cnnlab.watch.command import lab_config

    workdir = copy_workflow(tmp_path / "lab")
    config = lab_config(workdir, [SMALL_CONFIG], ["epoch_divisor=5", "share_prefixes=False"])
    assert config["epoch_divisor"] == 5 and config["share_prefixes"] is False
    # Snakemake's parser reads a list's items as text, so the workflow refuses seeds=[1, 2]:
    # status refuses it too, instead of planning a lab the run would not
    with pytest.raises(CnnlabError, match=r"--config: seeds\[0\]: '1' has the wrong type"):
        lab_config(workdir, [SMALL_CONFIG], ["seeds=[1, 2]"])
    result = subprocess.run([CNNLAB, "status", "--config", "epoch_divisor=-1"], cwd=workdir,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("--config: epoch_divisor: -1 must be at least 1."), \
        result.stderr


def test_the_time_left_at_half_way_is_within_a_factor_of_two(watched_lab):
    _, estimates, total, output = watched_lab
    assert "cnnlab lab: " in output  # each training job ends with the lab's progress
    half = min(estimates, key=lambda sample: abs(sample[0] - total / 2))
    actual = total - half[0]
    print(f"half-way at {half[0]:.0f} s of {total:.0f} s: estimated {half[1]:.0f} s left, "
          f"{actual:.0f} s were left (ratio {half[1] / actual:.2f})")
    assert actual / 2 <= half[1] <= 2 * actual


def test_status_and_partial_report_while_a_training_runs(watched_lab, tmp_path):
    from tests.test_browser import open_in_chromium

    reference = watched_lab[0] / "results/report/index.html"
    workdir = copy_workflow(tmp_path / "lab")
    snakemake = start_snakemake(workdir, "--cores", "2", "--configfile", SMALL_CONFIG)
    progress, process = wait_until(lambda: running_training(workdir), 600,
                                   "training past its first epoch", snakemake)
    try:
        training = workdir / progress.directory
        state = next(workdir.glob(f"results/state/*/{progress.run_id}"))
        before = file_states(training, state)
        result = cnnlab(workdir, "status", "--cores", "2")
        assert result.returncode == 0, result.stderr
        print(result.stdout)
        cells = status_row(result.stdout, progress.run_id)
        assert cells[1] == "training", cells
        done, planned = map(int, cells[2].split("/"))
        assert done == progress.epoch > 0 and planned == progress.epochs

        report = cnnlab(workdir, "report", "--partial")
        assert report.returncode == 0, report.stderr
        page = workdir / "results/report/partial.html"
        assert not (workdir / "results/report/index.html").exists()
        text = "\n".join(comparable_report_text(page))
        assert "Partial report" in text
        assert f"{progress.run_id}: epoch {progress.epoch} of {progress.epochs}" in text
        assert text.count("Partial:") >= 1  # the sections of its tasks say so
        dom, console = open_in_chromium(page, tmp_path, "--dump-dom")
        assert console == []
        assert "partial-banner" in dom
        # a running training's files are read, never written
        assert file_states(training, state) == before
    finally:
        process.resume()
    result = finish(snakemake, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:]
    expected = comparable_report_text(reference)
    actual = comparable_report_text(workdir / "results/report/index.html")
    assert actual == expected, first_difference(expected, actual)


def test_status_after_the_workflow_is_killed_shows_the_training_stopped(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    snakemake = start_snakemake(workdir, "--cores", "2", "--configfile", SMALL_CONFIG)
    progress, _process = wait_until(lambda: running_training(workdir), 600,
                                    "training past its first epoch", snakemake)
    snakemake.kill_group()  # SIGKILL: snakemake and its jobs, the paused one included
    assert snakemake.process.returncode == -signal.SIGKILL
    state_dir = next(workdir.glob(f"results/state/*/{progress.run_id}"))
    saved = saved_epoch(state_dir)
    assert saved >= 1
    result = cnnlab(workdir, "status", "--cores", "2")
    assert result.returncode == 0, result.stderr
    print(result.stdout)
    cells = status_row(result.stdout, progress.run_id)
    assert cells[1] == "stopped", cells
    assert cells[2] == f"{saved}/{progress.epochs}"
    # its heartbeat still says it trains: only the dead process tells otherwise
    beat = json.loads(next(state_dir.glob("progress-e*.json")).read_text())
    assert beat["status"] == "training"


def test_a_heartbeat_tells_a_running_training_from_a_stopped_one(tmp_path):
    path = tmp_path / "progress-e5.json"
    with heartbeat.Heartbeat(path, "run", "results/runs/x/run/e5", 5) as beat:
        beat.epoch_done(1, 0.75, 0.5)
        progress = heartbeat.read_heartbeat(path)
        assert (progress.epoch, progress.val_accuracy, progress.status) == (1, 0.75, "training")
        assert heartbeat.is_running(progress)  # this process
    assert heartbeat.read_heartbeat(path).status == "completed"
    assert not heartbeat.is_running(heartbeat.read_heartbeat(path))
    # a process that has ended, as a SIGKILL leaves it: its file still says "training"
    child = subprocess.run([sys.executable, "-c", (
        "from pathlib import Path; from cnnlab.store import heartbeat\n"
        f"heartbeat.Heartbeat(Path({str(path)!r}), 'run', 'd', 5).announce()")],
        check=True, timeout=120)
    assert child.returncode == 0
    ended = heartbeat.read_heartbeat(path)
    assert ended.status == "training" and not heartbeat.is_running(ended)
    # on another host only the heartbeat's age tells
    data = json.loads(path.read_text())
    data["host"] = "another-node"
    path.write_text(json.dumps(data))
    elsewhere = heartbeat.read_heartbeat(path)
    assert heartbeat.is_running(elsewhere, now=elsewhere.modified + 5)
    assert not heartbeat.is_running(elsewhere, now=elsewhere.modified + heartbeat.STALE_SECONDS)
    path.write_text('{"format": 1, "run_id": ')  # cut off
    assert heartbeat.read_heartbeat(path) is None


def test_damaged_files_are_shown_not_raised(watched_lab, tmp_path):
    import shutil

    workdir = tmp_path / "lab"
    shutil.copytree(watched_lab[0], workdir, symlinks=True)
    runs = sorted(path.parent for path in workdir.glob("results/runs/*/*/e*/record.json"))
    broken_record, unfinished = runs[0], runs[1]
    (broken_record / "record.json").write_text('{"run_id": "')
    # a training stopped half-way: outputs gone, its state cut off in the middle
    shutil.rmtree(unfinished)
    run_id = unfinished.parent.name
    state = next(workdir.glob(f"results/state/*/{run_id}/latest.state.npz"))
    state.write_bytes(state.read_bytes()[:100])
    (workdir / "results/report/index.html").unlink()
    result = cnnlab(workdir, "status", "--cores", "2")
    assert result.returncode == 0, result.stderr
    assert status_row(result.stdout, broken_record.parent.name)[1] == "failed"
    assert "record.json" in result.stdout  # the note says which file
    assert status_row(result.stdout, run_id)[1] in ("stopped", "waiting")
    report = cnnlab(workdir, "report", "--partial")
    assert report.returncode == 0, report.stderr
    text = "\n".join(comparable_report_text(workdir / "results/report/partial.html"))
    assert f"Left out: results/runs/{broken_record.parent.parent.name}" in text.replace(
        str(workdir) + "/", "")
    assert not (workdir / "results/report/index.html").exists()


def test_a_heartbeat_on_a_full_disk_never_fails_its_training(tmp_path):
    with small_disk(tmp_path / "full", "4k") as folder:
        (folder / "filler").write_bytes(b"x" * 4096)  # the disk is full now
        path = folder / "progress-e5.json"
        with heartbeat.Heartbeat(path, "run", "results/runs/x/run/e5", 5) as beat:
            beat.announce()
            beat.epoch_done(1, 0.75, 0.5)
        assert heartbeat.read_heartbeat(path) is None  # nothing written, nothing raised


def test_sharing_turns_measured_speeds_into_speeds_alone_and_shares_again():
    """Four one-thread jobs on two cores, all at once: each ran at half its speed alone;
    the two short ones end first, and the long ones go at full speed from then on."""
    from cnnlab.watch.sharing import Span, most_threads_at_once, schedule, slowdowns

    spans = [Span(0, 10, 1), Span(0, 10, 1), Span(0, 10, 1), Span(0, 10, 1), None]
    assert slowdowns(spans, 2) == [2.0, 2.0, 2.0, 2.0, 1.0]
    assert slowdowns(spans, None) == [1.0] * 5  # another host: nothing known of sharing
    assert slowdowns([Span(0, 10, 1), Span(5, 15, 1), Span(5, 15, 1)], 2)[0] == 1.25
    assert most_threads_at_once(spans) == 4
    # 5 s and 25 s left alone: 10 s at half speed, then 20 s alone
    assert schedule([(5, 1), (5, 1), (25, 1), (25, 1)], [], 4, 2) == 30.0
    assert schedule([(5, 1), (5, 1), (25, 1), (25, 1)], [], 4) == 25.0  # cores enough
    assert schedule([(4, 1)], [(4, 1), (4, 1)], 2, 2) == 8.0  # a queue, no sharing


# long enough that a quarter of the way lies past the four jobs' start (TensorFlow's import,
# four at once on two cores) and their first epochs
SHARED_RUNS = [{"lr": 1e-3, "epochs": 24}, {"lr": 2e-3, "epochs": 24},
               {"lr": 3e-3, "epochs": 72}, {"lr": 4e-3, "epochs": 72}]


def test_four_trainings_on_two_cores_the_time_left_at_a_quarter_is_within_30_percent(tmp_path):
    """`snakemake --cores 4` on two cores: four one-thread trainings at once, each at about
    half its speed alone; the two short ones end first and the long ones speed up. At a
    quarter of the way, the estimate (`cnnlab status` with the machine's cores) is within
    30 % of the time the lab then takes."""
    import os

    import yaml

    from cnnlab.plan.config import checked_config, read_config_files
    from cnnlab.watch.status import lab_status

    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores and CPU affinity")
    config = merged_config()
    config.update(dataset="shared", epoch_divisor=1, datasets={"shared": {
        "kind": "synthetic", "n_train": 400, "n_test": 40, "seed": 0, "image_size": 96}})
    config["tasks"] = {"S": {"title": "Four LeNets", "question": "Which learns fastest?",
                             "set": {"model": "lenet", "n_base": 16, "batch_size": 8},
                             "runs": SHARED_RUNS}}
    workdir = copy_workflow(tmp_path / "shared")
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    config = checked_config(read_config_files(workdir / "config.yaml"))  # its tasks alone
    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, sorted(affinity)[:2])  # two cores, for snakemake and this test
    try:
        started = time.monotonic()
        snakemake = start_snakemake(workdir, "--cores", "4")
        estimates = []
        while snakemake.running() and time.monotonic() - started < 900:
            estimates.append((time.monotonic() - started,
                              lab_status(config, workdir).seconds_left))
            time.sleep(2)
        result = finish(snakemake, timeout=60)
    finally:
        os.sched_setaffinity(0, affinity)
    assert result.returncode == 0, result.stdout[-6000:]
    total = time.monotonic() - started
    quarter = min(estimates, key=lambda sample: abs(sample[0] - total / 4))
    actual = total - quarter[0]
    print(f"a quarter at {quarter[0]:.0f} s of {total:.0f} s: estimated {quarter[1]:.0f} s "
          f"left, {actual:.0f} s were left (ratio {quarter[1] / actual:.2f}); load average "
          f"{os.getloadavg()[0]:.1f}")
    assert 0.7 * actual <= quarter[1] <= 1.3 * actual
