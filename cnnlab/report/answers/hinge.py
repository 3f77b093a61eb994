"""6F's note on hinge loss: why Keras' plain binary accuracy is wrong for labels in {-1, 1}
and what the report counts instead."""

from __future__ import annotations


def hinge_note(test_counts: dict[str, int]) -> str:
    """Why plain binary accuracy is wrong for hinge labels and what was computed instead.
    `test_counts`: the validation split's images per class."""
    # where Nev is the majority, its share is the baseline the report states at the top
    nev_is_majority = test_counts.get("Nev", 0) == max(test_counts.values(), default=0) > 0
    ceiling = " (here the majority baseline)" if nev_is_majority else ""
    return (
        "Why plain binary accuracy is wrong here: hinge loss needs labels in {-1, 1}, so Mel "
        "is -1. Keras' binary accuracy rounds the prediction to 0 or 1 and compares it with "
        "the label, so a Mel image (-1) never matches and counts as wrong whatever the model "
        f"predicts; the metric can reach at most the share of Nev images{ceiling}. The hinge "
        "model's output is a linear score whose sign is the class (score > 0: Nev), so the "
        "accuracy shown for hinge runs is the real fraction of images whose sign matches the "
        "true class, counted the same way as the sigmoid > 0.5 rule of the BCE runs and "
        "comparable with them."
    )
