"""`make lab`, the README's first command, serves the notebooks (as root too) with JupyterLab's news off."""

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def test_make_lab_serves_the_notebooks(tmp_path):
    port, token = free_port(), secrets.token_hex(16)
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --IdentityProvider.token={token}"
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path), MAKEFLAGS="")
    lab = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        contents = None
        for _ in range(120):
            if lab.poll() is not None:
                break
            try:
                contents = get(f"http://127.0.0.1:{port}/api/contents/?token={token}")
                break
            except OSError:
                time.sleep(0.5)
        assert contents is not None, f"make lab did not serve (exit {lab.poll()}):\n{lab.stdout.read()[-3000:]}" \
            if lab.poll() is not None else "make lab did not answer within 60 s"
        names = {item["name"] for item in contents["content"]}
        assert {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")} <= names
        settings = get(f"http://127.0.0.1:{port}/lab/api/settings/@jupyterlab/apputils-extension:notification"
                       f"?token={token}")
        defaults = {k: v.get("default") for k, v in settings["schema"]["properties"].items()}  # overrides change these
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
