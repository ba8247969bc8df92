"""Build the API reference with pdoc into docs/api/ (or the folder given); fail on any warning pdoc gives.

    python etc/docs.py [OUT]        # make docs

vizkit is imported before rendering starts, so warnings that a dependency gives at import (an old matplotlib
with a new pyparsing, say) are not counted: only what pdoc says about vizkit's docstrings and annotations.
"""

import shutil
import sys
import warnings
from pathlib import Path


def build(out: Path) -> list[str]:
    """Render vizkit and vizkit.ui as HTML into out; the warnings pdoc gave while rendering, as text."""
    import pdoc
    import pdoc.render

    import vizkit.ui  # noqa: F401 - see the module docstring

    shutil.rmtree(out, ignore_errors=True)
    pdoc.render.configure(docformat="markdown")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc("vizkit", "vizkit.ui", output_directory=out)
    return [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
            if not w.category.__name__.endswith("DeprecationWarning")]


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/api")
    problems = build(out)
    if problems:
        sys.exit("pdoc warned:\n" + "\n".join(problems))
    print(f"API reference: {out / 'vizkit.html'}")
