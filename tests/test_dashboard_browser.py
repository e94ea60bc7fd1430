"""The dashboard in a real browser: ``streamlit run`` on 127.0.0.1, headless Chromium via Selenium,
wait for the comparison table, save a screenshot under ``test-artifacts/``, fail on any
Streamlit exception on the page.

Needs Debian's ``chromium`` and ``chromedriver`` (``make browser`` / ``make test`` install them);
the test is skipped only when those binaries are absent. Selenium Manager is never used: the
driver path is given explicitly, so nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("HAOWURANK_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HAOWURANK_CHROMEDRIVER", "/usr/bin/chromedriver")
TIMEOUT = 120


def _binary(path: str, name: str) -> str | None:
    if Path(path).is_file() and os.access(path, os.X_OK):
        return path
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer on {url} within {timeout} s")


@pytest.fixture
def browser(tmp_path):
    chromium = _binary(CHROMIUM, "chromium")
    driver_path = _binary(CHROMEDRIVER, "chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("chromium / chromedriver binaries are absent (make browser installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1600,2200",
                f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    drv.set_page_load_timeout(TIMEOUT)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture
def server(tmp_path):
    pytest.importorskip("streamlit")
    port = _free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    log = open(tmp_path / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "apps" / "dashboard.py"),
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url, proc, TIMEOUT)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        log.close()
        print((tmp_path / "streamlit.log").read_text()[-3000:])


def _page_errors(drv) -> list[str]:
    from selenium.webdriver.common.by import By

    found = [e.text for e in drv.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')]
    body = drv.find_element(By.TAG_NAME, "body").text
    if "Traceback" in body:
        found.append(body[body.index("Traceback"):][:2000])
    return found


def test_dashboard_in_headless_chromium(server, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    ARTIFACTS.mkdir(exist_ok=True)
    # a small world keeps the check quick; the URL parameters are part of what is tested
    browser.get(server + "/?world=synthetic&n_users=600&n_items=300"
                "&sim_users=200&sim_items=80&sim_days=5&sim_reps=2")
    # Streamlit re-renders while the script runs: an element found in one poll can be gone by
    # the time it is read (a stale reference); that poll is retried, not failed
    wait = WebDriverWait(browser, TIMEOUT, poll_frequency=0.5,
                         ignored_exceptions=(StaleElementReferenceException,))
    try:
        wait.until(EC.presence_of_element_located(
            (By.XPATH, "//*[contains(text(), 'Offline comparison at k = 20')]")))
        wait.until(EC.presence_of_element_located(
            (By.CSS_SELECTOR, '[data-testid="stDataFrame"]')))
        # the script has finished when Streamlit's running indicator is gone
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
                   or "Running" not in d.find_element(By.CSS_SELECTOR,
                                                      '[data-testid="stStatusWidget"]').text)
        time.sleep(1.0)
    finally:
        browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    errors = _page_errors(browser)
    assert not errors, errors
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "600 users" in body
    for name in ("popularity", "friend_endorsements", "trust"):
        assert name in body
    assert "n_users=600" in browser.current_url and "world=synthetic" in browser.current_url
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000

    # the simulation: its tab, its button, the progress bar, then the bands and the totals
    tab = next(t for t in browser.find_elements(By.CSS_SELECTOR, '[role="tab"]')
               if "Simulation" in t.text)
    tab.click()
    wait.until(lambda d: any("Run simulation" in b.text
                             for b in d.find_elements(By.TAG_NAME, "button")))
    next(b for b in browser.find_elements(By.TAG_NAME, "button")
         if "Run simulation" in b.text).click()
    try:
        wait.until(lambda d: "Run totals" in d.find_element(By.TAG_NAME, "body").text
                   or d.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'))
        time.sleep(1.0)
    finally:
        browser.save_screenshot(str(ARTIFACTS / "dashboard-simulation.png"))
    errors = _page_errors(browser)
    assert not errors, errors
    assert "sim=1" in browser.current_url
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"]')) >= 10
