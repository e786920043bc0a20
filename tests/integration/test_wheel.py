"""The built wheel is what ships. Installed into a fresh virtualenv outside the checkout and started
from another directory, it must serve its pages, its stylesheet and scripts, and every static file
the Connect descriptor and the Forge manifest name (the Drift icon Jira shows on every issue).

This is the proof that templates/ and static/ travel inside the package: before they did, the app
only worked where the working directory happened to hold a checkout.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]
# What the build needs, and nothing else: the same paths the Dockerfile's build stage copies.
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md", "connect_app", "templates", "static")
STATIC_URL = re.compile(r"^/static/[\w./-]+$")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(args: list[str], **kwargs: object) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=150, check=False, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def _static_urls(value: object) -> Iterator[str]:
    """Every string in a JSON/YAML document that is a URL of one of our static files."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _static_urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from _static_urls(item)
    elif isinstance(value, str) and STATIC_URL.match(value):
        yield value


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy, so that a stale build/ in the checkout cannot leak into the wheel.
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        if not (REPO / name).exists():
            continue
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)])
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv outside the checkout with the wheel and its dependencies (from the configured index)."""
    root = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", str(root)])
    python = root / "bin" / "python"
    # This interpreter's pip installs into the new environment, which saves bootstrapping a pip there.
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(wheel)])
    return root


def _clean_env(**extra: str) -> dict[str, str]:
    drop = {"DATABASE_URL", "APP_BASE_URL", "APP_SECRET_KEY", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def test_the_wheel_carries_the_templates_static_files_and_every_module(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("templates", "static"):
        expected = {f"connect_app/{folder}/{name}" for name in _files(REPO / folder)}
        assert expected, f"{folder}/ is empty"
        assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"
    modules = {f"connect_app/{name}" for name in _files(REPO / "connect_app") if name.endswith(".py")}
    assert modules <= names, f"modules missing from the wheel: {sorted(modules - names)}"
    assert "connect_app/atlassian-connect.json" in names
    assert not any(name.startswith(("templates/", "static/")) for name in names), "top-level folders would clash"


def test_the_installed_wheel_serves_pages_and_static_files_from_another_directory(venv: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    python = venv / "bin" / "python"

    # The package, not the checkout and not the working directory, holds the folders the app uses.
    probe = _run([str(python), "-c", "import json, connect_app as c; print(json.dumps("
                  "[c.__file__, str(c._find_dir('templates')), str(c._find_dir('static'))]))"],
                 cwd=elsewhere, env=_clean_env())
    package_file, templates, static = (Path(p) for p in json.loads(probe))
    package = package_file.parent
    assert package.is_relative_to(venv), package
    assert Path(templates) == package / "templates" and (package / "templates" / "error.html").is_file()
    assert Path(static) == package / "static" and (package / "static" / "reality.css").is_file()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(venv / "bin" / "connect-app"), "serve", "--bind", f"127.0.0.1:{port}", "--web-workers", "1"],
            cwd=elsewhere, env=_clean_env(INSTANCE_PATH=str(tmp_path / "instance"), APP_BASE_URL=base),
            start_new_session=True, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = requests.get(f"{base}/healthz", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "serve did not start within a minute:\n" + log.read_text()[-3000:]
                time.sleep(0.3)
        assert health.status_code == 200, health.text

        descriptor_response = requests.get(f"{base}/atlassian-connect.json", timeout=5)
        assert descriptor_response.status_code == 200
        descriptor = descriptor_response.json()
        assert descriptor["baseUrl"] == base

        # A page rendered from the templates: the panel opened without Jira's JWT is refused with
        # the HTML error page (the only page that needs no installed tenant).
        page = requests.get(f"{base}/panel/issue", params={"issueKey": "FEAT-1"}, timeout=5)
        assert page.status_code == 401
        assert page.headers["Content-Type"].startswith("text/html")
        assert "System Reality could not show this" in page.text

        urls = set(re.findall(r"""(?:href|src)="(/static/[^"?#]+)""", page.text))
        assert "/static/reality.css" in urls
        # Every static file a template links, every static URL the descriptor and the manifest
        # name, and every file the package carries in static/.
        for template in (REPO / "templates").rglob("*.html"):
            urls |= {f"/static/{name}" for name in re.findall(r"url_for\('static', filename='([^']+)'\)",
                                                             template.read_text(encoding="utf-8"))}
        named = set(_static_urls(descriptor)) | set(_static_urls(yaml.safe_load((REPO / "manifest.yml").read_text())))
        assert "/static/drift-icon.svg" in named
        urls |= named
        urls |= {f"/static/{name}" for name in _files(package / "static")}
        assert {"/static/panel.js", "/static/admin.js", "/static/report.js", "/static/sr-common.js",
                "/static/logo.svg"} <= urls

        for url in sorted(urls):
            response = requests.get(f"{base}{url}", timeout=5)
            assert response.status_code == 200, f"{url}: {response.status_code}"
            assert response.content == (REPO / url.removeprefix("/")).read_bytes(), f"{url} differs from the source"
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have died on its own; the log says why
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode in (0, -signal.SIGTERM), log.read_text()[-3000:]
