import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))  # the published-run helpers live there
from app_fixtures import APP, REPO, publish_demo, write_auth_file

CHROMIUM = "/usr/bin/chromium"
# Debian's Chromium, never `playwright install` (downloads are blocked); quiet flags for a sandboxed CI box.
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_app(root: Path, env: dict, cwd: Path = REPO, port: int | None = None):
    """`streamlit run app/Home.py` on localhost (a free port unless given) until the block ends; yields its URL."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    with open(root / "streamlit.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false"], cwd=cwd, env={**os.environ, **env},
                                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    proc.kill()
                    raise RuntimeError(f"streamlit did not start: {(root / 'streamlit.log').read_text()[-2000:]}") from None
                time.sleep(0.3)
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@pytest.fixture(scope="session")
def published_demo(tmp_path_factory) -> Path:
    return publish_demo(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="session")
def server(published_demo):
    """The app over its own published run and local staff accounts."""
    root = published_demo.parent
    auth = write_auth_file(root / "users.toml")
    env = {"CARESCORE_STORE": str(published_demo), "CARESCORE_AUTH_FILE": str(auth),
           "CARESCORE_SESSION_SECRET": "a secret for tests only"}
    with streamlit_app(root, env) as url:
        yield {"url": url, "store": published_demo}


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser-deps` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()
