"""The code's map stays true: each module of cnnlab has one job its docstring's first line
names, none grows past a size a reader can hold, and the docs list every module."""

import ast
import re

import pytest

from cnnlab.store.layout import PROJECT_ROOT

MODULES = sorted(path for path in (PROJECT_ROOT / "cnnlab").rglob("*.py")
                 if path.name != "__init__.py")
MAX_LINES = 480  # about 450: what a reader holds at once


def dotted(path):
    return ".".join(path.relative_to(PROJECT_ROOT / "cnnlab").with_suffix("").parts)


@pytest.mark.parametrize("path", MODULES, ids=dotted)
def test_each_module_names_its_job_and_stays_short(path):
    source = path.read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source))
    assert docstring and len(docstring.splitlines()[0]) > 20, f"{path.name}: no one-line job"
    assert len(source.splitlines()) <= MAX_LINES, f"{path.name}: over {MAX_LINES} lines"


def test_the_architecture_doc_and_the_readme_name_every_module():
    architecture = (PROJECT_ROOT / "docs/architecture.md").read_text(encoding="utf-8")
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    developing = readme[readme.index("## Developing"):]
    documented = set(re.findall(r"\| `cnnlab\.([\w.]+)` \|", architecture))
    listed = set(re.findall(r"`(?:cnnlab\.)?([\w.]+)`", developing))
    names = {dotted(path) for path in MODULES}
    assert names == documented, names ^ documented
    assert names <= listed, names - listed
