"""Build the API reference with pdoc into docs/api/ (or the folder given): a page for every public module; fail on
any warning pdoc gives.

    python etc/docs.py [OUT]        # make docs

A public module is one whose dotted name has no part starting with "_" (vizkit._check and vizkit.ui._panel are
internals). Module-level constants without a docstring are left out (etc/pdoc/module.html.jinja2).

vizkit is imported before rendering starts, so warnings that a dependency gives at import (an old matplotlib
with a new pyparsing, say) are not counted: only what pdoc says about vizkit's docstrings and annotations.
"""

import importlib
import pkgutil
import shutil
import sys
import warnings
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "pdoc"


def public_modules() -> list[str]:
    """Every public module of vizkit, by dotted name, packages before their modules."""
    import vizkit

    found = [m.name for m in pkgutil.walk_packages(vizkit.__path__, "vizkit.", onerror=lambda name: None)]
    return ["vizkit"] + sorted(n for n in found if not any(part.startswith("_") for part in n.split(".")))


def page(out: Path, module: str) -> Path:
    """Where the page of a module (a dotted name) lies under out."""
    return out / (module.replace(".", "/") + ".html")


def build(out: Path) -> list[str]:
    """Render every public module as HTML into out; the warnings pdoc gave while rendering, as text."""
    import pdoc.doc
    import pdoc.render

    modules = public_modules()
    for name in modules:  # see the module docstring
        importlib.import_module(name)
    shutil.rmtree(out, ignore_errors=True)
    pdoc.render.configure(docformat="markdown", template_directory=TEMPLATES,
                          footer_text="vizkit: visualizing and understanding convolutional networks")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # pdoc.pdoc() would add each package's submodules again; this is its loop over an explicit list
        docs = {name: pdoc.doc.Module.from_name(name) for name in modules}
        for name, module in docs.items():
            page(out, name).parent.mkdir(parents=True, exist_ok=True)
            page(out, name).write_text(pdoc.render.html_module(module, docs), encoding="utf-8")
        (out / "index.html").write_text(pdoc.render.html_index(docs), encoding="utf-8")
        (out / "search.js").write_text(pdoc.render.search_index(docs), encoding="utf-8")
    return [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
            if not w.category.__name__.endswith("DeprecationWarning")]


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/api")
    problems = build(out)
    if problems:
        sys.exit("pdoc warned:\n" + "\n".join(problems))
    print(f"API reference: {len(public_modules())} modules, {out / 'index.html'}")
