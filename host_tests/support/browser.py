"""Host helper: a headless Chromium in a phone-sized window, driven by selenium. HOST ONLY.

The browser is Debian's `chromium` and `chromium-driver` (/usr/bin/chromium,
/usr/bin/chromedriver; `make browser` installs them, .ci/run does it on a fresh machine).
CHROMIUM / CHROMEDRIVER override the paths (another distribution). Selenium is always given
the driver's path: Selenium Manager would otherwise try to download a driver, and the tests
run without a network. A missing browser is a FAILURE with the line saying how to install
it, never a skip: a CI run without it must not pass quietly.
"""
import os
import shutil
import tempfile

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL = ("the browser test needs Debian's chromium and chromium-driver (%s, %s): run `make browser` "
           "(sudo apt-get install -y chromium chromium-driver)" % (CHROMIUM, CHROMEDRIVER))

# An iPhone 12-15 sized viewport in CSS pixels; the screenshots are taken at this width (device
# pixel ratio 2, as phones render: text in the PNGs as sharp as a phone shows it).
PHONE = {"width": 390, "height": 844, "pixelRatio": 2}
PHONE_UA = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/150.0 Mobile Safari/537.36")

# What works here (no network, root): no sandbox (root), no GPU, none of the background
# fetches a fresh profile starts (updates, sync, QUIC probes), /tmp instead of a small /dev/shm.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")


def require():
    """Fail (not skip) with the install line when the browser or selenium is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail("%s missing: %s" % (", ".join(missing), INSTALL), pytrace=False)
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.fail("selenium is not installed: run `make setup` (requirements.txt pins it)", pytrace=False)


class Browser:
    """One Chromium with its own fresh profile; .driver is the selenium WebDriver."""

    def __init__(self):
        require()
        os.environ["SE_OFFLINE"] = "true"  # belt and braces: Selenium Manager never downloads
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="picoclaw-chromium-")
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for f in FLAGS:
            opts.add_argument(f)
        opts.add_argument("--user-data-dir=" + self.profile)
        opts.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE, "userAgent": PHONE_UA})
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
        self.driver.set_page_load_timeout(60)

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def screenshot(self, path, bottom=False):
        """The screen as the phone shows it, scrolled to the top (or the bottom: the end of a
        filled-in form, its button), no field focused: a PNG at `path`."""
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.driver.execute_script("if (document.activeElement) document.activeElement.blur();"
                                   "window.scrollTo(0, arguments[0] ? document.body.scrollHeight : 0)", bottom)
        self.driver.save_screenshot(path)
        return path
