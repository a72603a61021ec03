"""The hub's pages in a real headless browser (Debian's chromium driven by selenium).

Skips when chromium or chromedriver is missing, except under BERTHUB_REQUIRE_BROWSER=1 (CI), where
a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser(tmp_path):
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        reason = f"{', '.join(missing)} not installed (apt-get install chromium chromium-driver)"
        if os.environ.get("BERTHUB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"BERTHUB_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--window-size=1280,1000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    # An explicit driver path: selenium-manager never runs, nothing is downloaded.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.implicitly_wait(5)
    driver.downloads = downloads
    yield driver
    driver.quit()


def _wait_for_download(folder: Path, name: str, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    target = folder / name
    while time.monotonic() < deadline:
        if target.exists() and not any(p.suffix == ".crdownload" for p in folder.iterdir()):
            return target
        time.sleep(0.1)
    raise AssertionError(f"{name} was not downloaded; folder holds {[p.name for p in folder.iterdir()]}")


def test_list_shows_the_model_its_page_renders_the_card_and_download_gives_the_right_bytes(
        browser, hub_server, hub_minilm, minilm_dir, tmp_path):
    from selenium.webdriver.common.by import By

    repo_id, _ = hub_minilm
    browser.get(hub_server.endpoint + "/")
    link = browser.find_element(By.LINK_TEXT, repo_id)
    assert link.is_displayed()
    browser.save_screenshot(str(tmp_path / "list.png"))

    link.click()
    card_title = browser.find_element(By.CSS_SELECTOR, "#model-card h1")
    assert card_title.text == "all-MiniLM-L6-v2"
    assert "384" in browser.find_element(By.ID, "config").text
    browser.save_screenshot(str(tmp_path / "model.png"))

    browser.find_element(By.CSS_SELECTOR, 'a.download[data-path="vocab.txt"]').click()
    downloaded = _wait_for_download(browser.downloads, "vocab.txt")
    assert downloaded.read_bytes() == (minilm_dir / "vocab.txt").read_bytes()
    keep = os.environ.get("BERTHUB_SCREENSHOTS")
    if keep:  # for people judging how the pages look
        for shot in ("list.png", "model.png"):
            shutil.copy(tmp_path / shot, Path(keep) / shot)
