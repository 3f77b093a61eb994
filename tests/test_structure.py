"""The code's map stays true: each module of cnnlab has one job its docstring's first line
names, none grows past a size a reader can hold, the wings import only in their allowed
directions, and the docs list every module."""

import ast
import re

import pytest

from tests.workflow_helpers import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "cnnlab"
MODULES = sorted(path for path in PACKAGE.rglob("*.py") if path.name != "__init__.py")
MAX_MODULE_LINES = 400  # what a reader holds at once
MAX_CLASS_LINES = 150
MAX_FUNCTION_LINES = 60

# wing -> the cnnlab wings (or top-level modules) it must never import
FORBIDDEN_WINGS = {
    "plan": {"data", "train", "report", "watch", "workflow"},
    "data": {"train", "report", "watch", "workflow"},
    "report": {"train", "watch", "workflow"},
    "store": {"plan", "data", "train", "analysis", "report", "watch", "workflow", "machine"},
    "analysis": {"plan", "data", "train", "report", "watch", "workflow"},
    # cnnlab.results, what a notebook imports: the tables' reader (store) only, so loading a
    # lab's numbers never pulls in TensorFlow, the plan or the report's plotting
    "results": {"plan", "data", "train", "analysis", "report", "watch", "workflow"},
}
# wing -> the outside packages it must never import
FORBIDDEN_PACKAGES = {"data": {"tensorflow", "keras"}, "plan": {"tensorflow", "keras",
                                                               "matplotlib", "jinja2"}}
WATCH_IMPORTERS = {"watch", "__main__"}  # and the rules and scripts, outside the package


def dotted(path):
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


def wing_of(path):
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported(path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function: the full dotted name
    (``from cnnlab.plan import plan`` gives cnnlab.plan.plan)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def cnnlab_wings(names: set[str]) -> set[str]:
    """The wings (sub-packages) and top-level modules of cnnlab among ``names``."""
    wings = {name.split(".")[1] for name in names if name.startswith("cnnlab.")}
    return {wing for wing in wings if (PACKAGE / wing).is_dir() or (PACKAGE / f"{wing}.py").exists()}


def sizes(path) -> dict[str, int]:
    """The lines of the module, and of each class and function in it over its limit."""
    source = path.read_text(encoding="utf-8")
    found = {}
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        found["module"] = lines
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            size = node.end_lineno - node.lineno + 1
            limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
            if size > limit:
                found[node.name] = size
    return found


@pytest.mark.parametrize("path", MODULES, ids=dotted)
def test_each_module_names_its_job_and_stays_short(path):
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert docstring and len(docstring.splitlines()[0]) > 20, f"{path.name}: no one-line job"
    over = sizes(path)
    assert not over, (f"{dotted(path)}: {over} lines, over the limit (modules "
                      f"{MAX_MODULE_LINES}, classes {MAX_CLASS_LINES}, functions "
                      f"{MAX_FUNCTION_LINES})")


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=dotted)
def test_each_wing_imports_only_in_its_directions(path):
    wing = wing_of(path)
    names = imported(path)
    wings = cnnlab_wings(names)
    forbidden = wings & FORBIDDEN_WINGS.get(wing, set())
    assert not forbidden, f"{dotted(path)} ({wing}) imports the {sorted(forbidden)} wing"
    packages = {name.split(".")[0] for name in names} & FORBIDDEN_PACKAGES.get(wing, set())
    assert not packages, f"{dotted(path)} ({wing}) imports {sorted(packages)}"
    if "watch" in wings:
        assert wing in WATCH_IMPORTERS, f"{dotted(path)} imports the watch wing"
    if wing == "store":
        assert wings <= {"store", "errors"}, f"{dotted(path)} imports {sorted(wings)}"


def test_the_import_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("def late():\n    from cnnlab.train import models\n    import keras\n")
    names = imported(module)
    assert {"cnnlab.train.models", "keras"} <= names
    assert cnnlab_wings(names) == {"train"}


def test_the_architecture_doc_and_the_readme_name_every_module():
    architecture = (PROJECT_ROOT / "docs/architecture.md").read_text(encoding="utf-8")
    developing_doc = (PROJECT_ROOT / "docs/developing.md").read_text(encoding="utf-8")
    developing = developing_doc[developing_doc.index("## The modules"):]
    documented = set(re.findall(r"\| `cnnlab\.([\w.]+)` \|", architecture))
    listed = set(re.findall(r"`(?:cnnlab\.)?([\w.]+)`", developing))
    names = {dotted(path) for path in MODULES}
    assert names == documented, names ^ documented
    assert names <= listed, names - listed


def test_the_selection_script_reaches_only_the_plan_store_and_workflow():
    # 6E's selection, its condition and its log are the plan wing's: the report reads them
    wings = cnnlab_wings(imported(PROJECT_ROOT / "scripts" / "select_setup.py"))
    assert wings <= {"plan", "store", "workflow"}, sorted(wings)


# names an idea had before it got its one name (docs/architecture.md, "Vocabulary")
FORMER_NAMES = {"Group": "SetUp", "variant": "setup_id", "optimum": "selection",
                "optima": "choices", "replicates": "seeds"}
PYTHON_FILES = sorted(path for folder in ("cnnlab", "scripts", "bench", "tests")
                      for path in (PROJECT_ROOT / folder).rglob("*.py"))


def former_names(source: str) -> set[str]:
    """The former names among a module's identifiers (strings and comments aside)."""
    return {node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute)
            else node.arg if isinstance(node, ast.arg) else node.name
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Name | ast.Attribute | ast.arg | ast.FunctionDef
                          | ast.ClassDef)} & set(FORMER_NAMES)


def renamed_imports(source: str) -> list[str]:
    """'x as y' for each name of cnnlab that an import gives another name."""
    renamed = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cnnlab"):
            renamed += [f"{alias.name} as {alias.asname}" for alias in node.names if alias.asname]
        elif isinstance(node, ast.Import):
            renamed += [f"{alias.name} as {alias.asname}" for alias in node.names
                        if alias.asname and alias.name.startswith("cnnlab")]
    return renamed


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda path: str(path.relative_to(PROJECT_ROOT)))
def test_one_name_per_idea_and_no_import_renames_a_module_of_cnnlab(path):
    source = path.read_text(encoding="utf-8")
    former = former_names(source)
    assert not former, f"{path.name}: {', '.join(f'{n} (now {FORMER_NAMES[n]})' for n in former)}"
    renamed = renamed_imports(source)
    assert not renamed, f"{path.name}: imports {', '.join(renamed)}: use the module's own name"


def test_the_name_checks_see_a_former_name_and_a_renamed_import():
    assert former_names("def f(group):\n    return group.variant\n") == {"variant"}
    assert former_names("class Group:\n    pass\n") == {"Group"}
    assert not former_names("text = 'the optimum'  # optimum\n")
    assert renamed_imports("from cnnlab.report import page as report\n") == ["page as report"]
    assert renamed_imports("import cnnlab.plan.plan as grid\n") == ["cnnlab.plan.plan as grid"]
    assert not renamed_imports("import numpy as np\nfrom cnnlab.report import page\n")
