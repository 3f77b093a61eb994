"""`onednn: auto`: TensorFlow's oneDNN kernels on where they are known faster, decided in
the training's own process before TensorFlow is imported, named in its record; with them
on, a training gives the same numbers every time."""

import json
import platform
import subprocess
import sys

import pytest

from cnnlab.plan.config import checked_config
from cnnlab.plan.plan import plan_lab
from cnnlab.plan.runs import RunSpec
from cnnlab.train.devices import cpu_flags, onednn_variable, tensorflow_onednn_default
from tests.conftest import PROJECT_ROOT, merged_config
from tests.test_arrays import make_arrays
from tests.test_training import metric_bytes, spec

AVX2_ONLY = {"sse4_2", "avx", "avx2", "fma"}  # AMD EPYC (Zen 2/3): TensorFlow leaves it off
AVX512_BF16 = AVX2_ONLY | {"avx512f", "avx512_vnni", "avx512_bf16"}  # AMD EPYC (Zen 4)
XEON_AMX = AVX2_ONLY | {"avx512f", "amx_tile", "amx_bf16"}


@pytest.mark.parametrize(("requested", "flags", "machine", "inherited", "expected"), [
    ("auto", AVX2_ONLY, "x86_64", None, "1"),  # measured 0.42-0.69 x the time per epoch
    ("auto", AVX512_BF16, "x86_64", None, None),  # TensorFlow's default is on already
    ("auto", XEON_AMX, "x86_64", None, None),
    ("auto", {"sse4_2", "avx"}, "x86_64", None, None),  # no AVX2: TensorFlow's default
    ("auto", set(), "aarch64", None, None),  # not known here: TensorFlow's default
    ("auto", AVX2_ONLY, "x86_64", "0", "0"),  # the user's own variable stays
    ("on", AVX2_ONLY, "x86_64", None, "1"),
    ("on", AVX512_BF16, "x86_64", "0", None),  # on is TensorFlow's default here
    ("off", AVX512_BF16, "x86_64", None, "0"),
    ("off", AVX2_ONLY, "x86_64", "1", None),
    ("off", set(), "aarch64", None, "0"),
])
def test_auto_turns_onednn_on_where_it_is_faster_and_sets_only_what_differs(
        requested, flags, machine, inherited, expected):
    assert onednn_variable(requested, flags, machine, inherited) == expected


def test_an_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="onednn must be one of auto, on, off"):
        onednn_variable("fast", AVX2_ONLY, "x86_64", None)


def test_auto_keeps_every_run_id_and_job_spec_and_on_off_name_theirs():
    config = merged_config()
    plan = plan_lab(checked_config(config))
    config["defaults"]["onednn"] = "auto"
    same = plan_lab(checked_config(config))
    assert ([t.job_spec() for t in plan.trainings.values()]
            == [t.job_spec() for t in same.trainings.values()])
    assert all("onednn" not in t.job_spec()["params"] for t in same.trainings.values())
    params = {"model": "lenet", "n_base": 32, "dropout": 0, "optimizer": "adam", "lr": 1e-4,
              "batch_size": 8, "loss": "bce", "threads": 1, "precision": "float32"}
    # YAML reads a bare on/off as true/false
    ids = {value: RunSpec.from_params({**params, "onednn": value}, "d", 1).run_id
           for value in ("auto", "on", True, "off", False)}
    assert ids == {"auto": "lenet-nb32-lr1e-04-bs8-adam-bce-s1",
                   "on": "lenet-nb32-lr1e-04-bs8-adam-bce-onednnon-s1",
                   True: "lenet-nb32-lr1e-04-bs8-adam-bce-onednnon-s1",
                   "off": "lenet-nb32-lr1e-04-bs8-adam-bce-onednnoff-s1",
                   False: "lenet-nb32-lr1e-04-bs8-adam-bce-onednnoff-s1"}
    spec_on = RunSpec.from_params({**params, "onednn": "on"}, "d", 1)
    assert RunSpec.from_dict(spec_on.to_dict()) == spec_on


def train_in_a_process(tmp_path, name, training_spec, arrays):
    """bench/cnnlab_job.py: a training process set up as scripts/train.py sets one up."""
    spec_json = tmp_path / f"{name}.json"
    spec_json.write_text(json.dumps(training_spec))
    out_dir = tmp_path / name
    result = subprocess.run(
        [sys.executable, "bench/cnnlab_job.py", str(spec_json), str(arrays), str(out_dir),
         str(tmp_path / f"{name}-state")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out_dir / "record.json").read_text()), out_dir / "history.csv"


def test_with_onednn_on_a_training_gives_the_same_numbers_twice_and_says_so(tmp_path):
    arrays = make_arrays(tmp_path / "arrays.npz")
    records, histories = {}, {}
    for name, onednn in (("on1", "on"), ("on2", "on"), ("off", "off"), ("auto", "auto")):
        records[name], histories[name] = train_in_a_process(
            tmp_path, name, spec(3, onednn=onednn), arrays)
    assert records["on1"]["onednn"] == records["on2"]["onednn"] == "on"
    assert records["off"]["onednn"] == "off"
    assert metric_bytes(histories["on1"]) == metric_bytes(histories["on2"])  # bit for bit
    # auto: on where this CPU is known faster with it, else TensorFlow's own choice
    flags, machine = cpu_flags(), platform.machine()
    default = tensorflow_onednn_default(flags, machine)
    variable = onednn_variable("auto", flags, machine, None)
    expected = {"1": "on", "0": "off"}.get(variable, {True: "on", False: "off"}.get(default))
    if expected is not None:
        assert records["auto"]["onednn"] == expected
        twin = "on1" if expected == "on" else "off"
        assert metric_bytes(histories["auto"]) == metric_bytes(histories[twin])
    assert records["auto"]["onednn_opts"] == variable
