"""The browser tests' harness (tests/browser/ui_test.py): a jobd child on an ephemeral port, a
headless Chromium with a fresh profile, and the test case base that owns one of each.

jobd is always stopped by its PID (SIGTERM, then SIGKILL), and dies with the test process too
(PR_SET_PDEATHSIG); Chromium is quit and its profile removed.
"""
import argparse
import ctypes
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

SKIP = 77
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# This machine's network is closed: every background connection Chromium would open is refused
# or hangs, so they are all switched off.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1440,1100", "--lang=en-US",
]
ARGS = argparse.Namespace(jobd=None, artifacts=None)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def missing_tools():
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if not os.access(CHROMEDRIVER, os.X_OK):
        missing.append(f"{CHROMEDRIVER} (apt-get install -y chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium module (apt-get install -y python3-selenium)")
    return missing


def die_with_parent():
    # PR_SET_PDEATHSIG: jobd is killed if this test dies without its cleanup.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


class Jobd:
    """A jobd child on an ephemeral port; stop() always ends it by PID."""

    def __init__(self, *args):
        self.dir = tempfile.mkdtemp(prefix="jobd-ui-test-")
        port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "jobd.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [ARGS.jobd, "--listen", "127.0.0.1:0", "--port-file", port_file,
                 "--store", "sqlite:" + os.path.join(self.dir, "jobd.db"), *args],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 15
        self.port = 0
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(port_file) as f:
                    self.port = int(f.read().strip() or 0)
            except (OSError, ValueError):
                pass
            if self.port and self.request("GET", "/readyz")[0] == 200:
                return
            time.sleep(0.05)
        log = self.log()
        self.stop()
        raise RuntimeError(f"jobd did not become ready:\n{log}")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, token=None):
        """(status, parsed JSON or text) on a fresh connection; (0, None) when jobd is not there."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
        except OSError:
            return 0, None
        finally:
            connection.close()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text

    def submit(self, kind, params=None, token=None, **spec):
        status, body = self.request("POST", "/v1/jobs", {"kind": kind, "params": params or {}, **spec}, token)
        assert status == 202, (status, body)
        return body["id"]

    def url(self, fragment=""):
        return f"http://127.0.0.1:{self.port}/ui{fragment}"


class Browser:
    """Headless Chromium with a fresh profile; records CSP violations from the first script on."""

    def __init__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="jobd-ui-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        # Injected by DevTools before any page script (and not subject to the page's CSP).
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
            "window.__csp = [];"
            "document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' blocked ' + e.blockedURI));")})
        self.log = []

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def read_log(self):
        """Console entries since the last call (kept in self.log too)."""
        entries = self.driver.get_log("browser")
        self.log.extend(entries)
        return entries

    def csp_violations(self):
        return self.driver.execute_script("return window.__csp || []")


class BrowserCase(unittest.TestCase):
    """One jobd (jobd_args) and one browser per test, with the helpers the tests share."""

    jobd_args = []

    def setUp(self):
        self.jobd = Jobd(*self.jobd_args)
        self.addCleanup(self.jobd.stop)
        self.browser = Browser()
        self.addCleanup(self.browser.quit)
        self.driver = self.browser.driver

    # --- helpers ---------------------------------------------------------------------------

    def wait(self, predicate, timeout=20, message="condition"):
        from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait
        try:
            # The page re-renders while it is polled: an element found a moment ago may be gone
            # when it is read. That is "not yet", and the predicate is asked again.
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(
                                     lambda d: predicate(), message)
        except TimeoutException:
            # What the page showed and said, for whoever reads the failure.
            self.screenshot(f"failed-{self._testMethodName}.png")
            for entry in self.browser.read_log():
                print(f"console {entry['level']}: {entry['message']}", file=sys.stderr)
            raise

    def css(self, selector):
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector):
        from selenium.webdriver.common.by import By
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text(self, selector):
        found = self.all(selector)
        return found[0].text if found else ""

    def count(self, key):
        digits = "".join(c for c in self.text(f'[data-count="{key}"]') if c.isdigit())
        return int(digits) if digits else -1

    def open_ui(self, fragment=""):
        self.driver.get(self.jobd.url(fragment))
        self.wait(lambda: "live" in self.text("#stream-status"), message="the event stream to be live")

    def assert_clean_console(self, allowed=()):
        """No console error (but the HTTP statuses a test provoked) and no CSP violation."""
        violations = self.browser.csp_violations()
        self.assertEqual(violations, [], "CSP violations")
        errors = [e for e in self.browser.read_log() if e["level"] == "SEVERE"]
        errors = [e for e in errors if not any(a in e["message"] for a in allowed)]
        csp = [e for e in self.browser.log if "Content Security Policy" in e["message"]]
        self.assertEqual(csp, [], "CSP messages in the console")
        self.assertEqual(errors, [], "console errors")

    def screenshot(self, name):
        if ARGS.artifacts:
            os.makedirs(ARGS.artifacts, exist_ok=True)
            self.driver.save_screenshot(os.path.join(ARGS.artifacts, name))

    def wait_for_job(self, job_id, states, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.jobd.request("GET", f"/v1/jobs/{job_id}")
            if status == 200 and body["state"] in states:
                return body
            time.sleep(0.05)
        self.fail(f"job {job_id} never reached {states}")
