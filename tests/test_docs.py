"""The API reference builds without warnings, and the public API documents itself: a docstring for every name,
shapes for tensors and arrays, ranges for images."""

import importlib
import importlib.util
import inspect
import os
import re
from pathlib import Path

import pytest

import vizkit as vk

# Annotations that mean "a tensor or an array": the docstring must give a shape.
TENSORS = re.compile(r"\b(Tensor|ndarray|ImageLike|Images|Features|Result|TopPatches)\b")
# Annotations that mean "an image": the docstring must give its range or say it is a (normalised) model input.
IMAGES = re.compile(r"\b(ImageLike|Images|Image|Result)\b")
SHAPE = re.compile(r"\((?:[^()]*\b[NCHWhwKDk]\b[^()]*|out, in, kh, kw)\)|\bshape\b")
RANGE = re.compile(r"\[0, 1\]|model input|normalised")
# Names whose annotations match but whose docstring need not give a shape or range, and why.
EXCEPTIONS = {
    "mass_share": "takes a heat map and a mask of any one shape and returns a float",
}
# Public functions whose parameters are not all annotated yet: name -> why (remove an entry once they are).
NOT_ANNOTATED: dict[str, str] = {}


def _public():
    for name in vk.__all__:
        obj = getattr(vk, name)
        if not inspect.ismodule(obj):
            yield name, obj


def _annotations(obj) -> str:
    """The text of obj's parameter and return annotations (a class: its constructor's)."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""
    parts = [str(p.annotation) for p in sig.parameters.values() if p.annotation is not inspect.Parameter.empty]
    if sig.return_annotation is not inspect.Signature.empty:
        parts.append(str(sig.return_annotation))
    return " ".join(parts)


ROOT = Path(__file__).resolve().parents[1]
needs_pdoc = pytest.mark.skipif(importlib.util.find_spec("pdoc") is None,
                                reason="pdoc is not installed (pip install -e '.[test]')")


def _docs_script():
    spec = importlib.util.spec_from_file_location("docs", ROOT / "etc" / "docs.py")
    docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docs)
    return docs


def _public_modules_on_disk() -> list[str]:
    """Every .py file and package under vizkit/ whose dotted name has no part starting with "_"."""
    names = []
    for path in (ROOT / "vizkit").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if not any(part.startswith("_") for part in parts):
            names.append(".".join(parts))
    return sorted(names)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The API reference as `make docs` builds it (etc/docs.py): its folder and pdoc's warnings."""
    out = tmp_path_factory.mktemp("api")
    return out, _docs_script().build(out)


@needs_pdoc
def test_api_reference_builds_without_warnings(api):
    out, problems = api
    assert problems == []
    assert (out / "vizkit.html").stat().st_size > 10_000 and (out / "index.html").exists()


@needs_pdoc
def test_every_public_module_has_a_page(api):
    out, _ = api
    modules = _public_modules_on_disk()
    assert {"vizkit.attribute", "vizkit.inspect", "vizkit.hooks", "vizkit.nets", "vizkit.data", "vizkit.ui",
            "vizkit.optimize.invert", "vizkit.measure"} <= set(modules)
    missing = [m for m in modules if not (out / (m.replace(".", "/") + ".html")).exists()]
    assert not missing, f"public modules without a page in the API reference: {missing}"
    assert not list(out.rglob("_*.html")), "a page for an internal module"
    # each page is linked from its package's page, so every page can be reached from vizkit.html
    for module in modules[1:]:
        parent, child = (out / (m.replace(".", "/") + ".html") for m in (module.rsplit(".", 1)[0], module))
        href = os.path.relpath(child, parent.parent)
        assert f'href="{href}"' in parent.read_text(), f"{module}'s page is not linked from its package's page"
    # what the guide tells contributors to use is there; internal constants are not
    hooks = (out / "vizkit" / "hooks.html").read_text()
    assert all(f'id="{name}"' in hooks for name in ("frozen", "preserved", "record", "resolve", "resolve_target"))
    invert = (out / "vizkit" / "optimize" / "invert.html").read_text()
    assert 'id="invert"' in invert and 'id="B"' not in invert and 'id="V"' not in invert
    assert 'id="FASHION_CLASSES"' in (out / "vizkit" / "data.html").read_text()  # a documented constant stays


@needs_pdoc
def test_nothing_public_is_hidden_for_want_of_a_docstring():
    """The reference leaves out undocumented module constants only: every public function and class that pdoc
    lists on a page (and every public method) has a docstring."""
    import pdoc.doc

    missing = []
    for name in _docs_script().public_modules():
        for member in pdoc.doc.Module(importlib.import_module(name)).members.values():
            if member.name.startswith("_") or member.kind == "variable":
                continue
            if not member.docstring.strip():
                missing.append(member.fullname)
            if member.kind == "class":
                missing += [m.fullname for m in member.own_members if m.kind == "function"
                            and not m.name.startswith("_") and not m.docstring.strip()]
    assert not missing, f"public functions or classes without a docstring: {missing}"


@pytest.mark.parametrize("name", [n for n, _ in _public()])
def test_public_names_have_docstrings(name):
    assert (inspect.getdoc(getattr(vk, name)) or "").strip(), f"vk.{name} has no docstring"


def test_panels_have_docstrings():
    import vizkit.ui as ui

    missing = [n for n in ui.__all__ if not (inspect.getdoc(getattr(ui, n)) or "").strip()]
    assert not missing, f"panels without a docstring: {missing}"


@pytest.mark.parametrize("name", [n for n, o in _public() if TENSORS.search(_annotations(o)) and n not in EXCEPTIONS])
def test_tensor_arguments_document_shapes_and_ranges(name):
    obj = getattr(vk, name)
    doc, ann = inspect.getdoc(obj) or "", _annotations(obj)
    assert SHAPE.search(doc), f"vk.{name} takes or returns tensors ({ann}) but its docstring gives no shape"
    if IMAGES.search(ann):
        assert RANGE.search(doc), f"vk.{name} takes or returns images but its docstring gives no range ([0, 1])"


@pytest.mark.parametrize("name", [n for n, o in _public() if inspect.isfunction(o) and n not in NOT_ANNOTATED])
def test_public_functions_are_annotated(name):
    sig = inspect.signature(getattr(vk, name))
    plain = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    missing = [p.name for p in sig.parameters.values() if p.kind in plain and p.annotation is inspect.Parameter.empty]
    assert not missing, f"vk.{name}: parameters without a type annotation: {missing}"
    assert sig.return_annotation is not inspect.Signature.empty, f"vk.{name} has no return annotation"


def test_version_agrees_with_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert vk.__version__ == project["version"]
