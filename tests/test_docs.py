"""The API reference builds without warnings, and the public API documents itself: a docstring for every name,
shapes for tensors and arrays, ranges for images."""

import importlib.util
import inspect
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


@pytest.mark.skipif(importlib.util.find_spec("pdoc") is None, reason="pdoc is not installed (pip install -e '.[test]')")
def test_api_reference_builds_without_warnings(tmp_path):
    # As `make docs` does (etc/docs.py): a pdoc warning (a docstring or annotation it cannot read) fails.
    spec = importlib.util.spec_from_file_location("docs", Path(__file__).resolve().parents[1] / "etc" / "docs.py")
    docs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(docs)
    assert docs.build(tmp_path / "api") == []
    assert (tmp_path / "api" / "vizkit.html").stat().st_size > 10_000
    assert (tmp_path / "api" / "vizkit" / "ui.html").exists()


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
