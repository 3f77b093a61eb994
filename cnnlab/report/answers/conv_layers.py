"""5D (``conv_layers``): what the first two convolutional layers do, from the trained
model's filters and feature maps (the statistics of its concept figure)."""

from __future__ import annotations

from cnnlab.report.answers import Answer, Facts
from cnnlab.report.formatting import percent

CAPTION = ("The first two convolutional layers of the trained model: learned filters, the "
           "feature maps of one test image per class, and the Nev − Mel difference of the mean "
           "feature maps over the test images.")


def answer(facts: Facts) -> Answer:
    stats = facts.stats
    layers = stats.get("layers", [])
    if len(layers) < 2:
        missing = "The filter statistics of the trained model are missing; run plot_concept."
        return Answer(glance=missing, answer=[missing])
    first, second = layers[0], layers[1]
    one_sign = first["filters"] - first["mixed_sign"]
    signs = (f"all {first['filters']} mix positive and negative weights (edges, spots)"
             if not one_sign else
             f"{first['mixed_sign']} mix positive and negative weights (edges, spots), "
             f"{one_sign} are of one sign (brightness)")
    text = (f"The first layer's {first['filters']} filters each see "
            f"{first['receptive_field']} × {first['receptive_field']} pixels and respond to "
            f"local contrast: {signs}. The second layer's "
            f"{second['filters']} filters work on the pooled maps, see "
            f"{second['receptive_field']} × {second['receptive_field']} pixels and combine "
            "edges into texture and pieces of the lesion's border.")
    differing = [(layer["name"], layer["difference"]) for layer in (first, second)
                 if layer.get("difference", {}).get("strongest")]
    if differing:
        counts = join_counts(differing)
        text += (f" Averaged over the test images, {counts} respond differently to melanomas "
                 "and nevi.")
    channels = sum(result["channels"] for _, result in differing)
    telling = sum(result["differing"] for _, result in differing)
    detects = "edges and brightness" if one_sign else "edges and spots"
    glance = (f"Layer 1 detects {detects}, layer 2 combines them into texture"
              + (f"; {telling} of their {channels} channels tell Mel from Nev on average."
                 if differing else "."))
    return Answer(glance=glance, answer=[text], details=answer_filters(stats))


def join_counts(differences: list[tuple[str, dict]]) -> str:
    return " and ".join(f"{result['differing']} of {name}'s {result['channels']} channels"
                        for name, result in differences)


def answer_filters(stats: dict) -> list[str]:
    """The evidence behind 5D's answer: which model, how active the ReLU outputs are, and
    whether the feature maps differ between the classes."""
    first, second = stats["layers"][0], stats["layers"][1]
    text = [(f"The filters are those of {stats.get('run_id', '')} at "
            f"{stats.get('epochs', '?')} epochs.")]
    active = [layer.get("active_fraction", {}) for layer in (first, second)]
    if active[0]:
        parts = [
            f"{name}: {', '.join(f'{cls} {percent(share)}' for cls, share in fractions.items())}"
            for name, fractions in zip((first["name"], second["name"]), active)
        ]
        text.append(
            "Share of ReLU outputs that are active (non-zero) for the test images shown — "
            + "; ".join(parts)
            + ". The ReLU keeps only where a filter's pattern is present, so deeper maps are "
            "sparser and more selective."
        )
    differences = [(layer["name"], layer["difference"]) for layer in (first, second)
                   if layer.get("difference", {}).get("strongest")]
    if differences:
        text.append(answer_class_difference(differences, stats.get("test_counts", {})))
    return text


def answer_class_difference(differences: list[tuple[str, dict]], counts: dict) -> str:
    """5D: whether the feature maps differ between the classes on average, from
    :func:`cnnlab.analysis.representations.class_difference` of each layer."""
    images = ", ".join(f"{count} {name}" for name, count in counts.items())
    found = join_counts(differences)
    name, result = max(differences, key=lambda item: abs(item[1]["strongest"]["d"]))
    top = result["strongest"]
    clearest = (f"{name}:{top['channel']} (mean activation Mel {top['mel_mean']:.3g}, Nev "
                f"{top['nev_mean']:.3g}; Cohen's d {top['d']:+.2f}, adjusted p "
                f"{top['p_holm']:.2g})")
    text = (f"Averaged over the test images ({images}), {found} differ in mean activation "
            f"between Mel and Nev (Welch's t-test per channel, Holm-adjusted p < "
            f"{result['alpha']:g}). ")
    if any(result["differing"] for _, result in differences):
        return text + (f"The clearest is {clearest}; the figure's last rows show the Nev − Mel "
                       "difference of the mean maps of the channels that differ most: where "
                       "they are red, the filter responds more to nevi, where blue, more to "
                       "melanomas.")
    return text + (f"None does: even the clearest, {clearest}, is within what chance gives, so "
                   "on average these feature maps do not tell the classes apart; the "
                   "difference maps in the figure's last rows are noise at this scale.")


