"""The small lab through a real SLURM cluster (profiles/slurm): every training a SLURM
job, a job the cluster kills is resubmitted with more memory and time, and the numbers,
figures and report are those of a local run of the same config on the same machine.

Skipped when there is no SLURM here (no `sinfo`/`sbatch`, or `scontrol ping` gets no
answer) unless CNNLAB_REQUIRE_SLURM=1 (CI), which turns every such skip into a failure.
../shared/cluster/start-slurm.sh starts a single-node cluster on this machine.
"""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from cnnlab.plan.complete_plan import complete_plan
from tests.conftest import merged_config
from tests.interrupt_helpers import (
    comparable_report_text,
    finish,
    first_difference,
    metric_columns,
    start_snakemake,
)
from tests.workflow_helpers import SMALL_CONFIG, copy_workflow, run_snakemake

pytestmark = [pytest.mark.cluster, pytest.mark.workflow, pytest.mark.slow]

REQUIRED = os.environ.get("CNNLAB_REQUIRE_SLURM") == "1"
SLURM_COMMANDS = ("sinfo", "sbatch", "squeue", "scontrol", "scancel")
# test-only overrides of the profile: status checks from 1 s after submission instead of
# 40 s (this cluster keeps finished jobs visible for 600 s: MinJobAge), and the SLURM
# logs of successful jobs kept, so that the test can read them
TEST_ARGS = ("--slurm-init-seconds-before-status-checks", "1", "--slurm-keep-successful-logs")
SUBMITTED = re.compile(
    r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (.+?)\)\.?$", re.MULTILINE
)


def _command(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=False, capture_output=True, text=True, timeout=timeout)


def slurm_problem() -> str | None:
    """Why the cluster test cannot run here, or None."""
    missing = [name for name in SLURM_COMMANDS if shutil.which(name) is None]
    if missing:
        return f"no SLURM client ({', '.join(missing)} not on PATH)"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    try:
        ping = _command("scontrol", "ping")
    except subprocess.TimeoutExpired:
        return "`scontrol ping` did not answer within 30 s"
    if ping.returncode != 0 or "UP" not in ping.stdout:
        said = (ping.stdout.strip() or ping.stderr.strip() or "nothing").splitlines()[0]
        return f"the SLURM controller does not answer (`scontrol ping`: {said})"
    if default_partition() is None:
        return "SLURM has no default partition (`sinfo -h -o %P` marks none with *)"
    states = _command("sinfo", "-h", "-p", default_partition(), "-o", "%t").stdout.split()
    if not any(state.rstrip("*~#") in {"idle", "mix", "alloc", "comp"} for state in states):
        return f"no node of partition {default_partition()} is up (states: {states})"
    return None


def default_partition() -> str | None:
    for name in _command("sinfo", "-h", "-o", "%P").stdout.split():
        if name.endswith("*"):
            return name.rstrip("*")
    return None


@pytest.fixture(scope="module")
def slurm():
    problem = slurm_problem()
    if problem:
        how = "start one with `bash ../shared/cluster/start-slurm.sh` (root)"
        if REQUIRED:
            pytest.fail(f"CNNLAB_REQUIRE_SLURM=1 but {problem}; {how}", pytrace=False)
        pytest.skip(f"{problem}; {how}")
    return default_partition()


def job_info(slurm_jobid: str) -> dict[str, str] | None:
    """`scontrol show job` as a dict, or None once SLURM has forgotten the job."""
    shown = _command("scontrol", "show", "job", "-o", slurm_jobid)
    if shown.returncode != 0:
        return None
    return dict(re.findall(r"(\S+?)=(\S*)", shown.stdout))


def submissions(output: str) -> list[dict]:
    """Every SLURM submission snakemake reports: its job, SLURM job id, rule and log."""
    found = []
    for job, slurm_jobid, log in SUBMITTED.findall(output):
        rule = re.search(r"/rule_([^/]+)/", log)
        found.append({"job": job, "id": slurm_jobid, "rule": rule and rule.group(1), "log": log})
    return found


def memory_mb(info: dict) -> int:
    value = info["MinMemoryNode"]
    number, unit = int(re.match(r"\d+", value).group()), value[-1]
    return number * {"M": 1, "G": 1024, "T": 1024 * 1024}.get(unit, 1)


def minutes(limit: str) -> int:
    days, _, clock = limit.rpartition("-")
    hours, mins, _secs = (int(part) for part in clock.split(":"))
    return (int(days) if days else 0) * 1440 + hours * 60 + mins


def finished_plan(workdir: Path):
    """The lab folder's plan (cnnlab.plan.complete_plan.complete_plan), every selection made."""
    plan = complete_plan(merged_config(workdir / SMALL_CONFIG), workdir)
    assert not plan.pending_tasks
    return plan


@pytest.fixture(scope="module")
def cluster_lab(slurm, tmp_path_factory):
    """The small lab through `--workflow-profile profiles/slurm`, the profile edited in its
    one place (the partition), with one training job cancelled by the cluster's hand."""
    workdir = copy_workflow(tmp_path_factory.mktemp("cluster-lab"))
    profile = workdir / "profiles/slurm/config.yaml"
    text, edits = re.subn(
        r"^  # slurm_partition: \S+",
        f'  slurm_partition: "{slurm}"',
        profile.read_text(),
        flags=re.MULTILINE,
    )
    assert edits == 1, "profiles/slurm/config.yaml has no `# slurm_partition:` line to edit"
    profile.write_text(text)

    started = time.monotonic()
    snakemake = start_snakemake(
        workdir, "--workflow-profile", "profiles/slurm", "--configfile", SMALL_CONFIG, *TEST_ARGS
    )
    cancelled = None
    try:
        while cancelled is None and snakemake.running():
            for submission in submissions(snakemake.output()):
                if submission["rule"] != "train":
                    continue
                state = _command("squeue", "-h", "-j", submission["id"], "-o", "%T").stdout.strip()
                if state in {"PENDING", "RUNNING"}:
                    # as a preemption or a wall-time limit would (both: a failed job)
                    _command("scancel", submission["id"])
                    cancelled = submission
                    break
            time.sleep(0.2)
    except BaseException:
        snakemake.kill_group()
        raise
    result = finish(snakemake, timeout=1500)
    elapsed = time.monotonic() - started
    print(f"\nthe small lab through SLURM took {elapsed:.0f} s")
    assert result.returncode == 0, result.stdout[-8000:]
    assert cancelled is not None, "no training job was seen pending or running to cancel"
    return {
        "workdir": workdir,
        "output": result.stdout,
        "cancelled": cancelled,
        "partition": slurm,
        "seconds": elapsed,
    }


def test_every_training_ran_as_a_slurm_job(cluster_lab):
    workdir, output = cluster_lab["workdir"], cluster_lab["output"]
    plan = finished_plan(workdir)
    train_jobs = [s for s in submissions(output) if s["rule"] == "train"]
    assert len(train_jobs) >= len(plan.trainings) == 13, output[-5000:]
    for key, training in plan.trainings.items():
        wildcards = f"/{training.spec.dataset}_{training.run_id}_{training.epochs}/"
        jobs = [job for job in train_jobs if wildcards in job["log"]]
        assert jobs, f"{key} was not submitted to SLURM"
        last = jobs[-1]
        log = Path(last["log"])
        assert log.is_file(), f"{key}: no SLURM log {log}"
        # on the node, the job ran snakemake from this project's virtual environment
        assert "--executor slurm-jobstep" in log.read_text(errors="replace"), log
        info = job_info(last["id"])
        if info is not None:  # else SLURM has forgotten it (MinJobAge): the log must do
            assert info["JobState"] == "COMPLETED", (key, info["JobState"])
            assert info["Partition"] == cluster_lab["partition"]
            assert int(info["NumCPUs"]) >= training.spec.threads


def test_a_job_the_cluster_kills_is_resubmitted_with_more_memory_and_time(cluster_lab):
    cancelled, output = cluster_lab["cancelled"], cluster_lab["output"]
    retries = [
        s
        for s in submissions(output)
        if s["job"] == cancelled["job"] and int(s["id"]) > int(cancelled["id"])
    ]
    assert retries, f"SLURM job {cancelled['id']} was cancelled and never resubmitted"
    first, retry = job_info(cancelled["id"]), job_info(retries[0]["id"])
    if first is None or retry is None:
        pytest.skip("SLURM has already forgotten the jobs (MinJobAge too short)")
    assert first["JobState"] == "CANCELLED"
    assert retry["JobState"] == "COMPLETED"
    assert memory_mb(retry) == 2 * memory_mb(first)
    assert minutes(retry["TimeLimit"]) == 2 * minutes(first["TimeLimit"])


def test_the_cluster_gives_the_local_runs_numbers_and_report(cluster_lab, request):
    # the local run of the same config (shared with test_workflow), only once SLURM is here
    local = request.getfixturevalue("small_lab")[0]
    cluster = cluster_lab["workdir"]
    plan = finished_plan(cluster)
    assert plan.trainings.keys() == finished_plan(local).trainings.keys()
    for training in plan.trainings.values():
        # the metrics byte for byte; the seconds column is wall time, never equal
        assert metric_columns(cluster / training.history_csv) == metric_columns(
            local / training.history_csv
        ), training.run_id
        summary = f"{training.directory}/summary.csv"
        assert (cluster / summary).read_bytes() == (local / summary).read_bytes()
    for name in ("results/selection/tiny/6E.json", "results/data/tiny/manifest.json"):
        assert (cluster / name).read_bytes() == (local / name).read_bytes(), name
    figures = sorted(path.relative_to(local) for path in (local / "results/figures").rglob("*.*"))
    assert figures
    for figure in figures:
        assert (cluster / figure).read_bytes() == (local / figure).read_bytes(), figure
    expected = comparable_report_text(local / "results/report/index.html")
    actual = comparable_report_text(cluster / "results/report/index.html")
    assert actual == expected, first_difference(expected, actual)


@pytest.mark.parametrize("case", ["no such partition", "memory beyond every node",
                                  "controller down"])
def test_a_refusal_no_retry_can_change_is_one_line_and_nothing_is_submitted(slurm, tmp_path,
                                                                            case):
    """A partition that does not exist, a job's memory beyond every node, a controller
    that does not answer (the real client, pointed at a port where none listens): one
    line naming the setting, before any submission; no retry, no sbatch command."""
    workdir = copy_workflow(tmp_path / "lab")
    args, env = [], {}
    if case == "no such partition":
        args = ["--set-resources", "prepare_data:slurm_partition=nosuch"]
        expected = "slurm_partition 'nosuch' of rule prepare_data is not a partition of this"
    elif case == "memory beyond every node":
        args = ["--set-resources", "prepare_data:mem_mb=90000000"]
        expected = "rule prepare_data asks for mem_mb = 90,000,000 MB, more than any node of"
    else:
        conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")).read_text()
        down = tmp_path / "slurm.conf"
        down.write_text(re.sub(r"(?m)^SlurmctldPort=.*$", "", conf) + "\nSlurmctldPort=6999\n")
        env = {"SLURM_CONF": str(down)}
        expected = "the SLURM controller does not answer (`sinfo` failed: "
    result = run_snakemake(workdir, "results/data/tiny/manifest.json", "--workflow-profile",
                           "profiles/slurm", "--configfile", SMALL_CONFIG, *TEST_ARGS, *args,
                           timeout=300, env=env)
    assert result.returncode == 1, result.stdout[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("cnnlab: ")]
    assert len(lines) == 1 and expected in lines[0], result.stdout[-3000:]
    assert lines[0].endswith("nothing was submitted.")
    assert "sbatch" not in result.stdout and "Trying to restart" not in result.stdout
    assert submissions(result.stdout) == [] and "Traceback" not in result.stdout


def test_a_retrys_memory_is_capped_at_the_largest_node(slurm):
    from cnnlab.workflow import cluster

    assert cluster.slurm_refusal([("train", {"mem_mb": 1000})]) is None
    largest = max(cluster.NODE_MEMORY_MB.values())
    assert cluster.capped_memory_mb(3 * largest) == largest
    assert cluster.capped_memory_mb(1000) == 1000
    limits = list(cluster.TIME_LIMIT_MINUTES.values())
    expected = 10**6 if None in limits else min(10**6, max(limits))
    assert cluster.capped_minutes(10**6) == expected


def test_slurm_time_limits_read_in_minutes():
    from cnnlab.workflow.cluster import minutes

    assert [minutes(text) for text in ("infinite", "30", "30:00", "2:00:00", "1-12:30:00")] == [
        None, 30, 30, 120, 2190]


def test_a_refused_submission_is_said_without_the_sbatch_command(slurm, tmp_path):
    """A refusal cnnlab cannot foresee (a node feature that does not exist): SLURM's own
    words, without the sbatch command and its script."""
    workdir = copy_workflow(tmp_path / "lab")
    result = run_snakemake(workdir, "results/data/tiny/manifest.json", "--workflow-profile",
                           "profiles/slurm", "--configfile", SMALL_CONFIG, *TEST_ARGS,
                           "--set-resources", "prepare_data:constraint=nosuchfeature",
                           timeout=300)
    assert result.returncode == 1, result.stdout[-3000:]
    said = [line.strip() for line in result.stdout.splitlines() if "message:" in line]
    assert said and all(line == "message: SLURM refused the job (sbatch: Batch job submission "
                        "failed: Invalid feature specification)" for line in said), said
    assert "sbatch call" not in result.stdout and "--wrap" not in result.stdout
