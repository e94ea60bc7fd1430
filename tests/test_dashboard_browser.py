"""The dashboard in a real browser: ``streamlit run`` on 127.0.0.1, headless Chromium via Selenium,
wait for the verdict cards, move the homophily slider quickly away and back and reload the shared
link (the path that once left a stale index behind), check that the inspector's Chinese text is
drawn in a CJK font (distinct glyphs on a canvas, full-width text) without horizontal scrolling,
run a simulation (its sentences and the offline-vs-simulated verdicts view), save screenshots under
``test-artifacts/``, and fail on any exception text or error message on the page.

Needs Debian's ``chromium``, ``chromedriver`` and a CJK font (``fonts-noto-cjk``; ``make browser`` /
``make test`` install them when run as root);
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
        pytest.skip("chromium / chromedriver binaries are absent; install them with "
                    "`sudo apt-get install -y chromium chromium-driver fonts-noto-cjk` (make browser "
                    "does it as root)")
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
    """Exception boxes, tracebacks and the error boundaries' messages on the page."""
    from selenium.webdriver.common.by import By

    found = [e.text for e in drv.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')]
    body = drv.find_element(By.TAG_NAME, "body").text
    for marker in ("Traceback", "could not be drawn", "Error:"):
        if marker in body:
            found.append(body[body.index(marker):][:2000])
    return found


def _settled(drv) -> bool:
    """Streamlit's script has finished: its running indicator is gone."""
    from selenium.webdriver.common.by import By

    w = drv.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]')
    return not w or "Running" not in w[0].text


def _wait_settled(wait) -> None:
    time.sleep(1.5)  # let a rerun the last input started begin
    wait.until(_settled)
    time.sleep(1.0)


def _press(drv, css: str, key, times: int, pause: float = 0.1) -> None:
    """Focus an element and press a key quickly, as a person holding an arrow key would."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    el = drv.find_element(By.CSS_SELECTOR, css)
    drv.execute_script("arguments[0].focus()", el)
    for _ in range(times):
        ActionChains(drv).send_keys(key).perform()
        time.sleep(pause)


#: Draws two CJK characters with the feed card's font on a canvas and compares them: with a CJK
#: font they are different full-width glyphs; without one both are the same "tofu" box.
_GLYPH_CHECK = """
const card = document.querySelector('.hw-card');
const family = getComputedStyle(card).fontFamily;
const c = document.createElement('canvas'); c.width = 64; c.height = 64;
const ctx = c.getContext('2d'); ctx.font = '40px ' + family; ctx.textBaseline = 'top';
function draw(ch) { ctx.clearRect(0, 0, 64, 64); ctx.fillText(ch, 4, 4);
                    return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(','); }
const a = draw('推'), b = draw('荐');
const span = document.createElement('span'); span.style.fontFamily = family;
span.style.fontSize = '20px'; span.textContent = '推荐购买后推荐'; card.appendChild(span);
const width = span.getBoundingClientRect().width; span.remove();
return {family: family, differ: a !== b, width: width,
        page_scroll: document.documentElement.scrollWidth > window.innerWidth + 1,
        card_scroll: Array.from(document.querySelectorAll('.hw-card')).some(
            e => e.scrollWidth > e.clientWidth + 1)};
"""


def test_dashboard_in_headless_chromium(server, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    ARTIFACTS.mkdir(exist_ok=True)
    # a small world keeps the check quick; the URL parameters are part of what is tested
    link = server + "/?world=synthetic&n_users=600&n_items=300&sim_days=5&sim_reps=2"
    browser.get(link)
    # Streamlit re-renders while the script runs: an element found in one poll can be gone by
    # the time it is read (a stale reference); that poll is retried, not failed
    wait = WebDriverWait(browser, TIMEOUT, poll_frequency=0.5,
                         ignored_exceptions=(StaleElementReferenceException,))

    def loaded() -> None:
        wait.until(EC.presence_of_element_located(
            (By.XPATH, "//*[contains(text(), 'Offline comparison at k = 20')]")))
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="stMetric"]')))
        _wait_settled(wait)

    try:
        loaded()
    finally:
        browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    errors = _page_errors(browser)
    assert not errors, errors
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "600 users" in body and "Best strategy" in body and "Interval excludes zero" in body
    for name in ("popularity", "friend_endorsements", "trust"):
        assert name in body
    assert "n_users=600" in browser.current_url and "world=synthetic" in browser.current_url
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000

    # the homophily slider moved quickly away (each press starts a new world and interrupts the
    # run before) and back, then the shared link reloaded: no stale index, no exception
    slider = '[data-testid="stSlider"] input[type="range"]'
    _press(browser, slider, Keys.ARROW_LEFT, 10)
    _wait_settled(wait)
    assert not _page_errors(browser), _page_errors(browser)
    _press(browser, slider, Keys.ARROW_RIGHT, 10)
    _wait_settled(wait)
    assert not _page_errors(browser), _page_errors(browser)
    browser.get(link)
    try:
        loaded()
    finally:
        browser.save_screenshot(str(ARTIFACTS / "dashboard-reloaded.png"))
    errors = _page_errors(browser)
    assert not errors, errors

    # the inspector: feed cards with Chinese titles and badges drawn in a CJK font, no
    # horizontal scrolling
    next(t for t in browser.find_elements(By.CSS_SELECTOR, '[role="tab"]')
         if "One user" in t.text).click()
    wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".hw-card")))
    time.sleep(1.0)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-inspector.png"))
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "推荐" in body and "endorsed by" in body
    font = browser.execute_script(_GLYPH_CHECK)
    assert font["differ"], (
        f"CJK text renders as identical boxes (tofu) in {font['family']}: install a CJK font "
        f"(Debian: fonts-noto-cjk; make browser does it as root)")
    assert font["width"] >= 0.9 * 7 * 20, font  # seven full-width glyphs at 20 px
    assert not font["page_scroll"] and not font["card_scroll"], font

    # the simulation: its tab, its button, the progress bar, then the verdict and the totals
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
        _wait_settled(wait)
    finally:
        browser.save_screenshot(str(ARTIFACTS / "dashboard-simulation.png"))
    errors = _page_errors(browser)
    assert not errors, errors
    assert "sim=1" in browser.current_url
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Simulated world: 600 users, 300 items" in body
    assert "Run totals: paired difference" in browser.page_source
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-testid="stVegaLiteChart"]')) >= 4
    # the default study crosses strategies with messaging policies and says what it shows; the
    # offline and simulated verdicts stand side by side with a sentence on whether they agree
    assert "What this study shows." in body and "messaging it is" in body
    assert "Offline vs simulated verdicts" in body
    said = [line for line in body.splitlines()
            if line.startswith("Offline and simulated verdicts ")]
    assert len(said) == 1, said
    assert said[0].startswith(("Offline and simulated verdicts agree",
                               "Offline and simulated verdicts disagree: offline, "))
    assert "offline rank" in body or "simulated rank" in browser.page_source
