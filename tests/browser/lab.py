"""Drive the course as a student does: JupyterLab in Debian's Chromium, Run All, then every control once.

Used by tests/browser/test_browser.py (part of `make test`) and benchmarks/browser.py (timings).
The notebooks are copied to a temporary folder first, so JupyterLab's autosave never touches the repository.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CHROMIUM = os.environ.get("VIZKIT_CHROMIUM", "/usr/bin/chromium")
SHOTS = ROOT / "tests" / "browser" / "screenshots"  # git-ignored

# Timestamps, in the page's own clock, of every key press / click / change, and of every picture update.
PAGE_PROBE = """
(() => {
  if (window.__vk) return;
  window.__vk = {events: [], pictures: [], feedback: []};
  for (const kind of ['keydown', 'mousedown', 'change', 'input'])
    document.addEventListener(kind, () => window.__vk.events.push(performance.now()), true);
  new MutationObserver(records => {
    for (const r of records) {
      const img = r.target;
      if (img.tagName === 'IMG' && img.closest('.widget-image, .jupyter-widgets'))
        window.__vk.pictures.push({t: performance.now(), id: img.dataset.vkid || ''});
    }
  }).observe(document.body, {attributes: true, attributeFilter: ['src'], subtree: true});
  // feedback that only the kernel can give: a panel's message line or progress bar changes
  new MutationObserver(records => {
    for (const r of records) {
      const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (el && el.closest('.widget-html, .widget-progress')) { window.__vk.feedback.push(performance.now()); break; }
    }
  }).observe(document.body, {attributes: true, childList: true, characterData: true, subtree: true});
})()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab server serving a temporary copy of the notebooks."""
    url: str
    token: str
    root: Path
    process: subprocess.Popen

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"


@contextmanager
def jupyter_lab(env: dict | None = None, notebooks: Path = NOTEBOOKS, clear_outputs: bool = True):
    """Start JupyterLab on 127.0.0.1 with a random port and token; yield a Lab; stop it on exit.
    clear_outputs: serve the notebooks without their saved outputs, as a run from scratch sees them."""
    tmp = Path(tempfile.mkdtemp(prefix="vizkit-lab-"))
    root = tmp / "notebooks"
    shutil.copytree(notebooks, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if clear_outputs:
        for path in root.glob("*.ipynb"):
            nb = json.loads(path.read_text())
            nb["metadata"].pop("widgets", None)
            for cell in nb["cells"]:
                if cell["cell_type"] == "code":
                    cell["outputs"], cell["execution_count"] = [], None
            path.write_text(json.dumps(nb, indent=1))
    # Render every cell (no virtual scrolling), so the whole notebook can be checked after Run All.
    settings = tmp / "user-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--LabApp.user_settings_dir={tmp / 'user-settings'}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp / "lab.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=root,
                            env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start; its log:\n{(tmp / 'lab.log').read_text()}") from None
                time.sleep(0.5)
        yield Lab(url, token, root, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def chromium(width: int = 1366, height: int = 900):
    """A headless Chromium page (Debian's binary), closed on exit."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


@dataclass
class ControlUse:
    """One use of one control: which, what was done, and how long until the panel's picture changed."""
    panel: int
    control: str
    action: str
    picture_ms: float | None      # key press / click -> first new picture in the browser (None: no change)
    idle_ms: float                # key press / click -> kernel idle again
    via_run: bool = False         # the control only takes effect on the panel's Run button
    feedback_ms: float | None = None  # key press / click -> first new picture, message or progress bar


@dataclass
class NotebookRun:
    name: str
    run_all_s: float
    errors: list[str] = field(default_factory=list)
    uses: list[ControlUse] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def open_notebook(page, lab: Lab, name: str, timeout_s: float = 120) -> None:
    """Open a notebook and wait until its kernel is idle."""
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout_s * 1000)
    page.evaluate(PAGE_PROBE)
    wait_idle(page, timeout_s)


def kernel_busy(page) -> bool:
    """True while the open notebook's kernel runs, has cells queued, or a panel runs in the background."""
    return page.evaluate("""() => {
      const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
      if (!nb) return true;
      const prompts = [...nb.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
      if (prompts.some(t => t.includes('*'))) return true;
      // a panel's run in a background thread: its Stop button is enabled until the run ends
      if ([...nb.querySelectorAll('button.widget-button')].some(b => b.textContent.trim() === 'Stop' && !b.disabled))
        return true;
      const status = nb.querySelector('.jp-Toolbar-kernelStatus, .jp-Notebook-ExecutionIndicator');
      const title = status ? (status.getAttribute('title') || status.getAttribute('data-status') || '') : '';
      return /busy|starting|restarting|initializing|unknown/i.test(title)
          || !!document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="busy"]');
    }""")


def wait_idle(page, timeout_s: float, settle_s: float = 0.3) -> None:
    """Wait until the kernel stays idle for settle_s; TimeoutError after timeout_s."""
    deadline = time.monotonic() + timeout_s
    idle_since = None
    while time.monotonic() < deadline:
        if kernel_busy(page):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= settle_s:
            return
        time.sleep(0.05)
    raise TimeoutError(f"the kernel was still busy after {timeout_s:.0f} s")


STARTED = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]
    .some(p => /\\*|\\[\\d+\\]/.test(p.textContent))"""


def run_all(page, timeout_s: float) -> float:
    """Run All Cells from the Run menu; seconds until every cell has run and the kernel is idle."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    for _ in range(3):   # a click that lands before the notebook has focus leaves the menu item inactive
        page.click(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
        page.click("#jp-MainMenu .lm-MenuBar-itemLabel:text-is('Run')")
        start = time.monotonic()
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        try:   # the run has begun once a cell is queued, running or done
            page.wait_for_function(STARTED, timeout=15_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    wait_idle(page, timeout_s, settle_s=1.0)
    unrun = page.evaluate("""() => [...document.querySelectorAll(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell:not(.jp-mod-noInput) .jp-InputPrompt')]
        .filter(p => !/\\[\\d+\\]/.test(p.textContent)).length""")
    if unrun:
        raise AssertionError(f"{unrun} code cells did not run (Run All was clicked up to 3 times)")
    return time.monotonic() - start


def output_errors(page) -> list[str]:
    """Errors (their tracebacks), failed widgets and widgets still loading, in the open notebook.

    JupyterLab renders an error output as stderr text, as it does a progress bar or a warning: an error is told
    apart by its last line, the exception's name and message (a traceback or IPython's short form)."""
    return page.evaluate(r"""() => {
      const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
      const found = [];
      const error = /Traceback \(most recent call last\)|(^|\n)([\w.]*(Error|Exception|Failed|Interrupt)): /;
      for (const el of nb.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]'))
        if (error.test(el.textContent)) found.push('error output: ' + el.textContent.slice(-500));
      for (const el of nb.querySelectorAll('.jp-OutputArea-output'))
        for (const bad of ['Error displaying widget', 'Loading widget...', 'Failed to display'])
          if (el.textContent.includes(bad)) found.push(bad + ': ' + el.textContent.slice(0, 200));
      return found;
    }""")


# The controls of each panel, in DOM order: what kind, its label, whether it can be used.
LIST_CONTROLS = r"""() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const panels = [...nb.querySelectorAll('.jp-OutputArea-output')].filter(o => o.querySelector('img'))
      .map(o => o.querySelector('.jupyter-widgets.widget-container, .jupyter-widgets.widget-box')).filter(Boolean);
  let n = 0;
  return panels.map((panel, p) => {
    panel.querySelectorAll('img').forEach((img, i) => { img.dataset.vkid = p + ':' + i; });
    const kinds = [['.widget-dropdown', 'dropdown'], ['.widget-slider, .widget-hslider', 'slider'],
                   ['.widget-toggle-buttons', 'toggle'], ['.widget-checkbox', 'checkbox'],
                   ['.widget-upload', 'upload'], ['button.widget-button:not(.widget-toggle-button)', 'button']];
    const controls = [];
    for (const [sel, kind] of kinds)
      for (const el of panel.querySelectorAll(sel)) {
        const id = 'vk' + (n++);
        el.dataset.vkcontrol = id;
        const clean = t => (t || '').replace(/[\u200b\s]+/g, ' ').trim();
        const label = clean((el.querySelector('.widget-label') || {}).textContent)
                      || clean(el.textContent).slice(0, 40) || clean(el.getAttribute('title')) || kind;
        const disabled = !!el.querySelector(':disabled') || el.disabled
                         || !!el.querySelector('[disabled]') || el.classList.contains('mod-disabled');
        controls.push({id, kind, label, disabled, order: [...panel.querySelectorAll('*')].indexOf(el)});
      }
    controls.sort((a, b) => a.order - b.order);
    return {panel: p, controls};
  });
}"""


def _pictures_since(page, t0: float, panel: int) -> list[float]:
    return page.evaluate("""([t0, p]) => window.__vk.pictures
        .filter(x => x.t >= t0 && x.id.startsWith(p + ':')).map(x => x.t)""", [t0, panel])


def _act(page, control: dict, upload: Path) -> str:
    """Use one control once, as a student would; the words say what was done."""
    el = page.locator(f"[data-vkcontrol='{control['id']}']")
    el.scroll_into_view_if_needed()
    kind = control["kind"]
    if kind == "dropdown":
        select = el.locator("select")
        options = select.locator("option").all_inner_texts()
        current = select.evaluate("s => s.selectedIndex")
        choice = (current + 1) % len(options)
        select.select_option(index=choice)
        return f"chose {options[choice]!r}"
    if kind == "slider":
        handle = el.locator(".noUi-handle").first
        handle.focus()
        at_max = handle.evaluate("h => h.getAttribute('aria-valuenow') === h.getAttribute('aria-valuemax')")
        key = "ArrowLeft" if at_max else "ArrowRight"
        page.keyboard.press(key)
        return f"pressed {key}"
    if kind == "toggle":
        button = el.locator("button:not(.mod-active)").first
        text = button.inner_text()
        button.click()
        return f"clicked {text!r}"
    if kind == "checkbox":
        el.locator("input").click()
        return "toggled"
    if kind == "upload":
        with page.expect_file_chooser() as chooser:
            el.click()
        chooser.value.set_files(str(upload))
        return f"uploaded {upload.name}"
    el.click()
    return "clicked"


def _disabled(page, control: dict) -> bool:
    """Whether the control is disabled now (panels disable what would have no effect)."""
    return page.locator(f"[data-vkcontrol='{control['id']}']").evaluate(
        "el => el.disabled || el.classList.contains('mod-disabled') || !!el.querySelector(':disabled, [disabled]')")


def _use(page, panel: int, control: dict, upload: Path, timeout_s: float) -> ControlUse | None:
    """Use one control once; wait until the kernel is idle; time the first new picture of its panel.
    None when the control is disabled at that moment."""
    if _disabled(page, control):
        return None
    t0 = page.evaluate("performance.now()")
    start = time.monotonic()
    action = _act(page, control, upload)
    wait_idle(page, timeout_s)
    idle_ms = (time.monotonic() - start) * 1000
    t_press = page.evaluate("t0 => window.__vk.events.find(t => t >= t0) ?? t0", t0)
    pictures = _pictures_since(page, t0, panel)
    said = page.evaluate("t => window.__vk.feedback.find(x => x >= t) ?? null", t_press)
    if control["kind"] == "checkbox":   # put it back: unticking every layer box would leave nothing to run
        _act(page, control, upload)
        wait_idle(page, timeout_s)
    picture_ms = (pictures[0] - t_press) if pictures else None
    shown = [ms for ms in (picture_ms, None if said is None else said - t_press) if ms is not None]
    return ControlUse(panel, control["label"], action, picture_ms, idle_ms, feedback_ms=min(shown) if shown else None)


def use_controls(page, run: NotebookRun, upload: Path, timeout_s: float = 180, repeats: int = 1,
                 shots: Path | None = None) -> None:
    """Use every enabled control of every panel `repeats` times, recording the time to a new picture.

    A setting that only takes effect on the panel's Run button (no new picture by itself) is checked by
    the one Run that follows all of them. (Stop is checked in tests/test_ui_optimize.py.)"""
    for panel in page.evaluate(LIST_CONTROLS):
        p, controls = panel["panel"], panel["controls"]
        button = {word: next((c for c in controls if c["kind"] == "button" and c["label"].lower().startswith(word)),
                             None) for word in ("run", "stop")}
        settings = []
        for control in controls:
            if control in button.values():
                continue
            for _ in range(repeats):
                use = _use(page, p, control, upload, timeout_s)
                if use is None:
                    run.skipped.append(f"panel {p}: {control['label']} (disabled when its turn came)")
                    break
                (settings if use.picture_ms is None and button["run"] else run.uses).append(use)
        if button["run"]:
            uses = [u for u in (_use(page, p, button["run"], upload, timeout_s) for _ in range(repeats)) if u]
            if uses:
                run.uses += uses
            elif not settings:   # Run is disabled while the shown picture is the current setting's
                run.skipped.append(f"panel {p}: {button['run']['label']} (nothing new to compute)")
            else:
                run.uses.append(ControlUse(p, button["run"]["label"], "disabled after new settings", None, 0.0))
            for use in settings:   # the settings made before the run changed its picture
                use.picture_ms, use.via_run = (uses[0].picture_ms if uses else None), True
        if shots and controls:
            page.locator(".jp-OutputArea-output", has=page.locator(f"[data-vkcontrol='{controls[0]['id']}']")) \
                .screenshot(path=str(shots / f"{Path(run.name).stem}-panel{p}.png"))


def exercise(page, lab: Lab, name: str, run_all_timeout_s: float = 600, repeats: int = 1,
             upload: Path | None = None, shots: Path | None = SHOTS) -> NotebookRun:
    """Open a notebook, Run All, check the outputs, use every control; screenshots go to `shots`."""
    open_notebook(page, lab, name)
    result = NotebookRun(name, run_all(page, run_all_timeout_s))
    result.errors += output_errors(page)
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{Path(name).stem}-run-all.png"))
    use_controls(page, result, upload or _upload_image(lab.root), repeats=repeats, shots=shots)
    later = Counter(output_errors(page)) - Counter(result.errors)   # the errors the controls added
    result.errors += list(later.elements())
    shutdown_kernel(page)
    return result


def shutdown_kernel(page) -> None:
    """Shut the notebook's kernel down and close its tab, so the next notebook has the cores to itself."""
    page.click("#jp-MainMenu .lm-MenuBar-itemLabel:text-is('Kernel')")
    page.click(".lm-Menu-itemLabel:text-is('Shut Down Kernel')")
    page.wait_for_timeout(500)


def _upload_image(folder: Path) -> Path:
    """A real photo (scikit-learn's) to upload, saved as PNG."""
    path = folder / "upload.png"
    if not path.exists():
        from PIL import Image
        from sklearn.datasets import load_sample_image
        Image.fromarray(load_sample_image("flower.jpg")[100:300, 200:400]).save(path)
    return path


def notebooks() -> list[str]:
    return sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


CELL = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"


def replace_cell_source(page, index: int, source: str) -> None:
    """Type source into cell `index` (0-based, all cells), replacing what it holds (as a student edits it)."""
    cell = page.locator(CELL).nth(index)
    cell.locator(".cm-content").click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(source)   # inserted as is: no auto-indent


def run_cell(page, index: int) -> None:
    """Run cell `index` alone (select it, Ctrl+Enter) and wait until the kernel is idle."""
    page.locator(CELL).nth(index).locator(".jp-InputArea-prompt, .jp-InputPrompt").first.click()
    page.keyboard.press("Control+Enter")
    page.wait_for_timeout(200)
    wait_idle(page, 120)


def cell_output(page, index: int) -> tuple[str, int]:
    """(the text of cell `index`'s outputs, how many loaded pictures they hold)."""
    return page.locator(CELL).nth(index).evaluate("""el => [
        [...el.querySelectorAll('.jp-OutputArea-output')].map(o => o.textContent).join('\\n'),
        [...el.querySelectorAll('.jp-OutputArea-output img')].filter(i => i.naturalWidth > 0).length]""")
