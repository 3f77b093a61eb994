"""Part 5: ``precision: mixed_bfloat16`` against float32: seconds per epoch of the lab's
set-ups, and the lab's accuracies in both (bench.parts.bf16_lab)."""

from __future__ import annotations

import statistics

from bench.common import Context, check_row, say, slug, table
from bench.jobs import cnnlab_jobs, history_rows, timed
from bench.parts import bf16_lab
from bench.parts.epoch_speed import EPOCH_SETUPS

SPEED_TARGET = 0.5  # bfloat16's seconds per epoch over float32's, at most (2 x the images/s)
SPEED_TARGET_SETUPS = ("LeNet b8", "AlexNet n_base 32 b8")


def measure(ctx: Context) -> dict:
    """Each of part 1's set-ups trained by one cnnlab job alone, once per precision,
    ``--bf16-epochs``; then the lab's tasks in both precisions (``--bf16-divisor``; 0: not)."""
    epochs = max(2, int(ctx.arguments.bf16_epochs))
    rows = []
    for label, _, changes in EPOCH_SETUPS:
        results = {}
        for precision in ("float32", "mixed_bfloat16"):
            params = {**ctx.base_params(), **changes, "precision": precision}
            say(f"part 5: {label}, {precision}, {epochs} epochs")
            name = f"bf16-{slug(label)}-{precision}"
            (job,) = cnnlab_jobs(ctx, params, epochs, 1, name)
            results[precision] = {
                "seconds": statistics.median(timed(job["epoch_seconds"])),
                "history": history_rows(job["out"]),
            }
        rows.append(precision_row(label, epochs, results["float32"], results["mixed_bfloat16"]))
    result = {"epochs": epochs, "rows": rows}
    if ctx.arguments.bf16_divisor:
        result["lab"] = bf16_lab.measure(ctx)
    return result


def precision_row(label: str, epochs: int, f32: dict, bf16: dict) -> dict:
    """One set-up's two trainings compared: speed, the last epoch's metrics, and the largest
    difference of validation accuracy over the epochs."""
    return {
        "setup": label,
        "epochs": epochs,
        "float32_seconds": f32["seconds"],
        "bf16_seconds": bf16["seconds"],
        "speed_ratio": bf16["seconds"] / f32["seconds"],
        "float32_val_accuracy": float(f32["history"][-1]["val_accuracy"]),
        "bf16_val_accuracy": float(bf16["history"][-1]["val_accuracy"]),
        "float32_val_loss": float(f32["history"][-1]["val_loss"]),
        "bf16_val_loss": float(bf16["history"][-1]["val_loss"]),
        "max_val_accuracy_difference": max(
            abs(float(a["val_accuracy"]) - float(b["val_accuracy"]))
            for a, b in zip(f32["history"], bf16["history"])
        ),
    }


HEADERS = [
    "set-up",
    "float32 s/epoch",
    "bf16 s/epoch",
    "bf16 / float32",
    "val_accuracy float32 / bf16",
    "val_loss float32 / bf16",
    "largest val_accuracy difference over the epochs",
]


def render(ctx: Context, result: dict) -> str:
    explanation = (
        "The same run (cnnlab's training path, one job alone) in float32 and with "
        f"`precision: mixed_bfloat16`, {result['epochs']} epochs; seconds per epoch are "
        "medians after the first epoch; accuracies are the last epoch's."
    )
    rows = [
        [
            row["setup"],
            f"{row['float32_seconds']:.2f}",
            f"{row['bf16_seconds']:.2f}",
            f"**{row['speed_ratio']:.2f}**",
            f"{row['float32_val_accuracy']:.3f} / {row['bf16_val_accuracy']:.3f}",
            f"{row['float32_val_loss']:.4f} / {row['bf16_val_loss']:.4f}",
            f"{row['max_val_accuracy_difference']:.3f}",
        ]
        for row in result["rows"]
    ]
    out = ["## 5. mixed_bfloat16 against float32", "", explanation, "", table(HEADERS, rows), ""]
    if "lab" in result:
        out.append(bf16_lab.render(result["lab"]))
    return "\n".join(out)


def checks(ctx: Context, result: dict) -> list[list]:
    return [
        check_row(f"{row['setup']}: bfloat16 s/epoch / float32's", f"<= {SPEED_TARGET}",
                  f"{row['speed_ratio']:.2f}", row["speed_ratio"] <= SPEED_TARGET, ctx.quick)
        for row in result["rows"] if row["setup"] in SPEED_TARGET_SETUPS
    ]
