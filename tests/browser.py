"""Headless Chromium for the tests that need a real browser (Debian's chromium and
chromium-driver, which tests/run installs, driven by selenium); screenshots go to
tests/artifacts/ (gitignored), to be looked at when something looks wrong."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # root, in a VM without user namespaces for the sandbox
    "--disable-gpu",
    "--no-first-run",
    # test traffic goes to 127.0.0.1 only: no update checks, syncing, QUIC or proxies
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-proxy-server",
    "--window-size=1280,900",
]


def chromium(profile_dir: Path, home: Path | None = None) -> Iterator[webdriver.Chrome]:
    """A fresh headless Chromium with its own profile, quit afterwards (a fixture's body).
    ``home``: its HOME, whose ~/.pki/nssdb holds the certificate authorities it trusts."""
    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), f"{path} is missing; tests/run installs chromium"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console, failed loads
    service = Service(CHROMEDRIVER, env={"HOME": str(home)} if home else None)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def screenshots(driver: webdriver.Chrome, prefix: str) -> Callable[[str], Path]:
    """``save(name)`` keeps a screenshot as tests/artifacts/PREFIX-NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)

    def save(name: str) -> Path:
        path = ARTIFACTS / f"{prefix}-{name}.png"
        assert driver.save_screenshot(str(path)), f"no screenshot saved at {path}"
        return path

    return save
