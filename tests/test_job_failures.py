"""A job fails once and clearly, on the real snakemake with the project's default profile:
a data error is said once (its retry fails at once, "not retried"), a full disk is one
line naming the file with nothing half-written, and the training of a Snakemake killed
with SIGKILL stops with it, the rerun saying what to run about the lock it left.
"""

import os
import signal
import subprocess
import sys

import psutil
import pytest

from cnnlab.workflow.snakemake_process import NOT_RETRIED, runs_no_job
from tests.data_fixtures import write_course_layout
from tests.interrupt_helpers import metric_columns, saved_epoch
from tests.test_faults import start_and_wait_for_a_random_epoch, uninterrupted  # noqa: F401
from tests.workflow_helpers import SMALL_CONFIG, copy_workflow, run_snakemake, small_disk

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

FOLDER_DATA = """\
dataset: folder
datasets:
  folder:
    kind: folder
    path: images
    layout: filename
    classes:
      - {name: Mel, label: 0}
      - {name: Nev, label: 1}
    image_size: 32
"""


def test_a_data_error_is_said_once_and_its_retry_fails_at_once(tmp_path):
    workdir = copy_workflow(tmp_path / "lab")
    write_course_layout(workdir / "images")
    empty = workdir / "images" / "train" / "Mel_0001.png"
    empty.write_bytes(b"")
    (workdir / "folder.yaml").write_text(FOLDER_DATA)
    result = run_snakemake(workdir, "results/data/folder/manifest.json", "--cores", "1",
                           "--configfile", "folder.yaml", timeout=300)
    assert result.returncode != 0, result.stdout[-5000:]
    message = "images/train/Mel_0001.png: is empty (0 bytes)"
    assert result.stdout.count(message) == 1, result.stdout[-5000:]
    # the profile's retry is still there (for a job killed for memory), and ends at once
    assert "Trying to restart job" in result.stdout
    assert result.stdout.count(NOT_RETRIED) == 1
    assert "Traceback" not in result.stdout
    log = (workdir / "logs/data/folder.log").read_text()
    assert log.startswith(NOT_RETRIED) and message in log
    assert "see above" not in log  # nothing is above it in the log
    assert f"{NOT_RETRIED} (said above; also in logs/data/folder.log)" in result.stdout
    assert not (workdir / "results/data/folder/arrays.npz").exists()

    # a new Snakemake tries again: the file may have been fixed meanwhile
    empty.unlink()
    fixed = run_snakemake(workdir, "results/data/folder/manifest.json", "--cores", "1",
                          "--configfile", "folder.yaml", timeout=300)
    assert fixed.returncode == 0, fixed.stdout[-5000:]


@pytest.fixture
def lab_on_a_small_disk(tmp_path):
    """A fresh copy of the workflow whose results/ is a 1 MB file system of its own."""
    workdir = copy_workflow(tmp_path / "lab")
    with small_disk(workdir / "results", "1m"):
        yield workdir


def test_a_full_disk_is_one_line_naming_the_file_and_nothing_is_half_written(
        lab_on_a_small_disk):
    workdir = lab_on_a_small_disk
    training = "results/runs/tiny/alexnet-nb8-lr1e-05-bs8-adam-bce-s1/e7"
    result = run_snakemake(workdir, f"{training}/history.csv", "--cores", "1",
                           "--configfile", SMALL_CONFIG, timeout=600)
    assert result.returncode != 0, result.stdout[-5000:]
    assert "Traceback" not in result.stdout and "OSError" not in result.stdout
    lines = [line for line in result.stdout.splitlines() if "the disk is full" in line]
    assert len(lines) == 1, result.stdout[-5000:]
    assert lines[0].startswith("results/") and ": could not be written: the disk is full" in lines[0]
    assert result.stdout.count(NOT_RETRIED) == 1  # a retry cannot succeed
    assert not (workdir / training / "history.csv").exists()
    leftovers = [path for path in (workdir / "results").rglob(".*") if path.name != ".lock"]
    assert leftovers == []


WEIGHTS_ONTO = """
import sys
from pathlib import Path

import keras

from cnnlab.store import files, layout
from cnnlab.workflow.entrypoint import run_entrypoint

folder, free_pages = Path(sys.argv[1]), int(sys.argv[2])
if free_pages >= 0:  # fill the disk but for a few pages before the weights are written
    (folder / "filler").write_bytes(b"x" * (200 * 1024 - 4096 * free_pages))
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(2048), keras.layers.Dense(4)])


def main(log):
    target = folder / layout.weights_name(1)
    with files.atomic_path(target, suffix=layout.WEIGHTS_SUFFIX) as temporary:
        model.save_weights(str(temporary), overwrite=True)


run_entrypoint(main, log_path=folder.parent / "job.log")
"""


@pytest.mark.parametrize("free_pages", [-1, 0, 1, 3])
def test_a_full_disk_under_keras_weights_is_one_line_and_no_crash(tmp_path, free_pages):
    """Keras' save_weights onto a disk that fills while it writes (or that has a page or
    none left): the one line, then nothing; no h5py traceback, no SIGSEGV at exit."""
    with small_disk(tmp_path / "small", "200k") as small:
        result = subprocess.run([sys.executable, "-c", WEIGHTS_ONTO, str(small), str(free_pages)],
                                capture_output=True, text=True, timeout=300, check=False,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        left = sorted(path.name for path in small.rglob("*")
                      if path.is_file() and path.name != "filler")
    assert result.returncode == 1, result.stderr[-3000:]
    said = [line for line in result.stderr.splitlines()
            if not line.startswith(("WARNING: All log messages", "I0000", "E0000", "W0000"))]
    assert len(said) == 1 and "epoch0001.weights.h5: could not be written: the disk is full" \
        in said[0], result.stderr[-3000:]
    assert left == []


def test_a_killed_snakemakes_training_stops_and_the_rerun_says_how_to_unlock(
        tmp_path, uninterrupted):  # noqa: F811
    workdir, training, args, kill_after, snakemake = start_and_wait_for_a_random_epoch(tmp_path)
    jobs = snakemake.descendants("train.py")
    assert jobs, snakemake.output()[-3000:]
    os.kill(snakemake.pid, signal.SIGKILL)  # Snakemake alone, as `kill -9 <its pid>` does
    snakemake.process.wait(timeout=60)
    _gone, alive = psutil.wait_procs(jobs, timeout=60)
    assert not alive, "the training runs on without its Snakemake"
    log = (workdir / f"logs/train/{training.directory.removeprefix('results/runs/')}.log")
    assert "stopping: the Snakemake that started this job" in log.read_text()
    killed_at = saved_epoch(workdir / training.state_directory)
    message = f"killed after epoch {kill_after} (saved: {killed_at})"
    assert kill_after <= killed_at < training.epochs, message
    assert not (workdir / training.history_csv).exists()

    refused = run_snakemake(workdir, *args, timeout=300)
    assert refused.returncode != 0, refused.stdout[-3000:]
    assert "no Snakemake runs here on this machine" in refused.stdout, refused.stdout[-3000:]
    assert "run `snakemake --unlock` here" in refused.stdout

    unlocked = run_snakemake(workdir, "--unlock", *args[1:], timeout=120)
    assert unlocked.returncode == 0, unlocked.stdout[-3000:]
    rerun = run_snakemake(workdir, *args, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-5000:]
    assert f"resuming from the state at epoch {killed_at}" in (log.read_text())
    assert metric_columns(workdir / training.history_csv) == metric_columns(uninterrupted), message


def test_a_command_that_runs_no_job_is_told_from_one_that_does():
    for argv in (["snakemake", "--unlock"], ["snakemake", "-t"], ["snakemake", "--lint"],
                 ["snakemake", "--list-rules"], ["snakemake", "--summary"], ["snakemake", "-S"],
                 ["snakemake", "--dag"], ["snakemake", "--report=r.html"]):
        assert runs_no_job(argv), argv
    for argv in (["snakemake", "--cores", "4"], ["snakemake", "-c4", "-p", "-k"],
                 ["snakemake", "--configfile", "x.yaml", "--rerun-incomplete"],
                 ["snakemake", "--latency-wait", "5"], ["snakemake", "--report-after-run"],
                 ["snakemake", "--reporter", "html"]):
        assert not runs_no_job(argv), argv


def test_every_option_said_to_run_no_job_is_one_of_this_snakemakes():
    from snakemake.cli import get_argument_parser

    from cnnlab.workflow.snakemake_process import INSPECTING_OPTIONS

    options = {name for action in get_argument_parser()._actions for name in action.option_strings}
    assert INSPECTING_OPTIONS <= options, sorted(INSPECTING_OPTIONS - options)
