"""The report rendered from a crafted lab: the real plan and selection, crafted histories.

`crafted_lab` writes, for every training of the plan, a history of a shape chosen by
its parameters, a record, a model summary, the data manifest, and 6E's selection, the way
the workflow would; no Keras training runs here.
"""

import json
import re
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from test_diagnostics import crafted_history

from cnnlab.durations import duration_text
from cnnlab.errors import CnnlabError
from cnnlab.plan import concept_models
from cnnlab.plan.plan import Plan, plan_lab
from cnnlab.plan.selection import select_setup
from cnnlab.report import figures, page
from cnnlab.report.setups import Results, load_run
from cnnlab.store import layout
from cnnlab.store.files import read_predictions, write_predictions
from cnnlab.store.history import write_history_csv
from cnnlab.store.selection_file import read_choices
from tests.data_fixtures import TEST_LABELS, crafted_predictions

MANIFEST = {  # the layout cnnlab.data.prepare writes
    "classes": {"0": "Mel", "1": "Nev"},
    "counts": {"train": {"Mel": 400, "Nev": 600, "total": 1000},
               "test": {"Mel": 80, "Nev": 120, "total": 200}},
    "majority_baseline": {"train": {"class": "Nev", "label": 1, "fraction": 0.6},
                          "test": {"class": "Nev", "label": 1, "fraction": 0.6}},
    "arrays_sha256": "0123abcd",
    "skipped": [{"file": "train/Nev_<b>bad</b>.png", "reason": "not an image"}],
    "duplicates": [],
}
VERSIONS = {"python": "3.11.7", "tensorflow": "2.21.0", "keras": "3.15.1", "numpy": "2.4.6"}


def shape_of(params: dict) -> str:
    """Which crafted shape a run gets: enough variety for every diagnosis to appear."""
    if params["model"] == "mlp":
        return "flat"
    if params["optimizer"] == "rmsprop":
        return "diverged"
    if params["lr"] < 5e-5 or params["optimizer"] == "sgd":
        return "under-trained"
    if params["loss"] == "hinge" or params["dropout"] > 0:
        return "settled"
    return "overfitting"


def summary_rows(params: dict, size: int = 128) -> list[dict]:
    """The layer table build_model would give (same parameter arithmetic)."""
    rows, channels, side, convs = [], 1, size, 0
    if params["model"] != "mlp":
        blocks = ([[params["n_base"]], [2 * params["n_base"]]] if params["model"] == "lenet"
                  else [[params["n_base"]], [2 * params["n_base"]],
                        [4 * params["n_base"]] * 2 + [2 * params["n_base"]]])
        for number, block in enumerate(blocks, start=1):
            for filters in block:
                convs += 1
                rows.append({"layer": f"conv{convs}", "type": "Conv2D",
                             "output_shape": f"(None, {side}, {side}, {filters})",
                             "parameters": 9 * channels * filters + filters})
                channels = filters
            side //= 2
            rows.append({"layer": f"pool{number}", "type": "MaxPooling2D",
                         "output_shape": f"(None, {side}, {side}, {channels})", "parameters": 0})
    width = side * side * channels
    rows.append({"layer": "flatten", "type": "Flatten", "output_shape": f"(None, {width})",
                 "parameters": 0})
    for number, units in enumerate(params["dense"], start=1):
        rows.append({"layer": f"dense{number}", "type": "Dense",
                     "output_shape": f"(None, {units})", "parameters": width * units + units})
        width = units
    rows.append({"layer": "output", "type": "Dense", "output_shape": "(None, 1)",
                 "parameters": width + 1})
    return rows


def write_training(root: Path, training: dict, shape: str | None = None) -> None:
    params = training["params"]
    shape = shape or shape_of(params)
    directory = root / training["directory"]
    directory.mkdir(parents=True, exist_ok=True)
    history = crafted_history(shape, training["epochs"], seed=params["seed"],
                              level=0.01 * params["seed"])
    if shape == "diverged":
        history = history.iloc[: training["epochs"] // 2 + 1]  # training stops on divergence
    # as a training writes them: the accuracy is a count of the validation images
    n = len(TEST_LABELS)
    history["val_accuracy"] = np.round(history["val_accuracy"] * n) / n
    if shape == "flat":  # calls every image Nev, the majority class
        history["val_accuracy"] = float(np.mean(TEST_LABELS == 1))
    outputs = crafted_predictions(history["val_accuracy"].to_numpy(), params["seed"],
                                  all_nev=shape == "flat")
    write_predictions(directory / "predictions.npz", TEST_LABELS, outputs)
    write_history_csv(history.to_dict("records"), directory / "history.csv")
    record = {"run_id": training["run_id"], "status": "diverged" if shape == "diverged"
              else "completed", "diverged_reason": "loss is nan" if shape == "diverged" else None,
              "epochs_trained": len(history), "wall_seconds": float(history["seconds"].sum()) + 3,
              "resumed_from_epoch": 0, "peak_memory_mb": 850.0,
              "device": {"kind": "CPU", "name": "a test CPU", "count": 2}, "threads": 1,
              "onednn": "on", "versions": VERSIONS, "params": params}
    (directory / "record.json").write_text(json.dumps(record))
    rows = summary_rows(params)
    lines = ["layer,type,output_shape,parameters"] + [
        f'{row["layer"]},{row["type"]},"{row["output_shape"]}",{row["parameters"]}'
        for row in rows]
    (directory / "summary.csv").write_text("\n".join(lines) + "\n")


def crafted_lab(root: Path, config: dict) -> dict:
    """Write a finished lab under `root` (the working directory) and return its plan dict."""
    plan = plan_lab(config)
    for training in plan.to_dict()["trainings"].values():
        write_training(root, training)
    selections = {}
    for task_id in plan.selections_needed:
        path = root / layout.selection_json(plan.dataset, task_id)
        select_setup(plan, task_id, path)
        selections[task_id] = str(path)
    plan = plan_lab(config, read_choices(selections))
    for training in plan.to_dict()["trainings"].values():
        if not (root / training["directory"] / "history.csv").exists():
            write_training(root, training)
    manifest = root / "results/data" / plan.dataset / "manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(dict(MANIFEST, dataset=plan.dataset)))
    return plan.to_dict()


def render(root: Path, plan: dict, config: dict | None = None, **files) -> str:
    out = page.write_report(plan, root / layout.manifest_json(plan["dataset"]),
                              root / "index.html",
                              selection_files=[root / path for path in
                                               layout.selection_inputs(Plan.from_dict(plan))],
                              config=config, root=root, **files)
    return out.read_text()


def section(html: str, task_id: str) -> str:
    start = html.index(f'id="task-{task_id}"')
    end = html.find('<section class="task"', start)
    return html[start:end if end > 0 else len(html)]


def answer_of(html: str, task_id: str) -> str:
    """The visible answer of a task: its answer block."""
    part = section(html, task_id)
    return part[part.index('class="answer"'):part.index("</div>", part.index('class="answer"'))]


def details_of(html: str, task_id: str) -> str:
    """What a task folds into "How this was decided"."""
    part = section(html, task_id)
    start = part.index('<details class="how">')
    return part[start:part.index("</details>", start)]


class Visible(HTMLParser):
    """The text a reader sees without opening anything, by task section: closed <details>
    (their summary aside), tables, captions, scripts and styles left out."""

    HIDDEN = ("table", "figcaption", "script", "style", "nav", "head")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str]] = []  # (tag, "" or why it hides its content)
        self.section = ""
        self.text: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("img", "br", "meta", "link", "hr", "input"):
            return
        hides = "hidden" if tag in self.HIDDEN else ""
        if tag == "details" and "open" not in attrs:
            hides = "closed"
        if tag == "section":
            match = re.fullmatch(r"task-(\w+)", attrs.get("id") or "")
            self.section = match.group(1) if match else ""
        self.stack.append((tag, hides))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data):
        for index, (_, hides) in enumerate(self.stack):
            summary = index + 1 < len(self.stack) and self.stack[index + 1][0] == "summary"
            if hides and not (hides == "closed" and summary):
                return
        if data.strip():
            self.text.setdefault(self.section, []).append(data)


def visible_text(html: str) -> dict[str, str]:
    reader = Visible()
    reader.feed(html)
    return {key: " ".join(" ".join(pieces).split()) for key, pieces in reader.text.items()}


@pytest.fixture
def lab(tmp_path, monkeypatch, default_config):
    monkeypatch.chdir(tmp_path)  # the selection reads the plan's relative paths
    return tmp_path, crafted_lab(tmp_path, default_config), default_config


def test_every_task_is_answered_from_the_crafted_numbers(lab):
    root, plan, config = lab
    html = render(root, plan, config)
    for task_id in plan["tasks"]:
        assert f'id="task-{task_id}"' in html
        assert "<p" in answer_of(html, task_id)
        # the majority-class baseline is said once, at the top; an answer names it at most once
        assert answer_of(html, task_id).count("majority") <= 1, task_id
        if plan["tasks"][task_id]["kind"] == "train":
            assert re.search(r"\d+\.\d%", answer_of(html, task_id)), task_id
            assert "How this was decided" in details_of(html, task_id)
    # 5A: LeNet at lr 1e-5 is still learning, with the numbers that show it; it cannot
    # decide yet
    assert "It is still learning: its validation loss is lowest at epoch" in answer_of(html, "5A")
    assert "Enough to decide? Not yet" in answer_of(html, "5A")
    assert "It is under-trained" in details_of(html, "5A")
    # 5B compares with 5A (more epochs), 5C with 5B (the learning rate) at 200 epochs
    assert "200 epochs against 20 epochs (5A, " in answer_of(html, "5B")
    assert "training on from 20 to 200 epochs (from task 5A)" in details_of(html, "5B")
    # 5C's question is how well it generalises: its answer says that, the learning rates'
    # comparison with 5B (a question of 6C's) goes to the evidence
    assert "Effect of the learning rate" not in answer_of(html, "5C")
    assert "It generalises only in part" in answer_of(html, "5C")
    assert "It overfits from epoch" in answer_of(html, "5C")
    assert "Effect of the learning rate, at 200 epochs" in details_of(html, "5C")
    # 6C compares with 6B's n_base 8 run at the 50 epochs both reach, in numbers and shape
    assert "Effect of the learning rate, at 50 epochs" in details_of(html, "6C")
    assert ("<p>Effect of the learning rate: lr 1e-05 against lr 1e-04 (6B, "
            in answer_of(html, "6C"))
    assert "The lower rate learns more slowly: after 50 epochs" in answer_of(html, "6C")
    assert "Brown-Forsythe" in answer_of(html, "6C")
    assert "over 2 seeds" not in section(html, "6C")  # its 150 and 350 epochs are one run
    # 6B: n_base, dropout and epochs, each a one-factor comparison, named by that factor
    answer_6b = answer_of(html, "6B")
    for phrase in ("Effect of n_base (n_base 32 (6A), n_base 16 and n_base 8)",
                   "Effect of dropout: dropout against no dropout",
                   "Effect of more epochs: 150 epochs against 50 epochs"):
        assert phrase in answer_6b
    assert "AlexNet n_base 8, dropout 0.4, 150 epochs" not in answer_6b  # short names
    # 6D: one seed: the three pairs tested on the paired validation calls, Holm-adjusted
    # three pairs, none significant, equal accuracies: said in one sentence each
    assert "Validation accuracy: 84.0% for all 3." in answer_of(html, "6D")
    assert ("<p>Significant? No: no pair differs beyond the noise (exact McNemar test on the "
            "same validation images, Holm-adjusted for 3 pairs).") in answer_of(html, "6D")
    assert ("Effect of the batch size (batch size 8, batch size 4 and batch size 2): no pair "
            "differs significantly (p 1.000 raw and Holm-adjusted)") in (
        answer_of(html, "6D"))
    assert details_of(html, "6D").count("Effect of the batch size") == 3
    assert details_of(html, "6D").count("Exact McNemar test on the 200 validation calls") == 3
    assert details_of(html, "6D").count(
        "Significance (exact McNemar on the paired validation calls, Holm-adjusted over its 3 "
        "comparisons") == 1
    # what one seed does not cover is said once, for the whole report
    assert html.count("measures the training's randomness") == 1
    # 6E: the rule's choice in the answer, the chosen run and its rivals in the details
    selection = json.loads((root / layout.selection_json(Plan.from_dict(plan).dataset, "6E")).read_text())
    assert ("<p>Rule: the highest validation accuracy at epoch 100 among set-ups that do not "
            "overfit") in answer_of(html, "6E")
    assert "It picked batch size" in answer_of(html, "6E")
    for optimizer in ("Adam", "SGD", "RMSprop"):  # every optimizer's accuracy, in the answer
        assert re.search(rf"\d+\.\d% \([^)]*{optimizer}", answer_of(html, "6E")), optimizer
    assert selection["chosen"]["setup_id"] not in answer_of(html, "6E")
    assert f"picked {selection['chosen']['setup_id']}" in details_of(html, "6E")
    assert "Effect of the optimizer" in answer_of(html, "6E")
    assert "RMSprop diverged at epoch" in answer_of(html, "6E")
    assert "It diverged" in details_of(html, "6E")
    # 6F: hinge explained, compared with 6E's BCE run
    details_6f = details_of(html, "6F")
    assert "Keras&#39; binary accuracy" in details_6f and "60.0%" in details_6f
    assert "Effect of the loss: hinge loss against BCE (6E, " in answer_of(html, "6F")
    # BCE and hinge losses are on different scales: never compared, accuracies instead
    effect = details_6f[details_6f.index("Effect of the loss"):]
    effect = effect[:effect.index("</p>")]
    assert "lowest validation loss" not in effect and "not compared" in effect
    assert "balanced accuracy" in effect and "ROC AUC" in effect
    # concept tasks: parameter counts, output layer, LeNet against the MLP
    assert "they hold 99.6% of the parameters" in answer_of(html, "5E").lower()
    assert "dense1 has 4,194,368 parameters" in details_of(html, "5E")
    assert "softmax" in section(html, "5G") and "(None, 1)" in answer_of(html, "5G")
    assert "within the sampling noise of the majority baseline" in details_of(html, "5F")
    assert "LeNet has 4,213,249 parameters, 18,816 of them in convolutions" in answer_of(
        html, "5F")


def test_a_glance_table_links_every_task_and_the_evidence_stays_folded(lab):
    root, plan, config = lab
    html = render(root, plan, config)
    glance = html[html.index('<table class="glance">'):]
    glance = glance[:glance.index("</table>")]
    rows = re.findall(r"<tr><td><a href=\"#task-(\w+)\">\1</a></td><td>[^<]*</td><td>([^<]*)</td>",
                      glance)
    assert [task_id for task_id, _ in rows] == list(plan["tasks"])  # one linked row per task
    for task_id, sentence in rows:
        assert 3 <= len(sentence.split()) <= 40, (task_id, sentence)
    # every details is closed in the page, opened only when printed
    assert re.findall(r"<details[^>]*>", html) and not re.search(r"<details[^>]*\bopen", html)
    assert html.count('<details class="how">') == len(plan["tasks"]) - 1  # 5D: no statistics
    assert 'addEventListener("beforeprint"' in html and "@media print" in html
    # every statistic is still in the page, inside a task's details
    details_6d = details_of(html, "6D")
    for word in ("McNemar", "Holm", "95% CI", "sensitivity", "specificity", "balanced acc",
                 "ROC AUC", "Diagnostics of the curves"):
        assert word in details_6d, word
    assert "Wilson score interval" in html
    # the words a reader sees without opening anything
    text = visible_text(html)
    words = {key: len(value.split()) for key, value in text.items()}
    assert sum(words.values()) <= 2500, words
    assert all(words[task_id] <= 200 for task_id in plan["tasks"]), words
    sentences = defaultdict(set)
    for task_id in plan["tasks"]:
        for sentence in re.split(r"(?<=[.!?])\s+", text[task_id]):
            tokens = re.sub(r"[\d.,%±-]+", "#", sentence.lower()).split()
            if len(tokens) >= 8:
                sentences[" ".join(tokens)].add(task_id)
    assert not [s for s, where in sentences.items() if len(where) >= 3], sentences


def test_report_is_self_contained_and_has_the_surrounding_sections(lab):
    root, plan, config = lab
    html = render(root, plan, config)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<link" not in html and "<style>" in html
    assert html.count("<script>") == 1  # the inline sorter only
    overview = html[html.index('id="runs-table"'):html.index("</table>",
                                                             html.index('id="runs-table"'))]
    assert overview.count("<tr>") == len(plan["trainings"]) + 1
    assert 'class="sortable"' in html and "data-sort=" in overview
    for text in ("Content hash", "0123abcd", "not an image", "<th scope=\"col\">total</th>", "tensorflow", "2.21.0", "snakemake",
                 "Config used", "Total training time", "first 20 of a 200-epoch training",
                 "Model summaries", "majority-class baseline", "60.0%",
                 "oneDNN&#34;: &#34;on",  # the provenance names oneDNN's state
                 "5A: lenet-nb32-lr1e-05-bs8-adam-bce-s1 shows epochs 1-20 of its 200-epoch"):
        assert text in html, text
    # a file name from the manifest is escaped too
    assert "Nev_&lt;b&gt;bad&lt;/b&gt;.png" in html
    # times in the one form of cnnlab.durations
    assert re.search(r"Total training time (\d+h \d{2}m|\d+m \d{2}s|\d+s) over", html)


def test_a_time_is_written_in_one_form_everywhere():
    """The report, `cnnlab status`, a training's log and the benchmark write a time alike."""
    seconds = (0.4, 12, 59.6, 245, 3599.4, 3725)
    assert [duration_text(value) for value in seconds] == [
        "0s", "12s", "1m 00s", "4m 05s", "59m 59s", "1h 02m"]
    assert duration_text(None) == duration_text(float("nan")) == "n/a"
    assert duration_text(None, unknown="?") == "?"  # status's time left, not yet known


def test_a_tiny_lab_of_one_epoch_tasks_renders_with_figures(tmp_path, monkeypatch,
                                                            small_config):
    monkeypatch.chdir(tmp_path)
    plan = crafted_lab(tmp_path, small_config)
    manifest = tmp_path / layout.manifest_json(plan["dataset"])
    curves, roc = figures.write_task_figures(plan, "5A", manifest, layout.task_figure("5A"),
                                             layout.roc_figure("5A"))
    html = render(tmp_path, plan, small_config, figure_files=[curves], roc_files=[roc])
    assert plan["tasks"]["5A"]["entries"][0]["epochs"] == 1
    assert "after 1 epoch: " in answer_of(html, "5A")
    assert 'src="data:image/png;base64,' in section(html, "5A")


def test_every_from_x_to_y_of_an_answer_is_a_value_of_its_tables(lab):
    root, plan, _ = lab
    html = render(root, plan)
    checked = 0
    for task_id in plan["tasks"]:
        part = section(html, task_id)
        answer = details_of(html, task_id) if 'class="how"' in part else ""
        tables = " ".join(re.findall(r"<table.*?</table>", part, flags=re.DOTALL))
        cells = set(re.findall(r"-?\d+(?:\.\d+)?%?", tables))
        for start, end in re.findall(r"from (-?\d+(?:\.\d+)?%?) to (-?\d+(?:\.\d+)?%?)",
                                     answer):
            assert start in cells and end in cells, (task_id, start, end)
            checked += 1
    assert checked >= 3  # 5B's, 6B's and 6C's epochs at least


def test_parameters_that_differ_are_highlighted(lab):
    root, plan, _ = lab
    part = section(render(root, plan), "6D")
    assert '<th scope="col" class="differs">batch_size</th>' in part
    assert '<th scope="col" class="">lr</th>' in part


def test_a_script_title_appears_as_text(tmp_path, monkeypatch, default_config):
    monkeypatch.chdir(tmp_path)
    default_config["tasks"]["5A"]["title"] = "<script>alert(1)</script>"
    default_config["tasks"]["5A"]["question"] = "Is <b>this</b> & that escaped?"
    plan = crafted_lab(tmp_path, default_config)
    html = render(tmp_path, plan, default_config)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Is &lt;b&gt;this&lt;/b&gt; &amp; that escaped?" in html


def test_changing_a_history_changes_the_answer(lab):
    root, plan, _ = lab
    html = render(root, plan)
    before = {task_id: answer_of(html, task_id) for task_id in ("5A", "5B")}
    training = next(t for t in plan["trainings"].values()
                    if t["run_id"].startswith("lenet-nb32-lr1e-05"))
    write_training(root, training, shape="overfitting")
    html = render(root, plan)
    after = {task_id: answer_of(html, task_id) for task_id in ("5A", "5B")}
    assert before["5A"] != after["5A"]  # the same run's first 20 epochs
    assert "still learning" in before["5B"] and "overfits from epoch" in after["5B"]


def test_changing_one_runs_predictions_changes_the_paired_test(lab):
    root, plan, _ = lab
    before = details_of(render(root, plan), "6D")
    entry = plan["tasks"]["6D"]["entries"][0]
    path = root / entry["training"] / "predictions.npz"
    predictions = read_predictions(path)
    flipped = predictions.outputs.copy()
    flipped[-1, :40] = 1 - flipped[-1, :40]  # the last epoch's calls of 40 images turned round
    write_predictions(path, predictions.labels, flipped)
    after = details_of(render(root, plan), "6D")
    def tests(answer):
        return re.findall(r"Exact McNemar test on the 200 validation calls: [^.]*?p [=<] [0-9.]+",
                          answer)
    assert tests(before) and tests(after)
    assert tests(before) != tests(after)


def test_several_seeds_give_spread_and_a_welch_test(tmp_path, monkeypatch, default_config):
    monkeypatch.chdir(tmp_path)
    default_config["seeds"] = [1, 2, 3]
    for task_id in list(default_config["tasks"]):
        if task_id not in ("6A", "6B", "6C", "6D"):
            del default_config["tasks"][task_id]
    plan = crafted_lab(tmp_path, default_config)
    html = render(tmp_path, plan)
    details_6d = details_of(html, "6D")
    assert details_6d.count("Significance: Welch&#39;s t-test") == 3
    assert "over 3 seeds" in details_6d and "± " in answer_of(html, "6D")
    assert "Over seeds: mean ± standard deviation" in details_6d
    assert "Each set-up ran with 3 seeds" in html and "randomness too" in html


def test_a_prefix_before_a_divergence_has_not_diverged(lab):
    root, plan, _ = lab
    entry = Plan.from_dict(plan).tasks["6E"].entries[2]  # rmsprop: diverged after 51 epochs
    results = Results(root)
    assert load_run(entry, results).diagnosis.divergence is not None
    early = load_run(entry, results, epochs=30)
    assert early.diagnosis.divergence is None and early.status == "completed"


def test_task_figure_is_drawn_and_embedded(lab):
    root, plan, _ = lab
    png, roc = figures.write_task_figures(plan, "6B", root / layout.manifest_json(plan["dataset"]),
                                          root / layout.task_figure("6B"),
                                          root / layout.roc_figure("6B"), root=root)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert roc.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = render(root, plan, figure_files=[png], roc_files=[roc])
    assert 'src="data:image/png;base64,' in section(html, "6B")
    assert 'alt="ROC curves of task 6B' in section(html, "6B")
    assert "No figure was drawn" in section(html, "6A")


def test_task_inputs_name_every_file_read(lab):
    root, plan, _ = lab
    inputs = layout.task_inputs(Plan.from_dict(plan), "6B")
    assert all((root / path).exists() for path in inputs)
    # 6B's own trainings, and 6A's n_base 32 that its question compares n_base with
    trainings = {entry["training"] for task in ("6A", "6B")
                 for entry in plan["tasks"][task]["entries"]}
    # the figures read each training's history, record and predictions (the ROC curves)
    assert set(inputs) == {f"{training}/{name}" for training in trainings
                           for name in ("history.csv", "record.json", "predictions.npz")}
    plan = Plan.from_dict(plan)
    assert set(layout.report_inputs(plan)) >= set(inputs)
    assert layout.selection_inputs(plan) == [layout.selection_json(plan.dataset, "6E")]
    assert layout.curve_tasks(plan) == ["5A", "5B", "5C", "5F", "6A", "6B", "6C", "6D", "6E",
                                        "6F"]
    entry = concept_models.inspected_entry(plan, "5D")
    assert entry.spec.model == "lenet" and entry.epochs == 200
    assert concept_models.concept_inputs(plan, "5D")[0] == layout.weights_directory(
        entry.training.directory)
    assert concept_models.concept_tasks(plan) == {"5D": "conv_layers", "5E": "dense_layers",
                                          "5F": "architectures", "5G": "output_layer"}
    # 5G reads the predictions of 5C's LeNet and of 6F's hinge run
    hinge = concept_models.hinge_entry(plan, "5G")
    assert hinge.spec.loss == "hinge" and hinge in plan.tasks["6F"].entries
    assert concept_models.concept_inputs(plan, "5G") == [entry.training.predictions_npz,
                                                 hinge.training.predictions_npz]
    assert [e.spec.model for e in concept_models.architecture_entries(plan, "5F")] == ["lenet", "mlp"]
    assert all((root / path).exists() for path in concept_models.concept_inputs(plan, "5F"))


def test_missing_history_is_one_clear_error(lab):
    root, plan, _ = lab
    training = plan["tasks"]["6A"]["entries"][0]["training"]
    (root / training / "history.csv").unlink()
    with pytest.raises(CnnlabError, match=re.escape(f"{training}/history.csv: missing")):
        render(root, plan)


@pytest.mark.parametrize("manifest", [
    {"counts": {"train": {"Mel": 40, "Nev": 60}, "test": {"Mel": 5, "Nev": 15}}},
    {"splits": {"train": {"counts": {"Mel": 40, "Nev": 60}},
                "test": {"counts": {"Mel": 5, "Nev": 15}}}},
    {"train": {"counts": {"Mel": 40, "Nev": 60}}, "test": {"counts": {"Mel": 5, "Nev": 15}}},
    {"majority_baseline": {"train": {"fraction": 0.6}, "test": 0.75}},
    {"counts": {"train": {"Mel": 40, "Nev": 60, "total": 100},
                "test": {"Mel": 5, "Nev": 15, "total": 20}}},
])
def test_a_manifest_of_another_layout_is_one_clear_error(lab, manifest):
    root, plan, _ = lab
    path = root / layout.manifest_json(plan["dataset"])
    path.write_text(json.dumps(manifest))
    with pytest.raises(CnnlabError, match=re.escape(f"{path}: the data manifest")):
        render(root, plan)
