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


def test_a_member_signs_in_sees_and_downloads_a_private_model_manages_tokens_and_asks_for_gated_access(
        browser, hub_server, tmp_path):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    from berthub.server.accounts.store import Accounts
    from berthub.server.db.engine import Database, default_url

    database = Database.open(default_url(hub_server.root))
    accounts = Accounts(database)
    accounts.add_user("br-alice", "alice's password")
    accounts.add_user("br-bob", "bob's password")
    accounts.add_org("br-team", admin="br-alice")
    database.close()
    admin = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    for repo_id, private in (("br-team/private-bert", True), ("br-team/gated-bert", False)):
        admin.create_repo(repo_id, private=private)
        admin.upload_file(path_or_fileobj=b'{"hidden_size": 8}', path_in_repo="config.json", repo_id=repo_id)
    admin.update_repo_settings("br-team/gated-bert", gated="auto")

    def sign_in(name: str, password: str) -> None:
        browser.get(hub_server.endpoint + "/")
        browser.find_element(By.ID, "sign-in").click()
        browser.find_element(By.ID, "name").send_keys(name)
        browser.find_element(By.ID, "password").send_keys(password)
        browser.find_element(By.ID, "sign-in-button").click()
        assert browser.find_element(By.ID, "viewer").text == name

    def absent(how: str, what: str) -> bool:  # without the implicit 5 s wait for elements to appear
        browser.implicitly_wait(0)
        try:
            return not browser.find_elements(how, what)
        finally:
            browser.implicitly_wait(5)

    browser.get(hub_server.endpoint + "/")
    assert absent(By.LINK_TEXT, "br-team/private-bert")
    sign_in("br-alice", "alice's password")
    browser.find_element(By.LINK_TEXT, "br-team/private-bert").click()
    browser.find_element(By.CSS_SELECTOR, 'a.download[data-path="config.json"]').click()
    assert _wait_for_download(browser.downloads, "config.json").read_bytes() == b'{"hidden_size": 8}'

    browser.get(hub_server.endpoint + "/settings/tokens")
    browser.find_element(By.ID, "token-name").send_keys("from-the-browser")
    browser.find_element(By.ID, "create-token").click()
    token = browser.find_element(By.ID, "new-token").text
    assert HfApi(endpoint=hub_server.endpoint, token=token).whoami()["name"] == "br-alice"
    revoke = browser.find_element(By.CSS_SELECTOR, 'tr[data-token="from-the-browser"] button.revoke')
    revoke.click()
    WebDriverWait(browser, 10).until(expected_conditions.staleness_of(revoke))  # the page after the revoke
    assert absent(By.CSS_SELECTOR, 'tr[data-token="from-the-browser"]')
    with pytest.raises(HfHubHTTPError):
        HfApi(endpoint=hub_server.endpoint, token=token).whoami()

    browser.find_element(By.ID, "sign-out").click()
    sign_in("br-bob", "bob's password")
    browser.get(hub_server.endpoint + "/br-team/gated-bert")
    browser.find_element(By.ID, "ask-access").click()
    assert "You have access" in browser.find_element(By.ID, "access-status").text
    browser.get(hub_server.endpoint + "/br-team")
    assert "br-alice" in browser.find_element(By.ID, "members").text
    browser.save_screenshot(str(tmp_path / "org.png"))
