"""The small lab's report in a real headless Chromium: it loads cleanly, escapes config text,
and backs every task with a figure, whatever the concept tasks are called."""

import os
import re
import shutil
import subprocess

import pytest

from tests.workflow_helpers import SMALL_CONFIG, run_snakemake

pytestmark = [pytest.mark.browser, pytest.mark.workflow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CNNLAB_REQUIRE_BROWSER") == "1":
        raise RuntimeError("CNNLAB_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
    pytest.skip("no chromium on PATH: install Debian's chromium to run the browser tests",
                allow_module_level=True)


def open_in_chromium(html_path, tmp_path, *actions):
    """Load a page headless; return (DOM after scripts ran, console messages)."""
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
         *actions, f"file://{html_path}"],
        check=False, capture_output=True, text=True, timeout=120,
    )
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return result.stdout, console


def test_report_loads_without_console_errors_and_renders(small_lab, tmp_path):
    workdir, _ = small_lab
    page = workdir / "results/report/index.html"
    dom, console = open_in_chromium(page, tmp_path, "--dump-dom")
    assert console == []
    assert dom.count('class="task') >= 13
    screenshot = tmp_path / "report.png"
    _, console = open_in_chromium(page, tmp_path, f"--screenshot={screenshot}", "--window-size=1200,3000")
    assert console == []
    assert screenshot.stat().st_size > 50_000  # a rendered page, not a blank one
    # keep the picture for people who look at test runs
    shutil.copy(screenshot, workdir / "results/report/screenshot.png")


def test_report_is_self_contained(small_lab):
    html = (small_lab[0] / "results/report/index.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    # 10 curve figures, their 10 ROC figures, the concept figures of 5D, 5E, 5F and 5G
    assert html.count("data:image/png;base64,") >= 24


def task_sections(dom: str) -> dict[str, str]:
    """Each task section of a page's DOM by its task id."""
    parts = re.split(r'(?=<section class="task" id="task-)', dom)
    return {re.match(r'<section class="task" id="task-([^"]+)"', part).group(1): part
            for part in parts if part.startswith('<section class="task"')}


def drawn_images(section: str) -> int:
    return len(re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', section))


def test_every_task_section_holds_a_figure_in_chromium(small_lab, tmp_path):
    dom, console = open_in_chromium(small_lab[0] / "results/report/index.html", tmp_path,
                                    "--dump-dom")
    assert console == []
    sections = task_sections(dom)
    assert len(sections) == 13
    assert {task_id: drawn_images(section) for task_id, section in sections.items()
            if drawn_images(section) == 0} == {}
    for task_id, kind in (("5D", "conv_layers"), ("5E", "dense_layers"),
                          ("5F", "architectures"), ("5G", "output_layer")):
        assert f'alt="Figure of the {kind} answer of task {task_id}' in sections[task_id]


def test_a_renamed_dense_layers_task_keeps_its_answer_and_figure(copy_of_small_lab, tmp_path):
    workdir = copy_of_small_lab
    config = workdir / "config.yaml"
    text = config.read_text()
    assert text.count("\n  5E:\n") == 1
    config.write_text(text.replace("\n  5E:\n", "\n  DL:\n"))
    result = run_snakemake(workdir, "--cores", "2", "--configfile", SMALL_CONFIG)
    assert result.returncode == 0, result.stdout[-4000:]
    assert not re.search(r"rule train\b", result.stdout)  # the trained models are kept
    assert "results/figures/concept/DL.png" in result.stdout
    dom, console = open_in_chromium(workdir / "results/report/index.html", tmp_path,
                                    "--dump-dom")
    assert console == []
    sections = task_sections(dom)
    assert "5E" not in sections and drawn_images(sections["DL"]) == 1
    assert 'alt="Figure of the dense_layers answer of task DL' in sections["DL"]
    assert "stratified" in sections["DL"] and "dense1 features (64 values)" in sections["DL"]


def test_script_in_a_task_title_is_shown_as_text_and_runs_nothing(copy_of_small_lab, tmp_path):
    workdir = copy_of_small_lab
    config = workdir / "config.yaml"
    title = "LeNet at a very low learning rate, 20 epochs"
    config.write_text(config.read_text().replace(title, "<script>alert(1)</script>", 1))
    result = run_snakemake(workdir, "--cores", "2", "--configfile", SMALL_CONFIG)
    assert result.returncode == 0, result.stdout[-4000:]
    assert not re.search(r"rule train\b", result.stdout)  # nothing retrained for a title
    html = (workdir / "results/report/index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    dom, console = open_in_chromium(workdir / "results/report/index.html", tmp_path, "--dump-dom")
    assert console == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


def test_the_evidence_is_folded_on_screen_and_open_when_printed(small_lab, tmp_path):
    page = small_lab[0] / "results/report/index.html"
    dom, console = open_in_chromium(page, tmp_path, "--dump-dom")
    assert console == []
    assert dom.count('<details class="how">') >= 12 and "<details open" not in dom
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        if os.environ.get("CNNLAB_REQUIRE_BROWSER") == "1":
            raise RuntimeError("CNNLAB_REQUIRE_BROWSER=1 but no pdftotext on PATH "
                               "(apt-get install poppler-utils)")
        pytest.skip("no pdftotext on PATH (apt-get install poppler-utils) to read the PDF")
    pdf = tmp_path / "report.pdf"
    _, console = open_in_chromium(page, tmp_path, f"--print-to-pdf={pdf}")
    assert console == []
    text = subprocess.run([pdftotext, str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    text = " ".join(text.split())
    # sentences that only the folded parts hold: a task's evidence, the method, provenance
    assert "Exact McNemar test on the 24 validation calls" in text
    assert "Smoothing and noise" in text and "Content hash" in text
