"""The catalog in a real browser: headless Chromium (Debian's chromium + chromium-driver, installed
by .ci/run) driven by selenium opens the site from the file system, searches, follows lineage
links, loads every page without a console error, and saves screenshots in the test's folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.catalog.test_catalog import generate_big_project
from tests.pty_cli import run_pty

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1100",
)


@pytest.fixture
def browser(tmp_path):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver_path, "install Debian's chromium and chromium-driver (see .ci/run)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def _console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _open(driver, page: Path) -> None:
    driver.get(page.as_uri())
    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _search(driver, text: str) -> list:
    box = driver.find_element(By.ID, "search")
    box.clear()
    box.send_keys(text)
    WebDriverWait(driver, 30).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#results.open")))
    return driver.find_elements(By.CSS_SELECTOR, "#results a.result")


def test_example_catalog_in_chromium(example_project, browser, tmp_path):
    assert run_pty(example_project, "test").code == 0
    run = run_pty(example_project, "docs", "generate", "--stats")
    assert run.code == 0, run.output
    site = example_project / "target" / "catalog"
    _open(browser, site / "index.html")
    assert browser.title == "demo catalog"
    # search by tag: only the customers view carries team=customers
    hits = _search(browser, "team=customers")
    assert [h.find_element(By.TAG_NAME, "strong").text for h in hits] == ["customer_profile"]
    # by description, then open the first hit with Enter
    hits = _search(browser, "hourly driver")
    assert hits[0].find_element(By.TAG_NAME, "strong").text == "driver_hourly_stats"
    browser.find_element(By.ID, "search").send_keys(Keys.ENTER)
    WebDriverWait(browser, 30).until(ec.title_is("feature view driver_hourly_stats"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "driver_hourly_stats"
    images = browser.find_elements(By.CSS_SELECTOR, "table.features img")
    assert len(images) == 3 and all(browser.execute_script("return arguments[0].naturalWidth", i) > 0 for i in images)
    browser.save_screenshot(str(tmp_path / "feature_view.png"))
    # follow a lineage link upstream to the model, then on to its source
    browser.find_element(By.CSS_SELECTOR, 'svg.lineage a[data-id="model:driver_stats_clean"]').click()
    WebDriverWait(browser, 30).until(ec.title_is("model driver_stats_clean"))
    browser.find_element(By.CSS_SELECTOR, 'svg.lineage a[data-id="source:raw.driver_stats"]').click()
    WebDriverWait(browser, 30).until(ec.title_is("source raw.driver_stats"))
    assert "read_parquet('data/driver_stats.parquet')" in browser.page_source
    # every page loads without a console error (a missing script, image or stylesheet is one)
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 11  # the example project's objects, driver_trip_windows included
    browser.get_log("browser")  # drop what came before
    for page in pages:
        _open(browser, page)
        assert browser.find_element(By.TAG_NAME, "h1").text
        assert _console_errors(browser) == [], page
    _open(browser, site / "index.html")
    browser.save_screenshot(str(tmp_path / "index.png"))
    assert (tmp_path / "index.png").stat().st_size > 10_000
    # the check sees a broken page: a histogram image gone is a console error
    (site / "img" / "customer_profile" / "current_balance.svg").unlink()
    _open(browser, site / "feature_view" / "customer_profile.html")
    assert any("current_balance.svg" in e for e in _console_errors(browser))


def test_200_view_catalog_in_chromium(tmp_path, browser):
    project = generate_big_project(tmp_path / "big")
    assert run_pty(project, "docs", "generate").code == 0
    site = project / "target" / "catalog"
    _open(browser, site / "index.html")
    assert _console_errors(browser) == []
    nodes = browser.find_elements(By.CSS_SELECTOR, "svg.lineage a.node.feature_view")
    assert len(nodes) == 200
    # labels stay legible: the drawn font is the stylesheet's 12px at any project size
    size = browser.execute_script("return getComputedStyle(arguments[0].querySelector('text')).fontSize", nodes[0])
    assert size == "12px"
    browser.save_screenshot(str(tmp_path / "index_200.png"))
    hits = _search(browser, "fv_0150")
    assert hits[0].find_element(By.TAG_NAME, "strong").text == "fv_0150"
    hits[0].click()
    WebDriverWait(browser, 30).until(ec.title_is("feature view fv_0150"))
    assert _console_errors(browser) == []
    upstream = browser.find_elements(By.CSS_SELECTOR, "svg.lineage a.node.source")
    assert len(upstream) == 1
    upstream[0].click()
    WebDriverWait(browser, 30).until(lambda d: d.title.startswith("source raw."))
    assert _console_errors(browser) == []
    browser.save_screenshot(str(tmp_path / "source_200.png"))
