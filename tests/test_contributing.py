"""The contributor's guide matches the code: every file, test, make target and command that CONTRIBUTING.md names
exists and runs as written (pytest commands are collected, not run: each must select at least one test), its
layout table covers the repository, every vizkit name it and the README use exists as code would read it, and the
README points to the guide, the changelog and the licence."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "CONTRIBUTING.md").read_text()
README = (ROOT / "README.md").read_text()
# The guide's made-up technique and notebook, and the place-holders of its recipes, name nothing that exists yet.
MADE_UP = re.compile(r"integrated_gradients|\b16\b|16_|\bNN\b|NN_|<|\*")
# Built or git-ignored paths the guide may name: they appear once a command has run.
BUILT = ("docs/api", "student", "tests/browser/screenshots", ".venv")
TOP = ("vizkit/", "tests/", "etc/", "benchmarks/", "docs/", "notebooks/", "binder/", ".ci/", ".github/")


def _spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def _section(title: str) -> str:
    start = GUIDE.index(f"## {title}")
    end = GUIDE.find("\n## ", start + 1)
    return GUIDE[start:end if end > 0 else None]


def _paths() -> set[str]:
    """Repository paths the guide names (as `path`, `path::test` or inside a command), place-holders left out."""
    found = set()
    for span in _spans(GUIDE) + re.findall(r"```bash\n(.*?)```", GUIDE, re.S):
        for token in re.findall(r"[\w./-]+(?:::\w+)?", span):
            if token.startswith(TOP) and not MADE_UP.search(token) and not token.startswith(BUILT):
                found.add(token.rstrip(".,;:"))
    return found


def _commands() -> list[str]:
    """Every command line of the guide's bash blocks (the clone line apart: it needs the internet), and every inline
    command that calls the venv, place-holders left out."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", GUIDE, re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] != "git":
                lines.append(line)
    inline = [s for s in _spans(GUIDE) if s.startswith(".venv/bin/") and " " in s and not MADE_UP.search(s)]
    return lines + sorted(set(inline) - set(lines))


def test_every_path_and_test_the_guide_names_exists():
    paths = _paths()
    assert len(paths) > 40, sorted(paths)  # the parser still finds the guide's paths
    for path in sorted(paths):
        file, _, test = path.partition("::")
        assert (ROOT / file).exists(), f"CONTRIBUTING.md names {file}, which does not exist"
        if test:
            assert re.search(rf"^def {test}\(", (ROOT / file).read_text(), re.M), f"no test {test} in {file}"


def test_every_make_target_the_guide_and_readme_name_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.search(r"^\.PHONY:(.*)$", makefile, re.M).group(1).split())
    code = _spans(GUIDE) + _spans(README) + re.findall(r"```bash\n(.*?)```", GUIDE + README, re.S)
    named = {t for span in code for t in re.findall(r"\bmake ([a-z]+)\b", span)}
    assert named and named <= targets, f"named but not in the Makefile: {named - targets}"


def test_the_layout_table_covers_the_repository():
    layout = _section("The layout in one minute")
    mentioned = {name for span in _spans(layout) for part in re.split(r"[,\s]+", span) for name in part.split("/")
                 if name}
    package = {p.name for p in (ROOT / "vizkit").iterdir() if p.name != "__pycache__"}
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    top = {p.split("/")[0] for p in tracked} - {".gitignore"} if tracked else set()
    assert not package - mentioned, f"vizkit/ entries missing from the layout table: {sorted(package - mentioned)}"
    assert not top - mentioned, f"repository entries missing from the layout table: {sorted(top - mentioned)}"


@pytest.mark.parametrize("line", [c for c in _commands() if "-m pytest" in c], ids=lambda c: c.split("pytest")[1][:40])
def test_each_pytest_command_selects_tests(line):
    words = shlex.split(line, comments=True)
    env = dict(os.environ)
    while "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    assert words[0] == ".venv/bin/python", "the guide's commands call the project's venv"
    done = subprocess.run([sys.executable, *words[1:], "--collect-only", "-p", "no:cacheprovider"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert not re.search(r"\bno tests (ran|collected)|\b0 (items|tests) collected", done.stdout), done.stdout[-500:]


@pytest.mark.parametrize("line", [c for c in _commands() if "-m pytest" not in c], ids=lambda c: c.split("#")[0][:40])
def test_each_other_command_exists_as_written(line):
    words = [w for w in shlex.split(line, comments=True) if "=" not in w or w.startswith("-")]
    if words[0] == "make":
        return  # checked against the Makefile above
    if words[0] == ".venv/bin/ruff":  # (its --fix would change files)
        assert subprocess.run([sys.executable, "-m", "ruff", "--version"], capture_output=True).returncode == 0
        return
    assert words[0] == ".venv/bin/python", "the guide's commands call the project's venv"
    if words[1] == "-m":  # a module and its subcommand, if any
        done = subprocess.run([sys.executable, *words[1:4 if len(words) > 3 else 3], "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    else:
        assert (ROOT / words[1]).exists(), words[1]
        done = subprocess.run([sys.executable, words[1], "--help"], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 0 and "usage" in done.stdout, done.stderr[-2000:]


def test_the_readme_links_the_guide_changelog_and_licence_and_names_every_stage_of_make_test():
    for name in ("CONTRIBUTING.md", "CHANGELOG.md", "LICENSE"):
        assert f"]({name})" in README, f"README.md does not link {name}"
    stages = re.search(r"^test:(.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    assert stages and all(f"`make {s}`" in README for s in stages), stages
    assert "mypy" in README and "lowest" in README


def test_without_chromium_the_browser_test_skips_with_its_reason_and_passes():
    """As the guide says: on a machine without Chromium, `make browser` (so `make test`) goes on, saying why."""
    env = dict(os.environ, VIZKIT_CHROMIUM=str(ROOT / "no-chromium-here"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "tests/browser"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:]
    assert "skipped" in done.stdout and "VIZKIT_CHROMIUM" in done.stdout and "passed" not in done.stdout


def _resolve(dotted: str):
    """The object a dotted name (vizkit.a.b, or vk.x for vizkit.x) names, as code reads it after `import vizkit`:
    attributes first (vizkit.optimize is the function optimize), a submodule only where no attribute has the name."""
    import importlib

    parts = dotted.replace("vk.", "vizkit.", 1).split(".") if dotted.startswith("vk.") else dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 2):
        obj = getattr(obj, part) if hasattr(obj, part) else importlib.import_module(".".join(parts[:i]))
    return obj


def test_every_python_name_the_guide_and_readme_use_exists():
    code = _spans(GUIDE) + _spans(README) + re.findall(r"```python\n(.*?)```", GUIDE + README, re.S)
    names = {m.rstrip(".") for text in code for m in re.findall(r"\b(?:vk|vizkit)\.[A-Za-z_][\w.]*", text)
             if not MADE_UP.search(m)}
    names = {n for n in names if not re.search(r"\.(py|ipynb|md|html|pt|json)$", n)}  # file names, not Python ones
    assert len(names) > 30, sorted(names)
    missing = []
    for name in sorted(names):
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.append(name)
    assert not missing, f"names that vizkit does not have: {missing}"
    with pytest.raises((ImportError, AttributeError)):  # the guide's old mistake is caught
        _resolve("vizkit.optimize.Result")
