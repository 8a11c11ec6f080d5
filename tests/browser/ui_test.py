#!/usr/bin/python3
"""The dashboard (/ui) in a real headless Chromium, driven by Selenium (Debian's chromium,
chromium-driver and python3-selenium, which scripts/test installs).

Each test starts its own jobd on an ephemeral 127.0.0.1 port (--port-file) and a browser with a
fresh profile, and always stops both (jobd by its PID, SIGKILL if SIGTERM is not enough; it
also dies with this process). ctest runs one test per entry (tests/CMakeLists.txt, label
`browser`):

    ui_test.py --jobd build/server/jobd --artifacts DIR [UiTest.test_name ...]

Exit 77 (ctest: skipped) only when Chromium, chromedriver or Selenium is missing, naming it.
Screenshots go to DIR (docs/ui-overview.png and docs/ui-job.png are copies of them).
"""
import argparse
import http.client
import json
import os
import sys
import tempfile
import time
import unittest

from harness import ARGS, ROOT, SKIP, BrowserCase, missing_tools

TOKEN = "browser-test-token-0123456789abcdef"


class UiTest(BrowserCase):
    jobd_args = ["--test-kinds", "--workers", "2", "--threads", "2", "--config",
                 os.path.join(ROOT, "docker", "commands.json")]

    def test_every_view_loads_without_console_errors_or_csp_violations(self):
        job = self.jobd.submit("primes", {"n": 10000})
        self.wait_for_job(job, {"succeeded"})
        self.open_ui()
        self.wait(lambda: self.count("succeeded") == 1, message="the overview's counters")
        self.wait(lambda: len(self.all(".chart canvas")) >= 3, message="three charts")
        for fragment, ready in (("#/jobs", f'tr[data-id="{job}"]'), ("#/submit", "#submit-kind option"),
                                (f"#/job/{job}", "#job-result"), ("#/", '[data-count="queued"]')):
            self.driver.get(self.jobd.url(fragment))
            self.wait(lambda: self.all(ready), message=ready)
        # A reload revalidates every file (ETag, 304) and must still run cleanly.
        self.driver.refresh()
        self.wait(lambda: self.count("succeeded") == 1, message="counters after a reload")
        self.assert_clean_console()

    def test_counters_and_the_jobs_list_follow_submitted_jobs(self):
        self.open_ui()
        self.wait(lambda: self.count("succeeded") == 0, message="the counters")
        for _ in range(5):
            self.jobd.submit("echo", {"i": 1})
        self.wait(lambda: self.count("succeeded") == 5 and self.count("submitted") == 5,
                  message="5 succeeded and 5 submitted on the overview")

        self.driver.get(self.jobd.url("#/jobs"))
        self.wait(lambda: len(self.all("#jobs-table tbody tr[data-id]")) == 5, message="the 5 jobs listed")
        # Live: a job submitted now appears on top, and its row follows its state.
        job = self.jobd.submit("sleep", {"ms": 1500})
        self.wait(lambda: self.css("#jobs-table tbody tr").get_attribute("data-id") == job,
                  message="the new job on top of the list")
        row = f'tr[data-id="{job}"] .badge'
        self.wait(lambda: self.text(row) == "running", message="its row shows running")
        self.wait(lambda: self.text(row) == "succeeded", message="its row shows succeeded")
        # The filters ask the API: only the sleep job is listed for kind=sleep.
        self.driver.get(self.jobd.url("#/jobs?kind=sleep"))
        self.wait(lambda: [r.get_attribute("data-id") for r in self.all("#jobs-table tbody tr[data-id]")] == [job],
                  message="kind=sleep lists only the sleep job")
        self.assert_clean_console()

    def test_the_overview_shows_executors_workers_subprocesses_and_charts(self):
        self.open_ui()
        self.wait(lambda: len(self.all("#executors tbody tr")) == 4, message="the four executors")
        # A few seconds of mixed work: CPU jobs on the thread pool and the workers, loop jobs,
        # failures, one worker crash (a restart by cause) and a subprocess that stays running.
        self.jobd.submit("crash", {})
        sleeper = self.jobd.submit("sleep-cmd", {"seconds": 60})
        self.wait_for_job(sleeper, {"running"})
        start = time.monotonic()
        while time.monotonic() - start < 12:
            for i in range(12):
                self.jobd.submit("primes", {"n": 200000 + i}, executor="process" if i % 2 else "thread")
                self.jobd.submit("echo", {"i": i})
            self.jobd.submit("sleep", {"ms": 300})
            self.jobd.submit("fail", {"message": "on purpose"})
            time.sleep(0.3)
        self.jobd.submit("sleep", {"ms": 30000})
        self.wait(lambda: self.count("running") >= 2, message="running jobs counted")
        self.wait(lambda: "crash 1" in self.text("#view"), message="the crash restart counted")
        self.wait(lambda: len(self.all("#workers tbody td.num")) >= 2, message="worker pids from events")
        self.wait(lambda: self.all(f'#subprocesses a[href="#/job/{sleeper}"]'), message="the running subprocess")
        self.assertGreater(self.count("failed"), 0)
        self.assertIn("thread", self.text("#executors"))
        self.screenshot("ui-overview.png")
        self.assert_clean_console()

    def test_paging_follows_the_api_cursors(self):
        for i in range(60):
            self.jobd.submit("echo", {"i": i})
        self.open_ui("#/jobs")
        self.wait(lambda: len(self.all("#jobs-table tbody tr[data-id]")) == 50, message="a first page of 50")
        first = {r.get_attribute("data-id") for r in self.all("#jobs-table tbody tr[data-id]")}
        self.css("#jobs-older").click()
        self.wait(lambda: "cursor=" in self.driver.current_url, message="the older page's address")
        self.wait(lambda: len(self.all("#jobs-table tbody tr[data-id]")) == 10, message="the last 10 jobs")
        second = {r.get_attribute("data-id") for r in self.all("#jobs-table tbody tr[data-id]")}
        self.assertFalse(first & second, "a job on both pages")
        self.assert_clean_console()

    def test_the_submit_form_creates_a_job_and_shows_the_servers_field_error(self):
        from selenium.webdriver.support.ui import Select
        self.open_ui("#/submit")
        self.wait(lambda: self.all('#submit-kind option[value="primes"]'), message="the kinds")
        Select(self.css("#submit-kind")).select_by_value("primes")
        self.wait(lambda: self.all("#param-n"), message="the n field of primes")
        self.css("#param-n").send_keys("2000000000")
        self.css("#submit-job").click()
        error = '.field[data-pointer="/params/n"] .field-error'
        self.wait(lambda: self.all(error) and self.css(error).is_displayed(), message="the error on n")
        self.assertIn("1000000000", self.css(error).text)
        self.assertIn("invalid", self.css('.field[data-pointer="/params/n"]').get_attribute("class"))
        self.assertEqual(self.jobd.request("GET", "/v1/jobs")[1]["jobs"], [], "a refused spec created a job")

        self.css("#param-n").clear()
        self.css("#param-n").send_keys("1000")
        self.css("#submit-job").click()
        self.wait(lambda: "#/job/" in self.driver.current_url, message="the new job's page")
        self.wait(lambda: self.text("#job-state") == "succeeded", message="the job succeeded")
        self.assertIn('"count": 168', self.text("#job-result"))
        # The server's 400 is in the console as a failed load; nothing else may be.
        self.assert_clean_console(allowed=["/v1/jobs - Failed to load resource: the server responded with a status of 400"])

    def test_the_cancel_button_cancels_a_running_job(self):
        job = self.jobd.submit("sleep", {"ms": 20000})
        self.open_ui(f"#/job/{job}")
        self.wait(lambda: self.text("#job-state") == "running", message="the job running")
        # sleep reports progress every 2 s: the bar moves live.
        self.wait(lambda: float(self.css("#job-progress").get_attribute("value")) >= 0.1, timeout=10,
                  message="progress on the bar")
        self.screenshot("ui-job.png")
        self.css("#cancel-job").click()
        self.wait(lambda: self.text("#job-state") == "cancelled", message="the page shows cancelled")
        self.assertEqual(self.wait_for_job(job, {"cancelled"})["error"]["type"], "cancelled")
        self.assertFalse(self.css("#cancel-job").is_enabled())
        self.assert_clean_console()

    def test_a_subprocess_jobs_output_lines_are_shown(self):
        lines = "".join(f"line {i:03d}\n" for i in range(100, 0, -1))
        job = self.jobd.submit("sort", {"input": lines})
        self.wait_for_job(job, {"succeeded"})
        self.open_ui(f"#/job/{job}")
        self.wait(lambda: "line 100" in self.text("#job-output"), message="the output lines")
        shown = self.text("#job-output").splitlines()
        self.assertEqual(shown[:2], ["line 001", "line 002"])
        self.assertEqual(len(shown), 100)
        self.assert_clean_console()

    def test_stays_responsive_and_bounded_at_a_thousand_events_a_second(self):
        self.open_ui("#/jobs")
        self.wait(lambda: self.all("#jobs-table tbody tr"), message="the jobs table")
        # Frame gaps measured in the page while jobd publishes ~1,000 state events a second
        # (an echo job is 3 events: queued, running, succeeded).
        self.driver.execute_script(
            "window.__gaps = []; let last = performance.now();"
            "const tick = (now) => { window.__gaps.push(now - last); last = now; requestAnimationFrame(tick); };"
            "requestAnimationFrame(tick);")
        connection = http.client.HTTPConnection("127.0.0.1", self.jobd.port, timeout=30)
        body = json.dumps({"kind": "echo", "params": {}})
        sent = 0
        start = time.monotonic()
        while time.monotonic() - start < 6:
            connection.request("POST", "/v1/jobs", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            self.assertEqual(response.status, 202)
            sent += 1
            ahead = sent / 340 - (time.monotonic() - start)  # ~340 jobs/s = ~1,000 events/s
            if ahead > 0:
                time.sleep(ahead)
        connection.close()
        rate = 3 * sent / (time.monotonic() - start)
        self.wait(lambda: self.driver.execute_script(
            "return document.querySelectorAll('#jobs-table tbody tr[data-id]').length") == 200,
                  message="the list capped at 200 rows")
        gaps = sorted(self.driver.execute_script("return window.__gaps"))
        p95 = gaps[int(len(gaps) * 0.95)]
        print(f"{sent} jobs, {rate:.0f} events/s; frames {len(gaps)}, p95 gap {p95:.0f} ms, "
              f"longest {gaps[-1]:.0f} ms", file=sys.stderr)
        self.assertGreater(rate, 700, "the generator fell short of the rate")
        # Responsive: frames kept coming (a frame per event would starve the page).
        self.assertLess(p95, 250, "frames stalled under the event rate")
        # Every event reached the page (the status line counts them once a second).
        received = "return Number(document.getElementById('stream-status').title.split(' ')[0])"
        self.wait(lambda: self.driver.execute_script(received) >= 3 * sent, timeout=10,
                  message=f"the page to count {3 * sent} events")
        self.assert_clean_console()


class TokenTest(BrowserCase):
    def setUp(self):
        self.token_file = tempfile.NamedTemporaryFile("w", prefix="jobd-ui-tokens-", delete=False)
        self.token_file.write(f"# browser test\n{TOKEN}\n")
        self.token_file.close()
        self.addCleanup(os.remove, self.token_file.name)
        self.jobd_args = ["--token-file", self.token_file.name]
        super().setUp()

    def test_the_token_prompt_asks_once_and_keeps_the_token_for_the_session(self):
        self.assertEqual(self.jobd.request("GET", "/v1/kinds")[0], 401)
        self.assertEqual(self.jobd.request("GET", "/ui")[0], 200, "the page itself needs no token")
        self.driver.get(self.jobd.url())
        self.wait(lambda: self.css("#token-dialog").is_displayed(), message="the token dialog")
        self.css("#token-input").send_keys("not-the-token-at-all-0000")
        self.css("#token-submit").click()
        self.wait(lambda: self.css("#token-dialog").is_displayed() and self.css("#token-error").is_displayed(),
                  message="the dialog again, saying the token was refused")
        self.css("#token-input").send_keys(TOKEN)
        self.css("#token-submit").click()
        self.wait(lambda: not self.css("#token-dialog").is_displayed(), message="the dialog closed")
        self.wait(lambda: "live" in self.text("#stream-status"), message="the event stream with the token")
        self.jobd.submit("echo", {}, token=TOKEN)
        self.wait(lambda: self.count("succeeded") == 1, message="counters read with the token")
        self.assertEqual(self.driver.execute_script("return sessionStorage.getItem('jobd.token')"), TOKEN)
        self.assertNotIn(TOKEN, self.driver.current_url)
        # Another view and a reload: no second prompt.
        self.driver.get(self.jobd.url("#/jobs"))
        self.wait(lambda: self.all("#jobs-table tbody tr[data-id]"), message="jobs listed with the token")
        self.assertFalse(self.css("#token-dialog").is_displayed())
        self.assertNotIn(TOKEN, self.jobd.log(), "the token reached jobd's log")
        self.assert_clean_console(allowed=["the server responded with a status of 401"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobd", required=True)
    parser.add_argument("--artifacts")
    args, rest = parser.parse_known_args()
    ARGS.jobd, ARGS.artifacts = args.jobd, args.artifacts
    missing = missing_tools()
    if missing:
        print("SKIPPED: the browser tests need " + ", ".join(missing), file=sys.stderr)
        return SKIP
    program = unittest.main(argv=[sys.argv[0], *rest], exit=False, verbosity=2)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
