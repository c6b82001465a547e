"""The dashboard in a real browser: headless Chromium driven by Selenium against a real docketd.

The issue's walk-through, in order: the overview lists the queues with their counts; a queue's
page pages through 1,000 waiting jobs (Next/Previous, 100 a page); pause and resume from the
page; a queue setting edited and applied; a job's page (payload shown as text, never as markup);
a dead job retried from its page and seen completing in the live view while a worker takes it;
completed jobs purged after a confirmation; API errors shown; a read-only viewer sees no buttons.

Needs chromium, chromedriver (Debian: `apt-get install chromium chromium-driver`) and selenium
(pip). Without them the module is skipped, unless DOCKET_REQUIRE_BROWSER=1 (then it fails).
DOCKETD names the server binary (default .build/debug/docketd). Screenshots (overview, queue,
job, live) go to DASHBOARD_ARTIFACTS (default: a temporary directory), and with
DASHBOARD_SCREENSHOTS_TO_DOCS=1 also to docs/dashboard-<page>.png (1280x800) for the README.
"""

import json
import os
import pathlib
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Clients" / "python" / "src"))

DOCKETD = os.environ.get("DOCKETD") or str(ROOT / ".build" / "debug" / "docketd")
REQUIRE = os.environ.get("DOCKET_REQUIRE_BROWSER") == "1"
WIDTH, HEIGHT = 1280, 800


def _missing():
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium Python package (pip install selenium)")
    if not _chromium():
        missing.append("chromium (apt-get install chromium)")
    if not shutil.which("chromedriver"):
        missing.append("chromedriver (apt-get install chromium-driver)")
    if not os.access(DOCKETD, os.X_OK):
        missing.append(f"a docketd binary at {DOCKETD} (set DOCKETD, or swift build)")
    return missing


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if path := shutil.which(name):
            return path
    return None


if _missing_now := _missing():
    reason = "dashboard browser tests need " + "; ".join(_missing_now)
    if REQUIRE:
        pytest.fail(reason + " (DOCKET_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from docketd_client import Client  # noqa: E402

ARTIFACTS = pathlib.Path(os.environ.get("DASHBOARD_ARTIFACTS") or tempfile.mkdtemp(prefix="docket-dashboard-"))
TO_DOCS = os.environ.get("DASHBOARD_SCREENSHOTS_TO_DOCS") == "1"


# ---------------------------------------------------------------------------- the server


class Docketd:
    """A docketd on free loopback ports (protocol and HTTP) with a temporary data directory."""

    def __init__(self, *flags):
        self.dir = tempfile.TemporaryDirectory(prefix="docket-dashboard-data-")
        self.proc = subprocess.Popen(
            [DOCKETD, "--port", "0", "--http-port", "0", "--data-dir", self.dir.name + "/data", *flags],
            stderr=subprocess.PIPE, text=True)
        self.log = []
        self.port = self.http = None
        deadline = time.time() + 15
        for line in self.proc.stderr:
            self.log.append(line)
            if m := re.search(r"client connections on [0-9.]+:(\d+)", line):
                self.port = int(m.group(1))
            if m := re.search(r"monitoring connections on http://[0-9.]+:(\d+)", line):
                self.http = int(m.group(1))
            if "Server is ready" in line or time.time() > deadline:
                break
        threading.Thread(target=lambda: [self.log.append(l) for l in self.proc.stderr], daemon=True).start()
        assert self.port and self.http, "docketd did not start:\n" + "".join(self.log)
        self.url = f"http://127.0.0.1:{self.http}"

    def client(self, name="dashboard-test"):
        return Client(f"nats://127.0.0.1:{self.port}", name=name)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.dir.cleanup()


def enqueue_many(port, queue, payloads):
    """ENQs pipelined on one raw connection (a thousand round trips would be slower); ids in order."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    reader = sock.makefile("rb")
    reader.readline()  # INFO
    sock.sendall(b'CONNECT {"verbose":false}\r\n')
    sock.sendall(b"".join(f"ENQ {queue} {len(p)}\r\n".encode() + p + b"\r\n" for p in payloads))
    ids = []
    for _ in payloads:
        line = reader.readline().decode().strip()
        assert line.startswith("+OK "), line
        ids.append(int(line.split()[1]))
    sock.close()
    return ids


# ---------------------------------------------------------------------------- fixtures


class World:
    """What the module's tests share: the server, a client, the browser, and the jobs made."""


@pytest.fixture(scope="module")
def world():
    w = World()
    w.server = Docketd()
    w.client = w.server.client()
    w.stop = threading.Event()
    w.threads = []
    w.driver = None
    try:
        w.driver = _browser()
        # The server remembers job events while a dashboard looks at it: open it before the jobs come.
        _first_visit(w, "/#/")
        one(w.driver, "#queues")
        _populate(w)
        yield w
    finally:
        w.stop.set()
        for thread in w.threads:
            thread.join(5)
        if w.driver:
            w.driver.quit()
        w.client.close()
        w.server.stop()


def _first_visit(w, path):
    """Opens the page. Once, in CI, Chromium's first visit was refused while nothing said why: if
    that happens, docketd itself is asked (its /healthz, its exit status, its log), and the visit
    is tried again only if docketd answers, so a server that is down still fails the run."""
    try:
        w.driver.get(w.server.url + path)
        return
    except WebDriverException as refused:
        status = w.server.proc.poll()
        try:
            with urllib.request.urlopen(w.server.url + "/healthz", timeout=5) as reply:
                answer = reply.status
        except Exception as why:  # noqa: BLE001 (any failure is the report)
            answer = why
        if status is not None or answer != 200:
            raise AssertionError(
                f"docketd (exit status {status}) did not answer {w.server.url}/healthz: {answer}\n"
                + "".join(w.server.log[-40:])) from refused
        print(f"Chromium was refused {w.server.url}{path} while docketd answers /healthz; visiting again", file=sys.stderr)
    time.sleep(0.5)
    w.driver.get(w.server.url + path)


def _populate(w):
    c = w.client
    # 1,000 waiting jobs to page through: ids 1..1000 in the order they will run.
    w.email_ids = enqueue_many(w.server.port, "emails", [json.dumps({"to": f"user{i}@example.com"}).encode() for i in range(1000)])
    assert w.email_ids == list(range(1, 1001))
    # reports: three completed, one delayed, and a dead one whose payload and error are markup.
    for n in range(3):
        c.enqueue("reports", json.dumps({"report": n}).encode())
        job = c.reserve("reports", timeout=0)
        c.ack(job.id, f"report {n} done".encode())
    w.delayed_id = c.enqueue("reports", b"later", delay="1h").id
    w.hostile = '{"html": "<img src=x onerror=alert(1)><b id=\\"injected\\">bold</b>", "n": [1, 2]}'
    w.dead_id = c.enqueue("reports", w.hostile.encode(), attempts=1).id
    job = c.reserve("reports", timeout=0)
    assert job.id == w.dead_id
    c.fail(job.id, "<script>alert('boom')</script> upstream said 503", retry=False)
    # thumbnails: a binary payload, paused.
    w.binary_id = c.enqueue("thumbnails", bytes(range(256)) * 2).id
    c.pause("thumbnails")
    # digests: a delayed job to promote.
    w.promote_id = c.enqueue("digests", b"weekly digest", delay="2h").id
    # billing: a rate limit with more jobs than it allows right now.
    c.set_queue("billing", rate="2/1m", concurrency=2)
    enqueue_many(w.server.port, "billing", [b"invoice"] * 12)
    for _ in range(2):
        job = c.reserve("billing", timeout=0)
        c.ack(job.id)
    # webhooks: steady background activity for the charts and the live view.
    enqueue_many(w.server.port, "webhooks", [json.dumps({"event": "order.created", "n": i}).encode() for i in range(150)])
    w.threads.append(_thread(_background_producer, w))
    w.threads.append(_thread(_background_worker, w))


def _thread(target, *args):
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _background_producer(w):
    producer = w.server.client("webhook-producer")
    n = 0
    try:
        while not w.stop.wait(random.choice((0.02, 0.05, 0.1, 0.2))):
            n += 1
            producer.enqueue("webhooks", json.dumps({"event": "order.paid", "n": n}).encode())
    finally:
        producer.close()


def _background_worker(w):
    worker = w.server.client("webhook-worker")
    n = 0
    try:
        while not w.stop.is_set():
            job = worker.reserve("webhooks", timeout=0.5)
            if job is None:
                continue
            n += 1
            time.sleep(random.uniform(0.02, 0.1))
            if n % 9 == 0:
                worker.fail(job.id, "HTTP 502 from https://hooks.example.com", retry="30s")
            else:
                worker.ack(job.id, b"200 OK")
    finally:
        worker.close()


def _browser():
    options = webdriver.ChromeOptions()
    options.binary_location = _chromium()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WIDTH},{HEIGHT}", "--disable-extensions", "--no-first-run", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    # The page's own viewport exactly 1280x800, whatever the window decorations take.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    driver.set_page_load_timeout(15)
    return driver


# ---------------------------------------------------------------------------- helpers


def wait(driver, condition, message, timeout=10):
    """Waits until condition(driver) is truthy (stale elements just mean: not yet)."""
    def attempt(d):
        try:
            return condition(d)
        except StaleElementReferenceException:
            return False
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(attempt)
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {message}") from None


def css(driver, selector):
    return driver.find_elements(By.CSS_SELECTOR, selector)


def one(driver, selector, timeout=10):
    return wait(driver, lambda d: (css(d, selector) or [None])[0], selector, timeout)


def go(driver, server, hash_):
    """Opens the dashboard at a route: a full load the first time, a hash change afterwards."""
    if not driver.current_url.startswith(server.url):
        driver.get(server.url + "/" + hash_)
    else:
        driver.execute_script("location.hash = arguments[0]", hash_)


def queue_row_counts(driver, queue):
    row = css(driver, f'tr[data-testid="queue-row"][data-queue="{queue}"]')
    if not row:
        return None
    return {cell.get_attribute("data-testid")[len("count-"):]: cell.get_attribute("data-value")
            for cell in row[0].find_elements(By.CSS_SELECTOR, 'td[data-testid^="count-"]')}


def job_ids(driver):
    return [int(row.get_attribute("data-id")) for row in css(driver, '#jobs tr[data-testid="job-row"]')]


def page_shows(driver, first, last, page):
    ids = job_ids(driver)
    info = css(driver, "#page-info")
    return ids == list(range(first, last + 1)) and info and info[0].get_attribute("data-page") == str(page)


def confirm(driver, accept=True):
    dialog = one(driver, "#confirm-dialog[open]")
    message = dialog.find_element(By.ID, "confirm-message").text
    dialog.find_element(By.ID, "confirm-ok" if accept else "confirm-cancel").click()
    wait(driver, lambda d: not css(d, "#confirm-dialog[open]"), "the confirmation to close")
    return message


def screenshot(driver, page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"dashboard-{page}.png"
    # Notes of earlier steps (they fade after a few seconds) and focus rings are not the page.
    driver.execute_script("document.activeElement && document.activeElement.blur();"
                          "document.querySelectorAll('#messages .msg-close').forEach((b) => b.click())")
    assert driver.save_screenshot(str(path))
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    assert (width, height) == (WIDTH, HEIGHT), f"{path} is {width}x{height}"
    if TO_DOCS:
        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        shutil.copyfile(path, docs / f"dashboard-{page}.png")
    return path


def _series(server):
    with urllib.request.urlopen(server.url + "/api/series", timeout=5) as response:
        return json.load(response)["queues"]


def page_errors(driver):
    """Script errors and refusals (CSP) in the console; HTTP errors the tests cause on purpose
    (a refused setting, a missing job) are logged as failed loads, and are not the page's fault."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]]


# ---------------------------------------------------------------------------- the walk-through


def test_overview_lists_queues_with_counts(world):
    d, s = world.driver, world.server
    go(d, s, "#/")
    wait(d, lambda d: queue_row_counts(d, "emails") == {"waiting": "1000", "delayed": "0", "active": "0", "completed": "0", "dead": "0"},
         "emails with 1000 waiting on the overview")
    wait(d, lambda d: queue_row_counts(d, "reports") == {"waiting": "0", "delayed": "1", "active": "0", "completed": "3", "dead": "1"},
         "reports' counts")
    # Read inside wait: each refresh draws the rows and cards anew, and one read mid-draw is stale.
    wait(d, lambda d: [row.get_attribute("data-queue") for row in css(d, 'tr[data-testid="queue-row"]')]
         == ["billing", "digests", "emails", "reports", "thumbnails", "webhooks"], "every queue, by name")
    wait(d, lambda d: one(d, 'tr[data-queue="thumbnails"] [data-testid="badge-paused"]').text == "paused", "thumbnails paused")
    wait(d, lambda d: css(d, 'tr[data-queue="billing"] [data-testid="badge-blocked"][data-blocked-by="rate"]'), "billing held by its rate")
    wait(d, lambda d: d.find_element(By.ID, "card-queues").text.split("\n")[1] == "6", "the card counting all 6")
    # Counts follow the server without a reload.
    world.client.enqueue("digests", b"now")
    wait(d, lambda d: (queue_row_counts(d, "digests") or {}).get("waiting") == "1", "the new digests job, refreshed in place")
    # The filter narrows the table.
    box = d.find_element(By.ID, "queue-filter")
    box.send_keys("rep")
    assert [r.get_attribute("data-queue") for r in css(d, 'tr[data-testid="queue-row"]') if r.is_displayed()] == ["reports"]
    box.clear()
    box.send_keys(" ")
    box.clear()
    d.execute_script("document.getElementById('queue-filter').dispatchEvent(new Event('input'))")
    one(d, '[data-testid="chart-throughput"] svg')


def test_queue_pages_through_1000_jobs(world):
    d, s = world.driver, world.server
    go(d, s, "#/")
    one(d, 'tr[data-queue="emails"] a.queue-link').click()
    wait(d, lambda d: d.current_url.endswith("#/queue/emails/waiting"), "the emails page")
    assert one(d, "#queue-name").text == "emails"
    wait(d, lambda d: d.find_element(By.CSS_SELECTOR, "#tab-waiting .tab-count").get_attribute("data-value") == "1000", "the waiting count on its tab")
    if one(d, "#page-size").get_attribute("value") != "100":
        Select(d.find_element(By.ID, "page-size")).select_by_value("100")
    wait(d, lambda d: page_shows(d, 1, 100, 1), "page 1: jobs 1-100")
    assert not d.find_element(By.ID, "page-prev").is_enabled()
    screenshot(d, "queue")
    for page in range(2, 11):
        d.find_element(By.ID, "page-next").click()
        wait(d, lambda d: page_shows(d, (page - 1) * 100 + 1, page * 100, page), f"page {page}")
    assert "jobs 901–1,000 of 1,000" in d.find_element(By.ID, "page-info").text
    wait(d, lambda d: not d.find_element(By.ID, "page-next").is_enabled(), "Next disabled on the last page")
    for page in (9, 8):
        d.find_element(By.ID, "page-prev").click()
        wait(d, lambda d: page_shows(d, (page - 1) * 100 + 1, page * 100, page), f"back to page {page}")
    d.find_element(By.ID, "page-first").click()
    wait(d, lambda d: page_shows(d, 1, 100, 1), "back to the first page")


def test_pause_and_resume_from_the_page(world):
    d, s, c = world.driver, world.server, world.client
    go(d, s, "#/queue/emails")
    one(d, "#pause-queue").click()
    wait(d, lambda d: css(d, '#queue-badges [data-testid="badge-paused"]'), "the paused badge")
    assert c.queue("emails").paused is True
    assert not d.find_element(By.ID, "pause-queue").is_displayed()
    one(d, "#resume-queue").click()
    wait(d, lambda d: not css(d, '#queue-badges [data-testid="badge-paused"]'), "the paused badge to go")
    assert c.queue("emails").paused is False
    wait(d, lambda d: d.find_element(By.ID, "pause-queue").is_displayed(), "Pause offered again")


def test_edit_a_queue_setting(world):
    d, s, c = world.driver, world.server, world.client
    go(d, s, "#/queue/emails")
    field = one(d, "#setting-concurrency")
    wait(d, lambda d: field.get_attribute("value") == "", "no concurrency limit yet")
    field.send_keys("4")
    d.find_element(By.ID, "settings-save").click()
    wait(d, lambda d: c.queue("emails").config.concurrency == 4, "concurrency=4 applied on the server")
    wait(d, lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid="stat-concurrency"]').text == "4", "the page showing concurrency 4")
    assert d.find_element(By.ID, "setting-concurrency").get_attribute("value") == "4"
    # A value the server refuses: its error is shown, nothing changes.
    rate = d.find_element(By.ID, "setting-rate")
    rate.send_keys("fast")
    d.find_element(By.ID, "settings-save").click()
    error = one(d, '[data-testid="message-error"]')
    assert "BAD_OPTION" in error.text
    assert c.queue("emails").config.rate is None
    error.find_element(By.CSS_SELECTOR, ".msg-close").click()
    d.find_element(By.ID, "settings-revert").click()
    assert rate.get_attribute("value") == ""


def test_job_page_shows_payloads_as_text(world):
    d, s = world.driver, world.server
    go(d, s, f"#/job/{world.dead_id}")
    wait(d, lambda d: css(d, '#job-state [data-state="dead"]'), "the dead job's state")
    payload = one(d, "#job-payload")
    wait(d, lambda d: payload.get_attribute("data-format") == "json", "the payload shown as JSON")
    assert json.loads(payload.text) == json.loads(world.hostile)
    assert '\n  "html"' in payload.text  # pretty-printed
    # Untrusted text stays text: no element came out of the payload or the error.
    assert not css(d, "#injected") and not css(d, "#view img") and not css(d, "#view script")
    assert "<script>alert('boom')</script>" in one(d, "#job-error").text
    wait(d, lambda d: [r.get_attribute("data-event") for r in css(d, '[data-testid="job-event"]')][:2] == ["dead", "failed"],
         "the job's lifecycle events, newest first")
    # The attempt history, from the job itself: its one failed attempt, the error as text.
    attempts = css(d, '[data-testid="job-attempt"]')
    assert [(r.get_attribute("data-attempt"), r.get_attribute("data-outcome")) for r in attempts] == [("1", "failed")]
    assert "<script>alert('boom')</script>" in attempts[0].text
    screenshot(d, "job")
    # A binary payload is a hex dump.
    go(d, s, f"#/job/{world.binary_id}")
    payload = one(d, '#job-payload[data-format="hex"]')
    assert payload.text.startswith("00000000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|")
    # A job that does not exist says so.
    go(d, s, "#/job/987654")
    one(d, '[data-testid="job-gone"]')


def test_retry_a_dead_job_and_watch_it_complete_live(world):
    d, s, c = world.driver, world.server, world.client
    gate = threading.Event()
    done = {}

    def worker():
        w = s.client("reports-worker")
        try:
            gate.wait(20)
            job = w.reserve("reports", timeout=10)
            done["id"] = job and job.id
            if job:
                w.progress(job.id, 50, "halfway")
                time.sleep(0.2)
                w.ack(job.id, b'{"pages": 12}')
        finally:
            w.close()

    world.threads.append(_thread(worker))
    go(d, s, f"#/job/{world.dead_id}")
    one(d, '#job-actions [data-testid="job-retry"]').click()
    wait(d, lambda d: css(d, '#job-state [data-state="waiting"]'), "the retried job waiting")
    # The live view, narrowed to the queue with its selector; then the worker takes the job.
    go(d, s, "#/live")
    wait(d, lambda d: one(d, "#live-status").get_attribute("data-state") == "open", "the event stream open")
    wait(d, lambda d: "reports" in [o.get_attribute("value") for o in css(d, "#live-queue-names option")], "reports offered as a filter")
    one(d, "#live-queue").send_keys("reports" + Keys.ENTER)
    wait(d, lambda d: d.current_url.endswith("#/live/reports"), "the filtered live view")
    wait(d, lambda d: one(d, "#live-status").get_attribute("data-state") == "open", "the filtered stream open")
    wait(d, lambda d: css(d, f'tr[data-testid="event-row"][data-event="retried"][data-id="{world.dead_id}"]'), "the retried event")
    gate.set()
    row = wait(d, lambda d: (css(d, f'tr[data-testid="event-row"][data-event="completed"][data-id="{world.dead_id}"]') or [None])[0],
               "the job completing in the live view", timeout=15)
    assert done.get("id") == world.dead_id
    events = [(r.get_attribute("data-event"), r.get_attribute("data-id")) for r in css(d, 'tr[data-testid="event-row"]')]
    assert events[0] == ("completed", str(world.dead_id)), "newest on top"
    assert {e for e, _ in events[:4]} >= {"completed", "progress", "started"}
    assert all(r.get_attribute("data-queue") == "reports" for r in css(d, 'tr[data-testid="event-row"]'))
    assert row.is_displayed()
    screenshot(d, "live")
    assert c.inspect(world.dead_id).state == "completed"
    # The job's page: the run that completed it over the failure from before the retry.
    go(d, s, f"#/job/{world.dead_id}")
    wait(d, lambda d: [(r.get_attribute("data-attempt"), r.get_attribute("data-outcome")) for r in css(d, '[data-testid="job-attempt"]')]
         == [("1", "completed"), ("1", "failed")], "the attempt history, newest first")


def test_promote_a_delayed_job_from_its_row(world):
    d, s, c = world.driver, world.server, world.client
    go(d, s, "#/queue/digests/delayed")
    row = one(d, f'#jobs tr[data-id="{world.promote_id}"]')
    row.find_element(By.CSS_SELECTOR, '[data-testid="job-promote"]').click()
    wait(d, lambda d: c.inspect(world.promote_id).state == "waiting", "the job promoted")
    wait(d, lambda d: not css(d, f'#jobs tr[data-id="{world.promote_id}"]'), "the row gone from the delayed tab")


def test_purge_completed_jobs_after_confirming(world):
    d, s, c = world.driver, world.server, world.client
    go(d, s, "#/queue/reports")
    one(d, "#tab-completed").click()
    wait(d, lambda d: len(job_ids(d)) == 4, "four completed reports (three, and the retried one)")
    d.find_element(By.ID, "purge-state").click()
    # Cancel first: nothing happens.
    assert "completed" in confirm(d, accept=False)
    assert c.queue("reports").jobs.completed == 4
    d.find_element(By.ID, "purge-state").click()
    confirm(d, accept=True)
    wait(d, lambda d: any("Purged 4 completed jobs of reports" in m.text for m in css(d, '[data-testid="message-ok"]')), "the purge reported")
    wait(d, lambda d: c.queue("reports").jobs.completed == 0, "the server's completed count at 0")
    wait(d, lambda d: one(d, "#tab-completed .tab-count").get_attribute("data-value") == "0" and not job_ids(d), "an empty completed tab")


def test_other_pages_and_no_console_errors(world):
    d, s, c = world.driver, world.server, world.client
    c.route("orders.*", "emails")
    c.schedule("nightly-report", "reports", b"{}", cron="0 3 * * *", tz="UTC")
    go(d, s, "#/routes")
    assert one(d, 'tr[data-testid="route-row"]').text.split()[1:3] == ["orders.*", "emails"]
    go(d, s, "#/schedules")
    assert "nightly-report" in one(d, 'tr[data-testid="schedule-row"]').text
    go(d, s, "#/connections")
    wait(d, lambda d: any("webhook-worker" in r.text for r in css(d, 'tr[data-testid="connection-row"]')), "the worker's connection")
    if TO_DOCS:
        # Pictures for the README: give the charts a few points first (one every 10 s).
        deadline = time.time() + 60
        while time.time() < deadline and len(_series(s).get("webhooks", {}).get("t", [])) < 5:
            time.sleep(1)
    # The overview last, when the charts have had some activity to draw.
    go(d, s, "#/")
    one(d, 'tr[data-queue="webhooks"]')
    wait(d, lambda d: css(d, '[data-testid="chart-throughput"] polyline') or css(d, '[data-testid="chart-throughput"] circle')
         or css(d, '[data-testid="chart-throughput"] .chart-empty'), "the throughput chart")
    time.sleep(0.3)
    screenshot(d, "overview")
    assert page_errors(d) == []


def make_queues(server, names):
    """One job in each of the queues named, pipelined on one connection."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    reader = sock.makefile("rb")
    reader.readline()
    sock.sendall(b'CONNECT {"verbose":false}\r\n' + b"".join(f"ENQ {name} 1\r\nx\r\n".encode() for name in names))
    assert all(reader.readline().startswith(b"+OK") for _ in names)
    sock.close()


def test_overview_renders_100_queues_quickly(world):
    d, s = world.driver, world.server
    make_queues(s, [f"bulk-{n:03}" for n in range(100)])
    go(d, s, "#/routes")
    one(d, 'tr[data-testid="route-row"]')
    begin = time.monotonic()
    go(d, s, "#/")
    wait(d, lambda d: len(css(d, 'tr[data-testid="queue-row"]')) == 106, "106 queue rows")
    elapsed = time.monotonic() - begin
    assert elapsed < 3, f"the overview took {elapsed:.2f} s to show 106 queues"
    # A refresh with nothing changed touches nothing: the rows stay the same elements.
    first = css(d, 'tr[data-testid="queue-row"]')[0]
    time.sleep(2.5)
    assert first.get_attribute("data-queue") == "billing"
    # Script time of one refresh's rendering, measured in the page.
    busy = d.execute_script(
        "const t = performance.now(); document.querySelectorAll('tr[data-testid=queue-row] td').forEach((c) => c.textContent);"
        "return performance.now() - t;")
    assert busy < 200


def fits_the_window(driver):
    """Nothing on the page reaches past the window: no sideways scrolling of the page itself."""
    return driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")


def test_job_progress_without_a_note_and_with_a_long_one(world):
    d, s, c = world.driver, world.server, world.client
    first = c.enqueue("progress-edge", b"plain").id
    second = c.enqueue("progress-edge", b"long note").id
    job = c.reserve("progress-edge", timeout=0)
    assert job.id == first
    c.progress(job.id, 50)
    job = c.reserve("progress-edge", timeout=0)
    assert job.id == second
    note = "B" * (60 * 1024)
    c.progress(job.id, 30, note.encode())
    try:
        # Progress without a note is the percentage alone (not "50%null").
        go(d, s, f"#/job/{first}")
        wait(d, lambda d: one(d, "#job-id").text == f"#{first}" and one(d, "#job-progress").text != "", "job 1's progress")
        assert one(d, "#job-progress").text == "50%"
        assert not css(d, '[data-testid="job-progress-note"]')
        # A 60 KiB note without a blank wraps inside the panel, shortened, saying so.
        go(d, s, f"#/job/{second}")
        wait(d, lambda d: one(d, "#job-id").text == f"#{second}" and one(d, "#job-progress").text.startswith("30%"), "the long note's progress")
        scroll_width, window_width = fits_the_window(d)
        assert scroll_width <= window_width, f"the page is {scroll_width} px wide in a {window_width} px window"
        shown = one(d, '[data-testid="job-progress-note"]').get_attribute("textContent")
        assert shown.startswith("B" * 1000) and shown.endswith("…") and len(shown) < 10_000
        assert "61,440" in one(d, '[data-testid="job-progress-note-clipped"]').text
    finally:
        c.ack(first)
        c.ack(second)


def test_long_names_wrap_instead_of_widening_the_page(world):
    d, s, c = world.driver, world.server, world.client
    name, group, key = "Q" * 128, "G" * 128, "K" * 128
    job_id = c.enqueue(name, b"x", group=group, key=key).id
    # The queue's page: its name in the heading and the crumbs, a group in the jobs table.
    go(d, s, "#/queue/" + name)
    wait(d, lambda d: one(d, "#queue-name").text == name and job_ids(d) == [job_id], "the long-named queue's page and its job")
    scroll_width, window_width = fits_the_window(d)
    assert scroll_width <= window_width, f"the queue page is {scroll_width} px wide in a {window_width} px window"
    heading = d.execute_script("return document.querySelector('#view h1').getBoundingClientRect().right")
    assert heading <= window_width
    table, host = d.execute_script("const t = document.getElementById('jobs'); return [t.offsetWidth, t.parentElement.clientWidth]")
    assert table <= host, f"the jobs table is {table} px wide in {host} px"
    # The overview: the queues table fits its panel (no sideways scrolling for one long name).
    go(d, s, "#/")
    one(d, f'tr[data-testid="queue-row"][data-queue="{name}"]')
    scroll_width, window_width = fits_the_window(d)
    assert scroll_width <= window_width, f"the overview is {scroll_width} px wide in a {window_width} px window"
    table, host = d.execute_script("const t = document.getElementById('queues'); return [t.offsetWidth, t.parentElement.clientWidth]")
    assert table <= host, f"the queues table is {table} px wide in {host} px"
    # The job's page: queue, key and group.
    go(d, s, f"#/job/{job_id}")
    wait(d, lambda d: one(d, '#job-fields [data-field="group"]').text == group, "the job's fields")
    scroll_width, window_width = fits_the_window(d)
    assert scroll_width <= window_width, f"the job page is {scroll_width} px wide in a {window_width} px window"


def test_a_client_that_names_itself_at_length_does_not_squeeze_the_connections_table(world):
    """CONNECT's name, lang and version are whatever a client sends (up to a control line): a
    client with a kilobyte-long lang must not push the counts out of sight nor squeeze the
    other clients' names to a few letters a line."""
    d, s = world.driver, world.server
    lang, version = "L" * 1500, "V" * 300
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        sock.makefile("rb").readline()  # INFO
        sock.sendall(b"CONNECT " + json.dumps({"verbose": False, "name": "long-lang-client", "lang": lang, "version": version}).encode() + b"\r\n")
        go(d, s, "#/connections")
        row = wait(d, lambda d: next((r for r in css(d, 'tr[data-testid="connection-row"]') if "long-lang-client" in r.text), None),
                   "the long-lang client listed")
        table, host = d.execute_script("const t = document.getElementById('connections'); return [t.offsetWidth, t.parentElement.clientWidth]")
        assert table <= host, f"the connections table is {table} px wide in {host} px"
        cells = row.find_elements(By.TAG_NAME, "td")
        name_width = d.execute_script("return arguments[0].getBoundingClientRect().width", cells[2])
        assert name_width >= 100, f"the Name column is squeezed to {name_width} px"
        # All of it is still there to read, on hovering.
        assert cells[3].get_attribute("title") == lang + " " + version
    finally:
        sock.close()


def test_json_payload_shows_every_token_as_written(world):
    d, s, c = world.driver, world.server, world.client
    text = '{"id": 12345678901234567890, "big": 1e400, "dup": 1, "dup": 2, "zero": -0, "price": 1.50, "nested": {"ids": [9007199254740993]}, "empty": {}}'
    job_id = c.enqueue("json-edge", text.encode()).id
    go(d, s, f"#/job/{job_id}")
    wait(d, lambda d: one(d, "#job-id").text == f"#{job_id}", "the job's page")
    payload = one(d, "#job-payload")
    wait(d, lambda d: payload.get_attribute("data-format") == "json", "the payload shown as JSON")
    shown = payload.get_attribute("textContent")
    for token in ('"id": 12345678901234567890', '"big": 1e400', '"dup": 1', '"dup": 2', '"zero": -0', '"price": 1.50', "9007199254740993", '"empty": {}'):
        assert token in shown, f"{token} missing from the payload shown:\n{shown}"
    assert shown.startswith('{\n  "id": ')  # re-indented
    assert "".join(shown.split()) == "".join(text.split())  # only the blanks differ
    assert "shown as JSON" in one(d, "#job-payload-info").text
    # Text that is not JSON (a trailing comma) is shown as it is, and not called JSON.
    broken = '{"id": 12345678901234567890,}'
    job_id = c.enqueue("json-edge", broken.encode()).id
    go(d, s, f"#/job/{job_id}")
    wait(d, lambda d: one(d, "#job-id").text == f"#{job_id}" and one(d, "#job-payload").get_attribute("data-format") == "text", "the broken payload as text")
    assert one(d, "#job-payload").get_attribute("textContent") == broken
    assert "shown as text" in one(d, "#job-payload-info").text


def test_errors_of_one_view_are_cleared_on_navigating(world):
    d, s = world.driver, world.server
    go(d, s, "#/queue/json-edge")
    rate = one(d, "#setting-rate")
    wait(d, lambda d: rate.get_attribute("data-server") is not None, "the settings filled in")
    rate.send_keys("fast")
    d.find_element(By.ID, "settings-save").click()
    assert "BAD_OPTION" in one(d, '[data-testid="message-error"]').text
    go(d, s, "#/")
    one(d, "#queues")
    wait(d, lambda d: not css(d, '[data-testid="message-error"]'), "the queue page's error gone on the overview")


def test_a_read_only_viewer_sees_no_buttons(tmp_path):
    # Beyond loopback without users, the dashboard is read-only.
    server = Docketd("--addr", "0.0.0.0")
    driver = None
    try:
        with server.client() as c:
            c.enqueue("mail", b"x", attempts=1)
            job = c.reserve("mail", timeout=0)
            c.fail(job.id, "nope", retry=False)
        driver = _browser()
        driver.get(server.url + "/#/queue/mail/dead")
        wait(driver, lambda d: job_ids(d) == [1], "the dead job listed")
        assert one(driver, "#readonly-badge").is_displayed()
        assert not css(driver, "#pause-queue") and not css(driver, "#purge-state") and not css(driver, '[data-testid="job-retry"]')
        assert not driver.find_element(By.ID, "setting-concurrency").is_enabled()
        driver.get(server.url + "/#/job/1")
        one(driver, '#job-state [data-state="dead"]')
        assert not css(driver, "#job-actions button")
    finally:
        if driver:
            driver.quit()
        server.stop()



def test_a_page_opened_with_credentials_in_its_address(tmp_path):
    """Found in the browser: opened as http://user:password@host:port/ (as one does with Basic
    auth, and as the browser then keeps the address), every request of the page failed with
    'Request cannot be constructed from a URL that includes credentials': fetch takes them from
    such a page's address, and refuses them. The page asks its origin, which has none, and the
    browser sends the credentials it was given. Here a user who may read one queue only."""
    config = tmp_path / "docket.conf"
    config.write_text("""
authorization { users = [ {user: boss, password: s3cret}, {user: viewer, password: look} ] }
docket { permissions { viewer: { read: mail } } }
""")
    server = Docketd("-c", str(config))
    driver = None
    try:
        with Client(f"nats://boss:s3cret@127.0.0.1:{server.port}") as c:
            c.enqueue("mail", b"x", attempts=1)
            c.fail(c.reserve("mail", timeout=0).id, "nope", retry=False)
        driver = _browser()
        driver.get(f"http://viewer:look@127.0.0.1:{server.http}/#/queue/mail/dead")
        wait(driver, lambda d: job_ids(d) == [1], "the dead job listed")
        assert one(driver, "#readonly-badge").is_displayed()
        # The header's uptime: /varz's public document, all such a reader gets, has no counters.
        wait(driver, lambda d: re.search(r"up \d", one(d, "#server-info").text), "the uptime in the header")
        driver.execute_script("location.hash = '#/job/1'")
        one(driver, '#job-state [data-state="dead"]')
        assert _messages(driver) == [] and page_errors(driver) == []
        # A queue this user may not read: the queue and its jobs are refused alike, said once.
        driver.execute_script("location.hash = '#/queue/secret'")
        wait(driver, lambda d: any("FORBIDDEN" in m for m in _messages(d)), "the refusal reported")
        time.sleep(2.5)  # the next refresh of both
        assert len(_messages(driver)) == 1, _messages(driver)
        # An admin's change from such a page: its POST carries the credentials and this origin.
        driver.get(f"http://boss:s3cret@127.0.0.1:{server.http}/#/queue/mail")
        one(driver, "#pause-queue").click()
        wait(driver, lambda d: css(d, '#queue-badges [data-testid="badge-paused"]'), "the paused badge")
        assert _messages(driver) == []
    finally:
        if driver:
            driver.quit()
        server.stop()

def _messages(driver, kind="error"):
    return [m.text for m in css(driver, f'[data-testid="message-{kind}"]')]


def test_queues_named_like_object_properties(world):
    """Queue names are words, and some words are properties every JavaScript object has: a
    queue the activity document does not list yet must not be found on Object.prototype."""
    d, s, c = world.driver, world.server, world.client
    go(d, s, "#/routes")
    one(d, "#routes")
    go(d, s, "#/")
    one(d, '[data-testid="chart-throughput"] svg')
    # The charts' document was read as the overview opened; these queues come after it, so the
    # overview lists them before the next one (10 s later) does.
    for name in ("constructor", "valueOf"):
        c.enqueue(name, b"x")
    wait(d, lambda d: css(d, 'tr[data-testid="queue-row"][data-queue="valueOf"]') and css(d, 'tr[data-testid="queue-row"][data-queue="constructor"]'),
         "the new queues listed")
    time.sleep(2.5)  # another refresh of the counts
    assert _messages(d) == []
    # A queue's page and its charts, for a queue that has no activity at all.
    go(d, s, "#/queue/hasOwnProperty")
    one(d, "#queue-name")
    d.find_element(By.CSS_SELECTOR, "#queue-charts-panel summary").click()
    one(d, '#queue-charts [data-testid="chart-throughput"]')
    assert _messages(d) == []
    assert page_errors(d) == []


def test_untrusted_text_with_bidi_controls_is_isolated(world):
    """An error that carries a right-to-left override must not reorder the labels and values
    after it in an event's details. (Queue names cannot carry one: they are A-Z a-z 0-9 _ -.)"""
    d, s, c = world.driver, world.server, world.client
    queue = "bidi"
    job_id = c.enqueue(queue, b"x", attempts=1).id
    job = c.reserve(queue, timeout=0)
    assert job.id == job_id
    reason = "\u202eevil order\u202c"
    c.fail(job.id, reason, retry=False)
    go(d, s, f"#/job/{job_id}")
    wait(d, lambda d: css(d, '[data-testid="job-event"][data-event="failed"]'), "the failed event")
    details = one(d, '[data-testid="job-event"][data-event="failed"] td.details')
    isolated = details.find_elements(By.TAG_NAME, "bdi")
    assert [b.get_attribute("textContent") for b in isolated][:1] == [reason], details.get_attribute("innerHTML")
    assert page_errors(d) == []



def test_a_route_subject_with_bidi_controls_reorders_only_itself(world):
    """Found in the browser: a route's rule is one text, its subject pattern then its queue, and
    a right-to-left override in the subject turned the queue name after it around ('routed'
    read 'detuor'): each word of the rule is isolated."""
    d, s, c = world.driver, world.server, world.client
    pattern = "in.\u202eevil"
    c.route(pattern, "bidiroute")
    go(d, s, "#/routes")
    cell = wait(d, lambda d: next((r.find_elements(By.TAG_NAME, "td")[3] for r in css(d, 'tr[data-testid="route-row"]')
                                   if "bidiroute" in r.text), None), "the route listed")
    words = [b.get_attribute("textContent") for b in cell.find_elements(By.TAG_NAME, "bdi")]
    assert words[:2] == [pattern, "bidiroute"], cell.get_attribute("innerHTML")
    assert page_errors(d) == []


def test_an_address_naming_no_possible_queue_says_so(world):
    """Found in the browser: #/live/bad.name told the user that the event stream closed and to
    reload the page (reloading changes nothing), and #/queue/a%2Fb asked twice every 2 s for
    what the server refuses. Such an address names no queue, and the page says so."""
    d, s = world.driver, world.server
    for address in ("#/live/bad.name", "#/queue/a%2Fb", "#/queue/" + "x" * 129 + "/dead"):
        go(d, s, address)
        wait(d, lambda d: one(d, "#view h1").text == "No such queue", f"{address} named no queue")
        assert _messages(d) == [], address
    go(d, s, "#/")
    one(d, "#queues")
    assert page_errors(d) == []

def _restartable(ports=None):
    """A docketd, on the given (protocol, HTTP) ports if any: a restart takes the same ones."""
    return Docketd(*(("--port", str(ports[0]), "--http-port", str(ports[1])) if ports else ()))



def _live_view(server, queue):
    """A browser on the live view of one queue, its event stream open."""
    driver = _browser()
    try:
        driver.get(server.url + "/#/live/" + queue)
        wait(driver, lambda d: one(d, "#live-status").get_attribute("data-state") == "open", "the event stream open")
    except BaseException:
        driver.quit()
        raise
    return driver

def test_the_live_view_follows_a_restarted_server():
    """The live view skips what a reconnect replays. A queue's event sequence starts again at 1
    when docketd restarts: the events after it are new, and shown."""
    server = _restartable()
    driver = None
    try:
        driver = _live_view(server, "mail")
        with server.client() as c:
            for _ in range(5):
                c.enqueue("mail", b"x")
            for _ in range(5):
                c.ack(c.reserve("mail", timeout=0).id)
        wait(driver, lambda d: len(css(d, 'tr[data-testid="event-row"][data-event="completed"]')) == 5, "five jobs completed")
        ports = (server.port, server.http)
        server.stop()
        wait(driver, lambda d: one(d, "#live-status").get_attribute("data-state") == "error", "the stream noticing")
        server = _restartable(ports)
        wait(driver, lambda d: one(d, "#live-status").get_attribute("data-state") == "open", "the stream open again", timeout=15)
        with server.client() as c:
            c.enqueue("mail", b"after the restart")
        # (Its job is number 1 again, in a new data directory, and its sequence 1: as the first
        # event before the restart, but another event.)
        wait(driver, lambda d: len(css(d, 'tr[data-testid="event-row"]')) == 16, "the first event after the restart")
        rows = css(driver, 'tr[data-testid="event-row"]')
        assert (rows[0].get_attribute("data-event"), rows[0].get_attribute("data-seq")) == ("enqueued", "1")
        time.sleep(1)
        assert len(css(driver, 'tr[data-testid="event-row"]')) == 16, "what was shown before stays, once"
    finally:
        if driver:
            driver.quit()
        server.stop()



def test_a_flood_of_events_is_drawn_in_batches_that_do_not_flash():
    """Found in the browser: with 10,000 events a second the live view drew 500 rows every
    80 ms, each flashing as it came, and the tab took 0.3 s to 1.6 s to answer anything (a
    paused view: 10 ms). Drawing now waits four times as long as the last drawing took, and only
    rows that come a few at a time flash."""
    server = Docketd()
    driver = None
    try:
        driver = _live_view(server, "flood")
        enqueue_many(server.port, "flood", [b"x"] * 3000)
        wait(driver, lambda d: len(css(d, 'tr[data-testid="event-row"]')) == 500, "the newest 500 events listed")
        wait(driver, lambda d: css(d, 'tr[data-testid="event-row"]')[0].get_attribute("data-id") == "3000", "the last event on top")
        flashing = driver.execute_script(
            "return Array.from(document.querySelectorAll('#live-events tbody tr'))"
            ".filter((row) => getComputedStyle(row).animationName !== 'none').length")
        assert flashing <= 100, f"{flashing} of the 500 rows flash"
        assert page_errors(driver) == []
    finally:
        if driver:
            driver.quit()
        server.stop()

def test_a_server_that_stops_answering_is_reported():
    """A docketd that accepts connections and does not answer (stopped, or stuck): the page
    says so instead of showing old numbers as if current, and recovers when it answers."""
    import signal
    server = Docketd()
    driver = None
    try:
        driver = _browser()
        driver.get(server.url + "/#/")
        one(driver, "#queues")
        wait(driver, lambda d: one(d, "#updated").text.startswith("updated"), "a first refresh")
        server.proc.send_signal(signal.SIGSTOP)
        try:
            wait(driver, lambda d: any("TIMEOUT" in m for m in _messages(d)), "the timeout reported", timeout=20)
        finally:
            server.proc.send_signal(signal.SIGCONT)
        wait(driver, lambda d: _messages(d) == [], "the report gone once docketd answers", timeout=20)
        # The errors are the page's reports of the timeouts, not script errors.
        assert [e for e in page_errors(driver) if "TIMEOUT" not in e and "did not answer" not in e] == []
    finally:
        if driver:
            driver.quit()
        server.stop()


def test_a_queue_page_recovers_from_a_restart_without_a_reload():
    """A queue's page polls the queue and its page of jobs: with docketd gone, it says so; once
    docketd answers again, no report of the outage is left on the page (the jobs list's once
    stayed until a reload)."""
    server = _restartable()
    driver = None
    try:
        with server.client() as c:
            c.enqueue("mail", b"x")
        driver = _browser()
        driver.get(server.url + "/#/queue/mail/waiting")
        wait(driver, lambda d: job_ids(d) == [1], "the waiting job listed")
        ports = (server.port, server.http)
        server.stop()
        wait(driver, lambda d: any("UNREACHABLE" in m for m in _messages(d)), "the outage reported")
        server = _restartable(ports)
        with server.client() as c:
            c.enqueue("mail", b"after the restart")
        wait(driver, lambda d: job_ids(d) == [1], "the job of the new server listed")
        wait(driver, lambda d: _messages(d) == [], "no report of the outage left", timeout=8)
    finally:
        if driver:
            driver.quit()
        server.stop()


def test_the_connections_page_counts_every_connection_past_one_page():
    """The connections list is a page of /connz (1,024 entries): with more connections open,
    the page says how many there are, not how many it lists."""
    server = Docketd()
    driver = None
    socks = []
    try:
        for _ in range(1030):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b'CONNECT {"verbose":false}\r\n')
            socks.append(sock)
        for sock in socks:  # every one accepted and registered: its INFO came
            sock.recv(1)
        driver = _browser()
        driver.get(server.url + "/#/connections")
        wait(driver, lambda d: len(css(d, 'tr[data-testid="connection-row"]')) == 1024, "a page of connections listed")
        summary = one(driver, "#view section p.muted")
        wait(driver, lambda d: summary.text.startswith("1,030 connections"), f"the count of all 1,030 connections, not '{summary.text}'")
        assert "1,024" in summary.text, summary.text
    finally:
        for sock in socks:
            sock.close()
        if driver:
            driver.quit()
        server.stop()


def test_the_overview_pages_through_many_queues_and_filters_on_the_server():
    """With more queues than a page (250 rows), the overview lists a page, says how many there
    are, turns pages, and its filter finds a queue on another page; the cards count them all."""
    server = Docketd()
    driver = None
    try:
        make_queues(server, [f"many-{n:03}" for n in range(300)])
        driver = _browser()
        driver.get(server.url + "/#/")
        rows = lambda d: [r.get_attribute("data-queue") for r in css(d, 'tr[data-testid="queue-row"]') if r.is_displayed()]
        wait(driver, lambda d: len(rows(d)) == 250, "a page of 250 queues")
        # Read inside wait: each refresh draws the rows anew, and a row read mid-draw is stale.
        wait(driver, lambda d: (page := rows(d))[0] == "many-000" and page[-1] == "many-249", "the first page, by name")
        info = one(driver, '[data-testid="queues-page-info"]')
        wait(driver, lambda d: info.text == "1–250 of 300", f"the page's place, not '{info.text}'")
        wait(driver, lambda d: d.find_element(By.ID, "card-queues").text.split("\n")[1] == "300", "the card counting all 300")
        assert driver.find_element(By.ID, "queue-count").text == "(300)"
        one(driver, '[data-testid="queues-next"]').click()
        wait(driver, lambda d: rows(d) == [f"many-{n:03}" for n in range(250, 300)], "the second page")
        wait(driver, lambda d: info.text == "251–300 of 300", f"the second page's place, not '{info.text}'")
        assert one(driver, '[data-testid="queues-next"]').get_attribute("disabled") is not None
        one(driver, '[data-testid="queues-prev"]').click()
        wait(driver, lambda d: rows(d)[:1] == ["many-000"], "the first page again")
        # A queue on the second page, found from the first.
        driver.find_element(By.ID, "queue-filter").send_keys("many-27")
        wait(driver, lambda d: rows(d) == [f"many-{n}" for n in range(270, 280)], "the ten queues the filter names")
        wait(driver, lambda d: driver.find_element(By.ID, "queue-count").text == "(10)", "the filter's count")
        wait(driver, lambda d: d.find_element(By.ID, "card-queues").text.split("\n")[1] == "300", "the card counting all 300")
    finally:
        if driver:
            driver.quit()
        server.stop()


_RECORD_LOADS = """
window.__loads = [];
const original = window.fetch;
window.fetch = function (input) {
  // By path: the page asks its origin by full address.
  const url = new URL(String(input), location.origin);
  const entry = { url: url.pathname + url.search, start: performance.now(), end: null, bytes: null, now: null, t: null };
  window.__loads.push(entry);
  return original.apply(this, arguments).then((response) => {
    // The answer's size, and its `now` and `t` (/api/series), once it is all read.
    response.clone().text().then((text) => {
      try { const body = JSON.parse(text); entry.now = body.now; entry.t = body.t; } catch (_) { /* not JSON */ }
      entry.bytes = text.length;
    });
    return response;
  }).finally(() => { entry.end = performance.now(); });
};
"""


def _loads(driver, prefix):
    return [e for e in driver.execute_script("return window.__loads") if e["url"].startswith(prefix)]


def test_a_slow_answer_spaces_the_next_refreshes_out():
    """A docketd that takes long to answer (thousands of queues, or busy) is not asked again
    2 s later by every open page: the next refresh waits four times as long as the answer
    took, and the pace comes back once answers are quick again. A queue page's jobs list is not
    asked again while a load of it is still waiting."""
    import signal
    server = Docketd()
    driver = None
    try:
        driver = _browser()
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_LOADS})
        driver.get(server.url + "/#/")
        wait(driver, lambda d: len([e for e in _loads(d, "/api/overview") if e["end"]]) >= 2, "two refreshes of the overview")
        server.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(5)  # a refresh starts within 2 s of the stop, and waits the rest of it
        finally:
            server.proc.send_signal(signal.SIGCONT)
        slow = wait(driver, lambda d: next((e for e in _loads(d, "/api/overview") if e["end"] and e["end"] - e["start"] > 2500), None),
                    "the slow answer")
        # Taken once answered: its end is read below, and a copy read mid-flight keeps end None.
        after = wait(driver, lambda d: next((e for e in _loads(d, "/api/overview") if e["start"] > slow["end"] and e["end"]), None),
                     "the refresh after the slow answer", timeout=30)
        gap = after["start"] - slow["end"]
        assert gap >= 4 * (slow["end"] - slow["start"]) - 500, f"the next refresh came {gap:.0f} ms after a {slow['end'] - slow['start']:.0f} ms answer"
        then = wait(driver, lambda d: next((e for e in _loads(d, "/api/overview") if e["start"] > after["start"] and e["end"]), None),
                    "one more refresh", timeout=10)
        assert then["start"] - after["end"] < 4000, "quick answers bring the usual pace back"
        # A queue page: while docketd does not answer, one load of its jobs waits, not one per 2 s.
        driver.execute_script("location.hash = '#/queue/mail'")
        wait(driver, lambda d: _loads(d, "/api/jobs") and all(e["end"] for e in _loads(d, "/api/jobs")), "the jobs list loaded")
        before = len(_loads(driver, "/api/jobs"))
        server.proc.send_signal(signal.SIGSTOP)
        try:
            time.sleep(7)
            assert len(_loads(driver, "/api/jobs")) - before <= 1
        finally:
            server.proc.send_signal(signal.SIGCONT)
    finally:
        if driver:
            driver.quit()
        server.stop()


def test_schedule_ticks_say_which_time_zone_they_are_shown_in():
    """A cron's hours are in its own zone; the page shows ticks in the viewer's: 03:00 in New
    York is 09:00 in Berlin (in winter), and the page says the times are Berlin's."""
    server = Docketd()
    driver = None
    try:
        with server.client() as c:
            c.schedule("nightly", "reports", b"{}", cron="0 3 * * *", tz="America/New_York")
        driver = _browser()
        driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Europe/Berlin"})
        driver.get(server.url + "/#/schedules")
        row = one(driver, 'tr[data-testid="schedule-row"]')
        # (09:00 but for the weeks the two zones change their clocks on different days.)
        import datetime
        import zoneinfo
        york = datetime.datetime.now(zoneinfo.ZoneInfo("America/New_York"))
        tick = york.replace(hour=3, minute=0, second=0, microsecond=0)
        if tick <= york:
            tick = (tick.replace(tzinfo=None) + datetime.timedelta(days=1)).replace(tzinfo=zoneinfo.ZoneInfo("America/New_York"))
        shown = tick.astimezone(zoneinfo.ZoneInfo("Europe/Berlin")).strftime("%H:%M:%S")
        wait(driver, lambda d: shown in row.text, f"the next tick at {shown} Berlin time in '{row.text}'")
        assert "Europe/Berlin" in one(driver, "#view section p.muted").text
    finally:
        if driver:
            driver.quit()
        server.stop()


def flow_rows(driver, table):
    return [(int(r.get_attribute("data-id")), r.get_attribute("data-state")) for r in css(driver, f'#{table} tr[data-testid="flow-row"]')]


def test_a_job_page_shows_its_flow_parents_and_children_paged_with_their_states(world):
    """The job page did not show a flow at all: INSPECT's parents and children were nowhere.
    Now a Flow panel lists the parents (with their states now) and the children 20 a page, each
    a link to its own page; the back button comes back."""
    d, s, c = world.driver, world.server, world.client
    root = c.enqueue("flow-root", b"r").id
    other = c.enqueue("flow-root", b"o").id
    kids = enqueue_many(s.port, f"flow-kids after={root},{other}", [b"k"] * 45)
    # One child deleted: it is no longer a child (CHILDREN lists the ones that exist).
    c.delete(kids[44])
    go(d, s, f"#/job/{root}")
    wait(d, lambda d: flow_rows(d, "job-children") == [(k, "blocked") for k in kids[:20]], "the first 20 children, blocked")
    assert not one(d, "#job-flow").get_attribute("hidden") and not one(d, "#job-parents-part").is_displayed()
    info = one(d, "#children-page-info")
    assert "1–20 of 44" in info.text and one(d, "#children-prev").get_attribute("disabled")
    one(d, "#children-next").click()
    wait(d, lambda d: flow_rows(d, "job-children") == [(k, "blocked") for k in kids[20:40]], "the second page")
    one(d, "#children-next").click()
    wait(d, lambda d: flow_rows(d, "job-children") == [(k, "blocked") for k in kids[40:44]], "the last page")
    assert one(d, "#children-next").get_attribute("disabled")
    one(d, "#children-prev").click()
    wait(d, lambda d: flow_rows(d, "job-children") == [(k, "blocked") for k in kids[20:40]], "back to the second page")
    # The page is in the address: a reload comes back to it (it came back to the first).
    assert d.current_url.endswith(f"#/job/{root}/children/{kids[19]}")
    d.refresh()
    wait(d, lambda d: flow_rows(d, "job-children") == [(k, "blocked") for k in kids[20:40]], "the second page after a reload")
    assert "Page 2" in one(d, "#children-page-info").text and not one(d, "#children-prev").get_attribute("disabled")
    # The root completes: its children's states follow on the page, without a reload.
    job = c.reserve("flow-root", timeout=0)
    assert job.id == root
    c.ack(root)
    wait(d, lambda d: flow_rows(d, "job-children")[:1] == [(kids[20], "blocked")] and "completed" in one(d, "#job-state").text,
         "the root completed")
    # A child's page: both parents, each with its state, each a link.
    link = one(d, f'#job-children tr[data-id="{kids[20]}"] a.job-link')
    link.click()
    wait(d, lambda d: one(d, "#job-id").text == f"#{kids[20]}", "the child's page")
    wait(d, lambda d: flow_rows(d, "job-parents") == [(root, "completed"), (other, "waiting")], "the parents and their states")
    assert not one(d, "#job-children-part").is_displayed()
    one(d, f'#job-parents tr[data-id="{other}"] a.job-link').click()
    wait(d, lambda d: one(d, "#job-id").text == f"#{other}", "the other parent's page")
    d.back()
    wait(d, lambda d: one(d, "#job-id").text == f"#{kids[20]}", "back on the child's page")
    # A job outside any flow has no Flow panel.
    go(d, s, f"#/job/{world.binary_id}")
    wait(d, lambda d: one(d, "#job-id").text == f"#{world.binary_id}" and css(d, '#job-fields [data-field="id"]'), "a job with no flow")
    assert not one(d, "#job-flow").is_displayed()
    assert page_errors(d) == []


def test_a_flow_link_keeps_the_keyboards_focus_across_refreshes(world):
    """The Flow panel drew its rows anew on every refresh (every 2 s), so a keyboard user who
    had tabbed to a child's link lost the focus to the page's body before pressing Enter."""
    d, s, c = world.driver, world.server, world.client
    root = c.enqueue("focus-root", b"r").id
    kids = enqueue_many(s.port, f"focus-kids after={root}", [b"k"] * 3)
    go(d, s, f"#/job/{root}")
    link = one(d, f'#job-children tr[data-id="{kids[1]}"] a.job-link')
    d.execute_script("arguments[0].focus()", link)
    for _ in range(2):  # two refreshes after the focus, each drawn
        shown = one(d, "#updated").text
        wait(d, lambda d: one(d, "#updated").text != shown, "a refresh")
    focused = d.execute_script("const e = document.activeElement; return e.closest('tr') && e.closest('tr').dataset.id")
    assert focused == str(kids[1]), f"the focus went to {d.execute_script('return document.activeElement.tagName')}"
    d.switch_to.active_element.send_keys(Keys.ENTER)
    wait(d, lambda d: one(d, "#job-id").text == f"#{kids[1]}", "the child's page, opened from the keyboard")


def _viewport(driver, width, height):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def test_rows_keep_their_buttons_in_sight_and_long_names_to_two_lines(world):
    """At 1280x800 a dead job's error (clipped at 420 px) made the jobs table wider than its
    panel, so its Retry and Delete had to be scrolled to; a client named at length (300
    characters without a blank) made a connections row nine lines tall."""
    d, s, c = world.driver, world.server, world.client
    c.enqueue("layout-dead", b"x", attempts=1)
    c.fail(c.reserve("layout-dead", timeout=0).id, "upstream refused the request: " + "timeout " * 40, retry=False)
    go(d, s, "#/queue/layout-dead/dead")
    wait(d, lambda d: len(job_ids(d)) == 1, "the dead job")
    table, host = d.execute_script("const t = document.getElementById('jobs'); return [t.offsetWidth, t.parentElement.clientWidth]")
    assert table <= host, f"the jobs table is {table} px wide in {host} px"
    button, right = d.execute_script(
        "const b = document.querySelector('#jobs [data-testid=\"job-row\"] .row-actions .btn:last-child').getBoundingClientRect();"
        "return [b.right, document.getElementById('jobs').parentElement.getBoundingClientRect().right]")
    assert button <= right, "the row's last button is out of sight"
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    try:
        sock.makefile("rb").readline()  # INFO
        name = "N" * 300
        sock.sendall(b"CONNECT " + json.dumps({"verbose": False, "name": name}).encode() + b"\r\nPING\r\n")
        go(d, s, "#/connections")
        row = wait(d, lambda d: next((r for r in css(d, 'tr[data-testid="connection-row"]') if "NNNN" in r.text), None), "the long-named client")
        height, line = d.execute_script(
            "const r = arguments[0]; return [r.getBoundingClientRect().height, parseFloat(getComputedStyle(r).lineHeight) || 20]", row)
        assert height < 4 * line, f"the row is {height} px tall"
        assert row.find_elements(By.TAG_NAME, "td")[2].get_attribute("title") == name
    finally:
        sock.close()


def test_every_page_fits_a_phone_wide_window(world):
    """At 390x844 (a phone) the five links of the header, a queue page's jobs table (a grid
    column of 1fr is at least as wide as its content) and the job page's columns (at least
    380 px) made every page wider than the window, so the whole page scrolled sideways. Tables
    may scroll inside their panels; the page itself may not."""
    d, s = world.driver, world.server
    pages = ["#/", "#/queue/reports/dead", "#/queue/emails", f"#/job/{world.dead_id}", "#/live", "#/routes", "#/schedules", "#/connections"]
    _viewport(d, 390, 844)
    try:
        for page in pages:
            go(d, s, page)
            one(d, "#view h1")
            time.sleep(0.5)  # the page's first answers drawn
            scroll_width, window_width = fits_the_window(d)
            assert scroll_width <= window_width, f"{page} is {scroll_width} px wide in a {window_width} px window"
    finally:
        _viewport(d, WIDTH, HEIGHT)


def test_the_live_view_finds_any_of_thousands_of_queues_by_name():
    """The live view's queue list was one /api/overview: the first 1,024 queues, so with more a
    queue past them could not be chosen, and 10,000 queues took seconds to list. Now a name is
    typed, and the server suggests the queues whose names contain it."""
    server = Docketd()
    driver = None
    try:
        make_queues(server, [f"many-{n:04}" for n in range(1100)])
        driver = _browser()
        driver.get(server.url + "/#/live")
        box = one(driver, "#live-queue")
        wait(driver, lambda d: len(css(d, "#live-queue-names option")) == 20, "the first suggestions, 20")
        box.send_keys("many-109")
        wait(driver, lambda d: [o.get_attribute("value") for o in css(d, "#live-queue-names option")] == [f"many-{n}" for n in range(1090, 1100)],
             "the ten queues past the first 1,024 that the name matches")
        box.send_keys("9" + Keys.ENTER)
        wait(driver, lambda d: d.current_url.endswith("#/live/many-1099"), "the live view of many-1099")
        wait(driver, lambda d: one(d, "#live-status").get_attribute("data-state") == "open", "its event stream open")
        assert one(driver, "#live-queue").get_attribute("value") == "many-1099"
        assert page_errors(driver) == []
    finally:
        if driver:
            driver.quit()
        server.stop()


def _pipelined(server, lines, reply=b"+OK"):
    """Commands (each a line, or a line and its payload) on one connection; every reply checked."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    reader = sock.makefile("rb")
    reader.readline()
    sock.sendall(b'CONNECT {"verbose":false}\r\n' + b"".join(lines))
    replies = [reader.readline() for _ in lines]
    sock.close()
    assert all(r.startswith(reply) for r in replies), [r for r in replies if not r.startswith(reply)][:3]
    return replies


def test_the_routes_and_schedules_pages_list_every_page():
    """ROUTES and SCHEDULES answer a page of 1,000 at most: their pages follow the pages, so the
    1,200th route and the 1,100th schedule are listed, not only the first 1,000."""
    server = Docketd("--max-routes", "1500")
    driver = None
    try:
        _pipelined(server, [f"ROUTE in.r{n:04} routed-{n:04}\r\n".encode() for n in range(1200)])
        _pipelined(server, [f"SCHEDULE tick-{n:04} ticked every=1h 0\r\n\r\n".encode() for n in range(1100)])
        driver = _browser()
        driver.get(server.url + "/#/routes")
        wait(driver, lambda d: len(css(d, 'tr[data-testid="route-row"]')) == 1200, "all 1,200 routes", timeout=20)
        last = css(driver, 'tr[data-testid="route-row"]')[-1]
        assert "routed-1199" in last.text, last.text
        go(driver, server, "#/schedules")
        wait(driver, lambda d: len(css(d, 'tr[data-testid="schedule-row"]')) == 1100, "all 1,100 schedules", timeout=20)
        last = css(driver, 'tr[data-testid="schedule-row"]')[-1]
        assert "tick-1099" in last.text, last.text
        assert page_errors(driver) == []
    finally:
        if driver:
            driver.quit()
        server.stop()


def test_the_overview_asks_for_its_pages_activity_and_then_only_what_is_new():
    """/api/series once sent every active queue's hour in one document (3.2 MB at 10,000
    queues after three samples, megabytes again every 10 s). The overview asks for the queues
    on its page, then only for the points sampled since its last answer, and what it draws
    from those pieces is what a page opened afresh draws from the whole hour."""
    server = Docketd()
    driver = None
    stop = threading.Event()
    names = [f"act-{n:03}" for n in range(300)]

    def work():
        # Every queue starts and completes jobs between samples (one each 10 s).
        while not stop.is_set():
            _pipelined(server, [f"ENQ {n} 1\r\nx\r\n".encode() for n in names])
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            reader = sock.makefile("rb")
            reader.readline()
            sock.sendall(b'CONNECT {"verbose":false}\r\n' + b"".join(f"RESERVE {n} timeout=0\r\n".encode() for n in names))
            ids = []
            for _ in names:
                line = reader.readline().split()
                if line and line[0] == b"JOB":
                    ids.append(line[1])
                    reader.read(int(line[-1]) + 2)
            sock.sendall(b"".join(b"ACK " + i + b"\r\n" for i in ids))
            for _ in ids:
                reader.readline()
            sock.close()
            stop.wait(1)

    worker = threading.Thread(target=work, daemon=True)
    try:
        worker.start()
        # The page's first answer then holds an hour of more than one point a queue.
        wait(None, lambda _: len(_series(server).get("act-299", {}).get("t", [])) >= 2, "two samples of activity", timeout=40)
        driver = _browser()
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_LOADS})
        driver.get(server.url + "/#/")
        loads = lambda d: _loads(d, "/api/series")
        # The first answer and two polls after it (one every 10 s).
        wait(driver, lambda d: len([e for e in loads(d) if "since=" in e["url"] and e["bytes"] is not None]) >= 2,
             "two polls that ask only for what is new", timeout=45)
        for entry in loads(driver):
            assert "limit=250" in entry["url"] and "offset=0" in entry["url"], entry
        first = loads(driver)[0]
        later = [e for e in loads(driver) if "since=" in e["url"]]
        assert len(first["t"]) >= 2, first
        for entry in later:
            since = int(re.search(r"since=(\d+)", entry["url"]).group(1))
            assert since in first["t"] + sum((e["t"] for e in later), []), "a time the page holds"
            assert all(t > since for t in entry["t"]), entry
        whole = urllib.request.urlopen(server.url + "/api/series", timeout=10).read()
        assert first["bytes"] < len(whole), (first, len(whole))

        # What was put together from the pieces is what a fresh page draws, at the same samples.
        def drawn(d):
            spark = css(d, 'tr[data-queue="act-007"] [data-testid="spark"] polyline')
            chart = css(d, '[data-testid="chart-throughput"] polyline')
            return spark and chart and (spark[0].get_attribute("points"), [c.get_attribute("points") for c in chart])

        sampled = lambda: json.loads(urllib.request.urlopen(server.url + "/api/series?queue=act-007", timeout=10).read())["t"]
        for _ in range(5):
            polls = len(loads(driver))
            wait(driver, lambda d: len(ls := loads(d)) > polls and "since=" in ls[-1]["url"] and ls[-1]["bytes"] is not None,
                 "a poll for what is new", timeout=25)
            answered = loads(driver)[-1]["now"]
            pieced = wait(driver, drawn, "the sparkline and charts")
            driver.refresh()
            fresh = wait(driver, drawn, "the sparkline and charts of a fresh page", timeout=15)
            # Both drew the same samples if none was taken after the poll's answer.
            if sampled()[-1] <= answered:
                break
        else:
            raise AssertionError("a sample fell between the readings five times")
        assert pieced == fresh
        assert page_errors(driver) == []
    finally:
        stop.set()
        worker.join(10)
        if driver:
            driver.quit()
        server.stop()


def test_a_queues_charts_follow_its_activity_while_open():
    """Found driving the dashboard: a queue's charts were read once, as their panel opened, and
    then showed that moment for as long as the page stayed. They follow the queue's hour now
    (asking only for what is new), while open."""
    server = Docketd()
    driver = None
    stop = threading.Event()

    def work():
        while not stop.is_set():
            _pipelined(server, [b"ENQ charted 1\r\nx\r\n", b"RESERVE charted timeout=0\r\n"], reply=b"")
            stop.wait(0.5)

    worker = threading.Thread(target=work, daemon=True)
    try:
        worker.start()
        driver = _browser()
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_LOADS})
        driver.get(server.url + "/#/queue/charted")
        one(driver, "#queue-charts-panel summary").click()
        loads = lambda d: [e for e in _loads(d, "/api/series") if e["bytes"] is not None]
        wait(driver, lambda d: loads(d) and css(d, '#queue-charts [data-testid="chart-throughput"]'), "the charts drawn")
        drawn = lambda d: [p.get_attribute("points") for p in css(d, '#queue-charts [data-testid="chart-throughput"] polyline')]
        first = drawn(driver)
        wait(driver, lambda d: any("since=" in e["url"] for e in loads(d)), "a poll for the points sampled since", timeout=30)
        wait(driver, lambda d: drawn(d) != first, "the charts redrawn with the new sample")
        assert all("queue=charted" in e["url"] for e in loads(driver))
        assert page_errors(driver) == []
    finally:
        stop.set()
        worker.join(10)
        if driver:
            driver.quit()
        server.stop()
