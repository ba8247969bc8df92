"""Run every notebook at its default parameters and save it with its outputs, so the course reads on GitHub.

    python etc/outputs.py            # every notebook (make outputs)
    python etc/outputs.py 01 08      # chosen notebooks
    python etc/outputs.py --links    # only the Colab cells and the README's badges (no notebook is run)
    python etc/outputs.py --pictures # only the README's pictures and badges, from the saved outputs

Each notebook gets, as its first code cell, the Colab install cell for the repository named in pyproject.toml's
[project.urls] Repository; it is run in a fresh kernel with widget state kept (JupyterLab and nbviewer show the
panels' last pictures before anything runs), and must stay under 2 MB. The first picture of the cell tagged
"readme-picture" (else the notebook's first picture) becomes docs/pictures/<notebook>.png, shown in the README's
table beside the Colab and Binder badges.
"""

import argparse
import base64
import html
import io
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PICTURES = ROOT / "docs" / "pictures"
MAX_BYTES = 2_000_000
PICTURE_WIDTH = 320
COLAB_TAG = "colab-install"


def repository() -> str:
    """The repository URL from pyproject.toml ([project.urls] Repository), without a trailing slash."""
    m = re.search(r'^Repository\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    if not m:
        sys.exit("pyproject.toml has no [project.urls] Repository = \"https://github.com/OWNER/NAME\"")
    return m.group(1).rstrip("/")


def colab_cell_source(repo: str) -> str:
    """The first code cell of every notebook: installs vizkit on Colab only (a no-op elsewhere)."""
    return (
        "# On Colab only: install vizkit (about a minute) and let Colab show its widgets.\n"
        "# Anywhere else this cell does nothing: `make lab` or `pip install vizkit` has set things up.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q "vizkit @ git+{repo}"\n'
        "    from google.colab import output\n"
        "\n"
        "    output.enable_custom_widget_manager()"
    )


def badges(repo: str, name: str) -> str:
    """Markdown for the Colab and Binder badges of notebooks/<name>."""
    owner_repo = re.sub(r"^https://github\.com/", "", repo)
    colab = f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{name}"
    binder = f"https://mybinder.org/v2/gh/{owner_repo}/main?urlpath=lab/tree/notebooks/{name}"
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab}) "
            f"[![Open in Binder](https://mybinder.org/badge_logo.svg)]({binder})")


def put_colab_cell(nb, repo: str) -> None:
    """Make the tagged Colab cell the first code cell, with this repository's URL."""
    import nbformat
    source = colab_cell_source(repo)
    tagged = [c for c in nb.cells if COLAB_TAG in c.metadata.get("tags", [])]
    if tagged:
        tagged[0].source = source
        return
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [COLAB_TAG]})
    nb.cells.insert(first_code, cell)


def picture(nb) -> bytes | None:
    """PNG bytes of the README picture: the tagged cell's first image, else the notebook's first."""
    cells = [c for c in nb.cells if "readme-picture" in c.metadata.get("tags", [])] or nb.cells
    for cell in cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                return base64.b64decode(data["image/png"])
    return None


def save_picture(png: bytes, path: Path) -> None:
    """Shrink to PICTURE_WIDTH px wide (keeping the aspect) and save."""
    from PIL import Image
    pic = Image.open(io.BytesIO(png)).convert("RGB")
    if pic.width > PICTURE_WIDTH:
        pic = pic.resize((PICTURE_WIDTH, round(pic.height * PICTURE_WIDTH / pic.width)), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    pic.save(path, optimize=True)


def readme_table(repo: str) -> None:
    """Rewrite the README's notebook table: each row keeps its topic and gains its picture and badges."""
    readme = ROOT / "README.md"
    lines = readme.read_text().splitlines()
    out = []
    for line in lines:
        m = re.match(r"\| `(\d\d_\w+)` \| (.*?) \|(?: .*\|)?$", line)
        if line.startswith("| notebook | topic"):
            out.append("| notebook | topic | picture | run it |")
        elif line.startswith("|---|---|"):
            out.append("|---|---|---|---|")
        elif m:
            name, topic = m.group(1), m.group(2)
            pic = f"docs/pictures/{name}.png"
            shown = f'<img src="{pic}" width="{PICTURE_WIDTH // 2}">' if (ROOT / pic).exists() else ""
            out.append(f"| `{name}` | {topic} | {shown} | {badges(repo, name + '.ipynb')} |")
        else:
            out.append(line)
    readme.write_text("\n".join(out) + "\n")


def finish_bars(nb) -> int:
    """Give each tqdm bar saved in the notebook the text of its final state; how many were changed.

    A bar's plain-text form is what it showed when it appeared (0/N): viewers that draw no widgets (GitHub, an
    untrusted JupyterLab) would show the work as never started. The saved widget state holds the bar's end (its
    label, its count and its value): that becomes the text, without the timings (they differ on every run).
    """
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    changed = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            model = state.get(view["model_id"]) if view else None
            if not model or model.get("model_name") != "HBoxModel":
                continue
            parts = [state.get(c.replace("IPY_MODEL_", ""), {}) for c in model["state"].get("children", [])]
            if [m.get("model_name") for m in parts] != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
                continue
            left, bar, right = (m["state"] for m in parts)
            total = float(bar.get("max") or 0)
            filled = int(10 * float(bar.get("value", 0)) / total) if total > 0 else 0
            label = html.unescape(left.get("value", "")).replace("\u2007", " ")
            count = html.unescape(right.get("value", "")).replace("\u2007", " ").split("[")[0].rstrip()
            out["data"]["text/plain"] = f"{label}|{'█' * filled}{' ' * (10 - filled)}|{count}"
            changed += 1
    return changed


def nbformat_like(metadata: dict, outputs: list):
    """A minimal notebook node (metadata, one code cell with these outputs), for tests of finish_bars."""
    import nbformat
    return nbformat.from_dict({"metadata": metadata, "cells": [{"cell_type": "code", "outputs": outputs}]})


def run(path: Path, timeout_s: int) -> float:
    """Execute the notebook in place at its default parameters; seconds taken."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    env_before = os.environ.pop("VIZKIT_SMOKE", None)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    start = time.monotonic()
    try:
        NotebookClient(nb, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}},
                       store_widget_state=True, record_timing=False).execute()
    finally:
        if env_before is not None:
            os.environ["VIZKIT_SMOKE"] = env_before
    seconds = time.monotonic() - start
    finish_bars(nb)
    nbformat.write(nb, path)
    png = picture(nb)
    if not png:
        raise SystemExit(f"{path.name} shows no picture for the README: tag a cell that draws one (a matplotlib "
                         "figure or an image) 'readme-picture'; its first image is used")
    save_picture(png, PICTURES / f"{path.stem}.png")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{path.name} is {size / 1e6:.1f} MB with its outputs (limit {MAX_BYTES / 1e6:.0f} MB): "
                         "make its pictures smaller")
    return seconds


def main() -> None:
    import nbformat
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", help="notebook numbers or names (default: all)")
    ap.add_argument("--links", action="store_true", help="only write the Colab cells and the README's badges")
    ap.add_argument("--pictures", action="store_true", help="only the README's pictures, from the saved outputs")
    ap.add_argument("--timeout", type=int, default=900, help="limit per cell, seconds (default 900)")
    args = ap.parse_args()
    repo = repository()
    paths = [p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
             if not args.notebooks or any(p.name.startswith(k) for k in args.notebooks)]
    if not paths:
        sys.exit(f"no notebook matches {args.notebooks}")
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if args.pictures:
            png = picture(nb)
            if png:
                save_picture(png, PICTURES / f"{path.stem}.png")
            continue
        put_colab_cell(nb, repo)
        nbformat.write(nb, path)
        if not args.links:
            seconds = run(path, args.timeout)
            print(f"{path.name:40} {seconds:6.1f} s  {path.stat().st_size / 1e6:5.2f} MB", flush=True)
    readme_table(repo)


if __name__ == "__main__":
    main()
