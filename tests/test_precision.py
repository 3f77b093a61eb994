"""`precision: auto`: bfloat16 where the device computes it natively, float32 elsewhere,
decided by the training itself and named in its record."""

import json

import pytest

from cnnlab.plan.config import checked_config
from cnnlab.plan.plan import plan_lab
from cnnlab.plan.runs import RunSpec
from cnnlab.store.history import METRIC_COLUMNS, read_history
from cnnlab.train.devices import auto_precision, cpu_flags
from tests.conftest import merged_config


@pytest.mark.parametrize(("kind", "flags", "capability", "expected"), [
    ("CPU", {"avx2", "fma", "avx512f", "avx512_bf16"}, None, "mixed_bfloat16"),  # AMD Zen 4
    ("CPU", {"avx2", "amx_tile", "amx_bf16", "avx512_bf16"}, None, "mixed_bfloat16"),  # Xeon
    ("CPU", {"avx2", "fma", "avx512f"}, None, "float32"),  # AVX-512 without bfloat16
    ("CPU", {"avx2", "fma"}, None, "float32"),  # AVX2 only: bfloat16 would be emulated
    ("GPU", set(), (8, 0), "mixed_bfloat16"),  # A100
    ("GPU", set(), (9, 0), "mixed_bfloat16"),  # H100
    ("GPU", {"avx512_bf16"}, (7, 5), "float32"),  # T4: the GPU decides, not the host CPU
    ("GPU", set(), None, "float32"),
])
def test_auto_trains_in_bfloat16_only_where_the_device_computes_it(kind, flags, capability,
                                                                   expected):
    assert auto_precision(kind, flags, capability) == expected


def test_the_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\n"
                       "flags\t\t: fpu sse2 avx2 fma amx_bf16 amx_tile\n\n"
                       "processor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(cpuinfo) == {"fpu", "sse2", "avx2", "fma", "amx_bf16", "amx_tile"}
    assert cpu_flags(tmp_path / "missing") == set()


def test_auto_keeps_one_run_id_on_every_machine():
    config = merged_config()
    config["defaults"]["precision"] = "auto"
    plan = plan_lab(checked_config(config))
    run_ids = {training.run_id for training in plan.trainings.values()}
    assert all(run_id.endswith("-auto-s1") for run_id in run_ids), run_ids
    params = {"model": "lenet", "n_base": 32, "dropout": 0, "optimizer": "adam", "lr": 1e-4,
              "batch_size": 8, "loss": "bce", "threads": 1}
    ids = {precision: RunSpec.from_params({**params, "precision": precision}, "d", 1).run_id
           for precision in ("float32", "mixed_bfloat16", "auto")}
    assert ids == {"float32": "lenet-nb32-lr1e-04-bs8-adam-bce-s1",
                   "mixed_bfloat16": "lenet-nb32-lr1e-04-bs8-adam-bce-bf16-s1",
                   "auto": "lenet-nb32-lr1e-04-bs8-adam-bce-auto-s1"}


def test_an_auto_training_records_the_precision_it_resolved_and_trains_in_it(tmp_path):
    """A real training with `auto` on this machine: its record names what auto resolved
    to here, and its numbers are those of a training asked for that precision outright."""
    from cnnlab.plan.runs import Training
    from cnnlab.train.training import train
    from tests.test_arrays import make_arrays
    from tests.test_training import spec

    arrays = make_arrays(tmp_path / "arrays.npz")
    expected = auto_precision("CPU", cpu_flags())
    records, histories = {}, {}
    for name, precision in (("auto", "auto"), ("explicit", expected)):
        out_dir = tmp_path / name
        training = Training.from_job_spec(spec(2, precision=precision),
                                          str(tmp_path / f"{name}-state"))
        records[name] = train(training, arrays, out_dir,
                              tmp_path / f"{name}-state", log=lambda _: None)
        histories[name] = read_history(out_dir / "history.csv")[list(METRIC_COLUMNS)]
    assert records["auto"]["precision"] == records["explicit"]["precision"] == expected
    assert records["auto"]["params"]["precision"] == "auto"  # the run as asked
    written = json.loads((tmp_path / "auto" / "record.json").read_text())
    assert written["precision"] == expected
    assert written["started_at"] < written["finished_at"]
    assert written["finished_at"] - written["started_at"] >= written["wall_seconds"] - 0.01
    assert histories["auto"].equals(histories["explicit"])  # bit for bit
