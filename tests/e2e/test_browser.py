"""A real browser's way in: headless Chromium from the hub's login page to JupyterLab.

What the HTTP-client tests cannot see: the "Sign in with GitHub" button, the fake GitHub's
page in between, the spawn-pending page filling with progress from its event stream, and
JupyterLab's JavaScript loading through the proxy. Screenshots of each step go to
tests/artifacts/ (gitignored), to be looked at when something looks wrong.

Debian's chromium and chromium-driver (tests/run installs them), driven by selenium
(tests/browser.py).
"""

from __future__ import annotations

import time

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from ..browser import chromium, screenshots
from .deployment import api
from .github import github_login

pytestmark = pytest.mark.e2e

USER = "bob"  # a member of the allowed organization, used by no other test
# the theme once its stylesheet has loaded, or the dialog JupyterLab shows instead
THEME_OR_DIALOG = (
    "const dialog = document.querySelector('.jp-Dialog');"
    "return document.body.dataset.jpThemeName || (dialog && 'dialog: ' + dialog.innerText)"
)
PROGRESS_EVENTS = (
    "return Array.from(document.querySelectorAll('#progress-log .progress-log-event'))"
    ".map(e => e.textContent.trim())"
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    yield from chromium(tmp_path_factory.mktemp("chromium-profile"))


@pytest.fixture
def screenshot(browser):
    return screenshots(browser, "browser")


def test_a_github_user_signs_in_watches_the_spawn_and_lands_in_jupyterlab(
    github_hub, browser, screenshot
):
    wait = WebDriverWait(browser, 30)
    browser.get(f"{github_hub.url}/hub/login")
    button = wait.until(seen.element_to_be_clickable((By.LINK_TEXT, "Sign in with GitHub")))
    screenshot("1-hub-login")

    button.click()
    login = wait.until(seen.visibility_of_element_located((By.ID, "login")))
    assert browser.current_url.startswith(f"{github_hub.github.url}/login/oauth/authorize?")
    assert browser.find_element(By.ID, "scopes").text == "read:org"
    login.send_keys(USER)
    screenshot("2-github-authorize")
    started = time.monotonic()
    browser.find_element(By.ID, "authorize").click()

    # back at the hub, logged in: it starts the server and shows the spawn-pending page
    wait.until(seen.url_contains(f"/hub/spawn-pending/{USER}"))
    events = watch_progress(browser, screenshot)
    print(f"progress events on the spawn-pending page: {events}")
    assert events and events[0] == "Server requested", events

    lab = WebDriverWait(browser, 120).until(
        seen.visibility_of_element_located((By.ID, "jp-main-dock-panel"))
    )
    # the launcher is JupyterLab's first content, and a theme shows its stylesheet loaded:
    # the page is not only a frame
    WebDriverWait(browser, 60).until(
        seen.visibility_of_element_located((By.CSS_SELECTOR, ".jp-Launcher"))
    )
    theme = WebDriverWait(browser, 60).until(lambda b: b.execute_script(THEME_OR_DIALOG))
    assert theme == "JupyterLab Light", f"{theme}; browser log: {browser_log(browser)}"
    print(f"JupyterLab loaded {time.monotonic() - started:.1f} s after Authorize")
    assert lab.is_displayed()
    assert f"{github_hub.url}/user/{USER}/lab" in browser.current_url
    screenshot("4-jupyterlab")

    session, response = github_login(github_hub, USER)  # to stop the server over the API
    assert response.status_code == 200, response.text[:500]
    assert api(session, github_hub.url, "DELETE", f"/users/{USER}/server").status_code in (
        202,
        204,
    )


def watch_progress(browser, screenshot, timeout: float = 120) -> list[str]:
    """The progress events shown until the page moves on to the server; screenshots of it.

    The page reloads itself when the server is ready, so the events are read while it lasts.
    """
    events: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "/hub/spawn-pending/" not in browser.current_url:
                return events
            shown = browser.execute_script(PROGRESS_EVENTS)
            if len(shown) > len(events):
                events = shown
                # the event log unfolded, so the screenshot (the latest one stays) has them all
                browser.execute_script("document.getElementById('progress-details').open = true")
                screenshot("3-spawn-pending")
        except WebDriverException:
            pass  # the page was reloading
        time.sleep(0.1)
    pytest.fail(f"still on the spawn-pending page after {timeout} s; events: {events}")


def browser_log(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser")]
