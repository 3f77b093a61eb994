"""Which device a training runs on: the gpu resource, and one GPU slot per running training
(real processes holding real file locks; no GPU needed)."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlab.errors import CnnlabError
from cnnlab.train.devices import (
    acquire_gpu_slot,
    pin_training_device,
    training_gpus,
    visible_gpus,
)
from tests.workflow_helpers import SMALL_CONFIG, copy_workflow, run_snakemake

REPO = Path(__file__).resolve().parent.parent

HOLDER = """
import sys, time
from cnnlab.train.devices import acquire_gpu_slot
slot = acquire_gpu_slot(sys.argv[1].split(","), sys.argv[2])
print(slot.gpu, flush=True)
time.sleep(60)
"""


def start_holder(gpus: str, directory) -> tuple[subprocess.Popen, str]:
    """A process that takes a slot and holds it; returns it with the GPU it got."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, gpus, str(directory)],
                               stdout=subprocess.PIPE, text=True, cwd=REPO)
    return process, process.stdout.readline().strip()


def stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()


def test_visible_gpus_follow_cuda_visible_devices_then_the_driver(tmp_path):
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 3"}) == ["2", "3"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
    driver = tmp_path / "gpus"
    for bus in ("0000:17:00.0", "0000:65:00.0"):
        (driver / bus).mkdir(parents=True)
    assert visible_gpus({}, driver_gpus=driver) == ["0", "1"]
    assert visible_gpus({}, driver_gpus=tmp_path / "absent") == []


def test_a_cpu_only_machine_asks_for_no_gpu():
    assert training_gpus("auto", gpus=[], cuda=True) == 0
    assert training_gpus("auto", gpus=["0"], cuda=False) == 0  # a CPU-only TensorFlow
    assert training_gpus("auto", gpus=["0", "1"], cuda=True) == 1
    assert training_gpus("cpu", gpus=["0"], cuda=True) == 0
    assert training_gpus("gpu", gpus=[], cuda=False) == 1
    with pytest.raises(CnnlabError, match="training_device"):
        training_gpus("tpu", gpus=[], cuda=False)


def test_two_trainings_at_once_on_two_gpus_get_different_slots(tmp_path):
    first, first_gpu = start_holder("0,1", tmp_path)
    second, second_gpu = start_holder("0,1", tmp_path)
    try:
        assert {first_gpu, second_gpu} == {"0", "1"}
        # a third finds both held: it waits, and gives up after its timeout
        with pytest.raises(CnnlabError, match=r"no free GPU among 0, 1.*--resources gpu=2"):
            acquire_gpu_slot(["0", "1"], tmp_path, timeout=0.5)
        # the first is killed: its slot is free at once, the kernel dropped its lock
        stop(first)
        slot = acquire_gpu_slot(["0", "1"], tmp_path, timeout=5)
        assert slot.gpu == first_gpu
        slot.release()
    finally:
        stop(first)
        stop(second)


def test_a_training_waits_for_a_slot_and_says_so_once(tmp_path):
    holder, gpu = start_holder("0", tmp_path)
    said = []
    try:
        waiting = subprocess.Popen(
            [sys.executable, "-c",
             ("import sys; from cnnlab.train.devices import acquire_gpu_slot; "
              "print(acquire_gpu_slot(['0'], sys.argv[1], timeout=30, log=print).gpu)"),
             str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=REPO)
        said.append(waiting.stdout.readline())
        assert "waiting for a free GPU" in said[0]
        holder.send_signal(signal.SIGKILL)
        assert waiting.stdout.readline().strip() == gpu
        assert waiting.wait(timeout=30) == 0
    finally:
        stop(holder)


def test_pinning_sets_cuda_visible_devices(tmp_path):
    environ = {"CUDA_VISIBLE_DEVICES": "0,1"}
    assert pin_training_device(0, environ, tmp_path) is None
    assert environ["CUDA_VISIBLE_DEVICES"] == ""  # a CPU training hides the GPUs
    assert environ["TF_CPP_MIN_LOG_LEVEL"] == "3"  # and the error CUDA's probe logs then
    environ = {"TF_CPP_MIN_LOG_LEVEL": "0"}
    pin_training_device(0, environ, tmp_path)
    assert environ["TF_CPP_MIN_LOG_LEVEL"] == "0"  # a level the user chose is kept
    environ = {"CUDA_VISIBLE_DEVICES": "4,5"}
    first = pin_training_device(1, environ, tmp_path)
    assert environ["CUDA_VISIBLE_DEVICES"] == first.gpu == "4"
    environ = {"CUDA_VISIBLE_DEVICES": "4,5"}
    second = pin_training_device(1, environ, tmp_path)
    assert environ["CUDA_VISIBLE_DEVICES"] == second.gpu == "5"
    first.release()
    second.release()
    # a SLURM job was given its GPU: it uses it, and takes no lock other jobs would share
    environ = {"CUDA_VISIBLE_DEVICES": "0", "SLURM_JOB_ID": "17"}
    held = [pin_training_device(1, environ, tmp_path) for _ in range(2)]
    assert [slot.gpu for slot in held] == ["0", "0"] and held[0].lock is None
    with pytest.raises(CnnlabError, match="none is visible"):
        pin_training_device(1, {"CUDA_VISIBLE_DEVICES": ""}, tmp_path)


@pytest.mark.workflow
@pytest.mark.parametrize("device, gpu", [("cpu", 0), ("gpu", 1)])
def test_the_training_jobs_declare_the_gpu_resource(tmp_path, device, gpu):
    workdir = copy_workflow(tmp_path / "lab")
    result = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", SMALL_CONFIG,
                           "--config", f"training_device={device}", timeout=300)
    assert result.returncode == 0, result.stdout
    trainings = re.findall(r"rule train:.*?resources: ([^\n]*)", result.stdout, re.DOTALL)
    assert trainings, result.stdout
    assert all(f"gpu={gpu}" in resources.split(", ") for resources in trainings)



def test_a_cpu_training_process_logs_no_cuda_probe():
    """TensorFlow initialises CUDA in any process; in a CPU job it logs the failure as an
    error (`failed call to cuInit`): a process that holds no GPU logs none."""
    code = ("from cnnlab.train import runtime\n"
            "runtime.configure_training_process(1, gpus=0)\n"
            "print(runtime.training_device()['kind'])\n")
    environ = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, check=False, env=environ)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "CPU"
    assert "cuInit" not in result.stderr, result.stderr[-3000:]
