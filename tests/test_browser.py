"""Headless Chromium (Debian's chromium + chromium-driver, driven by Selenium) against the live server:
log in through the form, open every page from the navigation, check each chart drew and the console
stayed clean, and save a screenshot of each page (folder printed)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from django.urls import reverse

from monitoring.navigation import NAVIGATION

from .conftest import PASSWORD

# serialized_rollback: the teardown flush then skips post_migrate, so later serialized tests restore cleanly.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,1700", "--disable-dev-shm-usage",
]

# True when every pixel of the canvas is transparent: the chart did not draw.
CANVAS_IS_BLANK = """
const c = arguments[0];
const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) return false; }
return true;
"""


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="leadsync-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


# True when the page or a table is wider than its box (a table that does not fit scrolls sideways,
# hiding its last columns).
PAGE_OVERFLOWS = """
const boxes = [document.documentElement, ...document.querySelectorAll('.table-container')];
return boxes.some(b => b.scrollWidth > b.clientWidth + 1);
"""


def log_in(browser, live_server, user, screenshot: Path | None = None) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(live_server.url + reverse("login"))
    if screenshot:
        browser.save_screenshot(str(screenshot))
    browser.find_element(By.NAME, "username").send_keys(user.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.rstrip("/") == live_server.url)
    assert console_errors(browser) == []


def visit_every_page(browser, folder: Path) -> tuple[int, int]:
    """Open each navigation link: heading present, every chart drew, console clean, page no wider
    than the window; a screenshot of each in `folder`. Returns (pages, charts)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 10)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    nav_links = [(a.text, a.get_attribute("href")) for a in browser.find_elements(By.CSS_SELECTOR, "nav.mainnav a")]
    assert [label for label, _href in nav_links] == [label for _name, label in NAVIGATION]
    charts_seen = 0
    for index, (label, href) in enumerate(nav_links, start=1):
        browser.get(href)
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
        assert browser.find_element(By.TAG_NAME, "h1").text, label
        canvases = browser.find_elements(By.CSS_SELECTOR, "canvas[data-chart]")
        for canvas in canvases:
            wait.until(lambda d, c=canvas: not d.execute_script(CANVAS_IS_BLANK, c))
        charts_seen += len(canvases)
        browser.save_screenshot(str(folder / f"{index:02d}-{label.lower().replace(' ', '-')}.png"))
        assert console_errors(browser) == [], label
        assert not browser.execute_script(PAGE_OVERFLOWS), f"{label}: a table is wider than the page"
    return len(nav_links), charts_seen


def test_every_page_in_headless_chromium(browser, live_server, sync_dataset, viewer):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from django.db import connection

    with connection.cursor() as cursor:  # so the daily summary page has rows to show
        cursor.execute("SELECT refresh_daily_summary()")
    SCREENSHOTS.mkdir(exist_ok=True)
    wait = WebDriverWait(browser, 10)
    log_in(browser, live_server, viewer, screenshot=SCREENSHOTS / "00-login.png")
    pages, charts_seen = visit_every_page(browser, SCREENSHOTS)
    # Overview (pie + gauge), performance, lead flow, segments, debug (webhooks).
    assert charts_seen == 6

    # Lead detail, reached the way an operator does: from the Errors page.
    browser.get(live_server.url + reverse("monitoring:errors"))
    browser.find_element(By.LINK_TEXT, "Alan Turing").click()
    wait.until(lambda d: "Lead: Alan Turing" in d.find_element(By.TAG_NAME, "h1").text)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#table-rows tbody tr")) == 2
    browser.save_screenshot(str(SCREENSHOTS / f"{pages + 1:02d}-lead-detail.png"))
    assert console_errors(browser) == []

    # The activity page refreshes itself without a reload, and pauses.
    browser.get(live_server.url + reverse("monitoring:activity"))
    before = browser.find_element(By.ID, "updated-at").get_attribute("datetime")
    browser.execute_script("window.__sameDocument = true; window.leadsyncActivityRefresh();")
    wait.until(lambda d: d.find_element(By.ID, "updated-at").get_attribute("datetime") != before)
    assert browser.execute_script("return window.__sameDocument") is True  # no full reload happened
    assert len(browser.find_elements(By.CSS_SELECTOR, "#table-activity tbody tr")) == 5
    columns = len(browser.find_elements(By.CSS_SELECTOR, "#table-activity thead th"))
    refreshed = browser.find_elements(By.CSS_SELECTOR, "#table-activity tbody tr")
    assert [len(tr.find_elements(By.TAG_NAME, "td")) for tr in refreshed] == [columns] * 5  # script and table agree
    assert "Twenty API 429: rate limit exceeded for lead 123" in refreshed[1].text
    pause = browser.find_element(By.ID, "pause")
    pause.click()
    assert pause.text == "Resume" and pause.get_attribute("aria-pressed") == "true"
    assert console_errors(browser) == []


def test_every_page_on_seed_demo_data(browser, live_server, viewer):
    """The pages as the ops team sees them: seed_demo's realistic mix (long emails, nine sources,
    error bursts) at a small size; screenshots in screenshots/seed_demo/."""
    from monitoring.services.demo_data import seed_demo

    seed_demo(leads=2_000, history=20_000, days=30, seed=42)
    log_in(browser, live_server, viewer)
    pages, charts_seen = visit_every_page(browser, SCREENSHOTS / "seed_demo")
    assert pages == len(NAVIGATION) and charts_seen == 6
