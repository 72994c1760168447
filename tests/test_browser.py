"""Headless Chromium (Debian's chromium + chromium-driver, driven by Selenium) against the live server:
log in through the form, open every page from the navigation, check each chart drew and the console
stayed clean, and save a screenshot of each page (folder printed)."""
from __future__ import annotations

import shutil
import time
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
    # Django's admin pages link no icon, so Chromium asks for /favicon.ico (404): not our error.
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]]


# Viewport widths of the visual check: a laptop and a phone (iPhone 12-15: 390 CSS px).
WIDTHS = (1440, 390)
PHONE = 390

# Everything that sticks out: the page scrolling sideways, an element past the viewport's right
# edge (unless a scrolling or clipping ancestor contains it), a box whose content is wider than
# the box (a table scrolling inside its card), a chart wider than its container. Returns text
# a failing assert can print: "tag#id.class: what".
LAYOUT_PROBLEMS = """
const vw = document.documentElement.clientWidth;
const problems = [];
const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
  (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\\s+/).join('.') : '');
if (document.documentElement.scrollWidth > vw + 1) {
  problems.push('page: ' + document.documentElement.scrollWidth + ' px wide in a ' + vw + ' px viewport');
}
const clips = e => { for (let p = e.parentElement; p && p !== document.body; p = p.parentElement) {
  const ox = getComputedStyle(p).overflowX; if (ox !== 'visible') return p; } return null; };
for (const e of document.body.querySelectorAll('*')) {
  const r = e.getBoundingClientRect();
  if (!r.width || !r.height || getComputedStyle(e).visibility === 'hidden') continue;
  if (['SCRIPT', 'TITLE', 'OPTION'].includes(e.tagName)) continue;
  if (r.right > vw + 1 && !clips(e)) problems.push(name(e) + ': right edge at ' + Math.round(r.right) + ' px');
}
for (const box of document.querySelectorAll('main .card, .table-container, .chart-box, #content-main')) {
  if (box.scrollWidth > box.clientWidth + 1) {
    problems.push(name(box) + ': content ' + box.scrollWidth + ' px in a ' + box.clientWidth + ' px box');
  }
}
for (const c of document.querySelectorAll('canvas')) {
  const parent = c.parentElement.getBoundingClientRect(), r = c.getBoundingClientRect();
  if (r.width > parent.width + 1) problems.push(name(c) + ': chart wider than its container');
}
return problems.slice(0, 10);
"""

# The key cells of every portal table (status, name, error: `td.key`) are on screen in the first
# rows, at any width: neither scrolled away nor hidden.
HIDDEN_KEY_CELLS = """
const vw = document.documentElement.clientWidth;
const hidden = [];
for (const row of document.querySelectorAll('table.table tbody tr:nth-child(-n+3)')) {
  for (const td of row.querySelectorAll('td.key')) {
    const r = td.getBoundingClientRect();
    if (!r.width || !r.height || r.left < -1 || r.right > vw + 1) hidden.push((td.dataset.label || '?') + ': ' + td.textContent.trim().slice(0, 30));
  }
}
return hidden;
"""

# The admin changelist's key columns are fully on screen, not scrolled away inside .results (the
# other columns may be reached by scrolling that box).
ADMIN_KEY_COLUMNS_OFFSCREEN = """
const vw = document.documentElement.clientWidth;
const names = arguments[0];
const out = [];
for (const n of names) {
  const th = document.querySelector('#result_list thead th.column-' + n);
  if (!th) { out.push(n + ': missing'); continue; }
  // Inside the viewport AND inside the scrolling .results box (not scrolled out of it).
  const box = (th.closest('.results') || document.documentElement).getBoundingClientRect();
  const right = Math.min(vw, box.right), r = th.getBoundingClientRect();
  if (r.right > right + 1 || r.left < box.left - 1 || !r.width) {
    out.push(n + ': at ' + Math.round(r.left) + '-' + Math.round(r.right) + ', visible up to ' + Math.round(right));
  }
}
return out;
"""


def set_width(driver, width: int, height: int = 900) -> None:
    """Lay the page out at exactly `width` CSS px (a phone below 600 px: touch, mobile viewport)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def full_page_screenshot(driver, path: Path, width: int) -> None:
    """A screenshot of the whole page (up to 8000 px tall) at `width`."""
    height = driver.execute_script("return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)")
    set_width(driver, width, min(max(int(height), 600), 8000))
    time.sleep(0.3)  # Chart.js redraws resized canvases on its next frames
    driver.save_screenshot(str(path))
    set_width(driver, width)
    time.sleep(0.3)


def check_page(browser, name: str, folder: Path, width: int) -> int:
    """Every chart drew and fits, nothing overflows, key cells visible, console clean; screenshot. Returns charts."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 10)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert browser.find_element(By.TAG_NAME, "h1").text, name
    canvases = browser.find_elements(By.CSS_SELECTOR, "canvas[data-chart]")
    for canvas in canvases:
        wait.until(lambda d, c=canvas: not d.execute_script(CANVAS_IS_BLANK, c))
    # Checked before the screenshot: the screenshot resizes the viewport to the page's height.
    problems = browser.execute_script(LAYOUT_PROBLEMS)
    hidden = browser.execute_script(HIDDEN_KEY_CELLS)
    full_page_screenshot(browser, folder / f"{name}.png", width)
    assert console_errors(browser) == [], name
    assert problems == [], f"{name} at {width} px: {problems}"
    assert hidden == [], f"{name} at {width} px: key cells hidden: {hidden}"
    return len(canvases)


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


def visit_every_page(browser, folder: Path, width: int) -> tuple[int, int]:
    """Open each navigation link at `width` and check it (check_page); screenshots in `folder`.
    Returns (pages, charts)."""
    from selenium.webdriver.common.by import By

    set_width(browser, width)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    nav_links = [(a.get_attribute("textContent").strip(), a.get_attribute("href"))
                 for a in browser.find_elements(By.CSS_SELECTOR, "nav.mainnav a")]
    assert [label for label, _href in nav_links] == [label for _name, label in NAVIGATION]
    charts_seen = 0
    for index, (label, href) in enumerate(nav_links, start=1):
        browser.get(href)
        charts_seen += check_page(browser, f"{index:02d}-{label.lower().replace(' ', '-')}", folder, width)
    return len(nav_links), charts_seen


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_in_headless_chromium(browser, live_server, sync_dataset, superuser, width):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from django.db import connection

    with connection.cursor() as cursor:  # so the daily summary page has rows to show
        cursor.execute("SELECT refresh_daily_summary()")
    folder = SCREENSHOTS / str(width)
    folder.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(browser, 10)
    set_width(browser, width)
    log_in(browser, live_server, superuser, screenshot=folder / "00-login.png")
    pages, charts_seen = visit_every_page(browser, folder, width)
    # Overview (pie), performance, lead flow, segments, debug (webhooks).
    assert charts_seen == 5

    # "Log out" stays on one line, at any width.
    logout = browser.find_element(By.CSS_SELECTOR, ".topbar button.link")
    assert logout.size["height"] < 2 * float(logout.value_of_css_property("line-height").rstrip("px") or 20)

    # Performance over 7 days: 29 six-hour bars, the chart drawn and fitting.
    browser.get(live_server.url + reverse("monitoring:performance") + "?range=7d")
    assert check_page(browser, f"{pages + 1:02d}-performance-7d", folder, width) == 1
    assert len(browser.find_elements(By.CSS_SELECTOR, "#table-buckets tbody tr")) == 29

    # Lead detail, reached the way an operator does: from the Errors page.
    browser.get(live_server.url + reverse("monitoring:errors"))
    browser.find_element(By.LINK_TEXT, "Alan Turing").click()
    wait.until(lambda d: "Lead: Alan Turing" in d.find_element(By.TAG_NAME, "h1").text)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#table-rows tbody tr")) == 2
    check_page(browser, f"{pages + 2:02d}-lead-detail", folder, width)

    # The admin's lead list: key columns on screen at 1440 px; nothing pushes the page sideways.
    browser.get(live_server.url + reverse("admin:monitoring_lead_changelist"))
    wait.until(lambda d: d.find_elements(By.ID, "result_list"))
    problems = browser.execute_script(LAYOUT_PROBLEMS)
    full_page_screenshot(browser, folder / f"{pages + 3:02d}-admin-leads.png", width)
    assert problems == [], f"admin lead list at {width} px: {problems}"
    key = ["name", "status", "sync_error_count"] if width == PHONE else [
        "name", "status", "sync_error_count", "email", "direction", "lead_source", "segment", "last_synced", "updated"]
    assert browser.execute_script(ADMIN_KEY_COLUMNS_OFFSCREEN, key) == [], f"admin lead list at {width} px"
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
    assert "Twenty API 429: rate limit exceeded for lead 123" in refreshed[1].get_attribute("textContent")
    assert browser.execute_script(LAYOUT_PROBLEMS) == [], "activity after the refresh"
    assert browser.execute_script(HIDDEN_KEY_CELLS) == [], "activity after the refresh"
    pause = browser.find_element(By.ID, "pause")
    pause.click()
    assert pause.text == "Resume" and pause.get_attribute("aria-pressed") == "true"
    assert console_errors(browser) == []


def test_the_overflow_check_catches_a_wide_element(browser, live_server, sync_dataset, superuser):
    """The visual check can fail: a 600 px wide element on a 390 px phone is reported."""
    set_width(browser, PHONE)
    log_in(browser, live_server, superuser)
    browser.get(live_server.url + reverse("monitoring:overview"))
    browser.execute_script("const d = document.createElement('div'); d.id = 'too-wide'; d.textContent = 'x';"
                           "d.setAttribute('class', 'card'); document.querySelector('main').appendChild(d);"
                           "d.appendChild(document.createElement('canvas')).width = 600;")
    problems = browser.execute_script(LAYOUT_PROBLEMS)
    assert any(p.startswith("page: ") for p in problems) and any("div#too-wide" in p for p in problems)


def test_every_page_on_seed_demo_data(browser, live_server, viewer):
    """The pages as the ops team sees them: seed_demo's realistic mix (long emails, nine sources,
    error bursts) at a small size; screenshots in screenshots/seed_demo/."""
    from monitoring.services.demo_data import seed_demo

    seed_demo(leads=2_000, history=20_000, days=30, seed=42)
    log_in(browser, live_server, viewer)
    for width in WIDTHS:
        pages, charts_seen = visit_every_page(browser, SCREENSHOTS / "seed_demo" / str(width), width)
        assert pages == len(NAVIGATION) and charts_seen == 5


def test_repair_confirmation_counts_follow_the_quarantine_box(browser, live_server, sync_dataset, superuser):
    """Issue 13.6 in the browser: ticking the box shows the server's "with" numbers, and confirming
    changes exactly that many leads."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from monitoring.choices import LeadSyncStatus
    from monitoring.models import Lead

    for name in ("Q1", "Q2"):
        Lead.objects.create(first_name=name, sync_status=LeadSyncStatus.ERROR, sync_error_count=9)
    wait = WebDriverWait(browser, 10)
    set_width(browser, 1440)
    log_in(browser, live_server, superuser)
    browser.get(live_server.url + reverse("admin:monitoring_lead_changelist") + "?errors=quarantined")
    for box in browser.find_elements(By.CSS_SELECTOR, "#result_list input.action-select"):
        box.click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("retry_sync")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    wait.until(lambda d: d.find_elements(By.ID, "confirm-repair"))

    def visible_summary() -> str:
        return next(p.text for p in browser.find_elements(By.CSS_SELECTOR, "p.repair-summary") if p.is_displayed())

    button = browser.find_element(By.ID, "confirm-repair")
    assert "0 will be changed" in visible_summary() and button.get_attribute("value") == "Yes, retry sync 0 leads"
    assert "3 quarantined" in visible_summary() and "syncing" not in visible_summary()
    browser.find_element(By.NAME, "include_quarantined").click()
    assert "3 will be changed" in visible_summary() and "none skipped" in visible_summary()
    assert button.get_attribute("value") == "Yes, retry sync 3 leads"
    browser.find_element(By.NAME, "reason").send_keys("key rotated")
    button.click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "ul.messagelist li"))
    assert "Retry sync: 3 leads changed, 0 skipped, of 3 selected." in browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text
    assert Lead.objects.filter(sync_status=LeadSyncStatus.PENDING, sync_error_count__gt=5).count() == 3
    assert console_errors(browser) == []
