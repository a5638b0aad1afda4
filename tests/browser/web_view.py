"""Drives headless Chromium through the job service's web view, as a person would use it.

Run by tests/tests/distributed/web_view.rs, which starts a service that requires tokens,
submits a rejected job, and submits a long job once this script prints READY. The script logs
in, watches the long job's page while it runs, then checks what each page shows, and saves a
screenshot of each page under OUT. Any failed check exits non-zero with what was seen.

    web_view.py BASE_URL TOKEN RUNNING_JOB ROWS LEAVES REJECTED_JOB REJECTION_WORDS TABLE OUT
"""
import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

base, token, running_job, rows, leaves, rejected_job, rejection_words, table, out = sys.argv[1:]
rows, leaves = int(rows), int(leaves)
os.makedirs(out, exist_ok=True)


def check(condition, what):
    if not condition:
        sys.exit(f"web view check failed: {what}")


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1400"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)


def text(driver, element_id):
    """The element's text, or None while the page is being replaced."""
    try:
        return driver.find_element(By.ID, element_id).text
    except (StaleElementReferenceException, WebDriverException):
        return None


def attribute(driver, element_id, name):
    """The element's attribute, or None while the page is being replaced."""
    try:
        return driver.find_element(By.ID, element_id).get_attribute(name)
    except (StaleElementReferenceException, WebDriverException):
        return None


def wait_for(what, condition, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if condition():
                return
        except (StaleElementReferenceException, WebDriverException):
            pass
        time.sleep(0.1)
    sys.exit(f"web view check failed: timed out waiting for {what}")


def shot(driver, name):
    driver.save_screenshot(os.path.join(out, f"{name}.png"))


def number(s):
    return int(s.replace(",", "")) if s and s.replace(",", "").isdigit() else None


driver = browser()
try:
    # Without a session every page leads to the login form; a wrong token is refused.
    driver.get(f"{base}/jobs")
    check(driver.current_url.endswith("/login"), f"/jobs without a token led to {driver.current_url}")
    shot(driver, "login")
    driver.find_element(By.ID, "token").send_keys("not-the-token-at-all")
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # The form posts and the refusal is a new page: read it once it has loaded.
    wait_for("the wrong token to be refused", lambda: "not valid" in (text(driver, "login-error") or ""))
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for("the jobs page after logging in", lambda: driver.current_url.endswith("/jobs"))
    check(token not in driver.current_url, "the token appeared in a URL")
    print("READY", flush=True)

    # The job appears in the listing.
    def listed():
        driver.get(f"{base}/jobs")
        return driver.find_elements(By.CSS_SELECTOR, f'tr[data-job="{running_job}"]')
    wait_for("the running job to be listed", listed)

    # Its page follows its progress without being reloaded: the rows written move.
    driver.get(f"{base}/jobs/{running_job}")
    seen = []
    deadline = time.time() + 180
    screenshot_taken = False
    while time.time() < deadline:
        state = attribute(driver, "status", "data-status")
        written = number(text(driver, "rows-written"))
        if written is not None and (not seen or seen[-1] != written):
            seen.append(written)
        if not screenshot_taken and written and 0 < written < rows:
            shot(driver, "job-running")
            screenshot_taken = True
        if state == "FINISHED" and attribute(driver, "rows-per-leaf", "data-bars"):
            break
        time.sleep(0.05)
    print("rows written seen on the job page:", seen, flush=True)
    moving = [w for w in seen if 0 < w < rows]
    check(len(moving) >= 1, f"no progress between 0 and {rows} rows was shown while the job ran: {seen}")
    check(len(set(seen)) >= 3, f"the progress did not move on the page: {seen}")
    check(seen == sorted(seen), f"the progress went backwards: {seen}")

    # Finished: one bar per leaf, the bars add up to the rows, the plan has its metrics.
    status = driver.find_element(By.ID, "status").get_attribute("data-status")
    check(status == "FINISHED", f"the job ended {status}")
    check(number(text(driver, "rows-written")) == rows, f"the page shows {text(driver, 'rows-written')} rows written, not {rows}")
    bars = driver.find_elements(By.CSS_SELECTOR, "svg#rows-per-leaf rect.bar")
    check(len(bars) == leaves, f"the chart has {len(bars)} bars for {leaves} leaves")
    check(sum(int(b.get_attribute("data-value")) for b in bars) == rows, "the bars do not add up to the rows written")
    check(all(int(b.get_attribute("data-value")) > 0 for b in bars), "a leaf has no rows: the data spans every leaf")
    plan = text(driver, "plan")
    check(plan and "PartitionFileWriterExec" in plan and "rows_written" in plan, f"no plan with metrics: {plan!r}")
    events = driver.find_elements(By.CSS_SELECTOR, "#events tbody tr")
    check(len(events) >= 3, f"only {len(events)} events on the timeline")
    shot(driver, "job-finished")

    # A rejected job shows its reasons in full.
    driver.get(f"{base}/jobs/{rejected_job}")
    reasons = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "li.rejection-reason")]
    check(any(rejection_words in r for r in reasons), f"the rejection reasons {reasons} do not say {rejection_words!r}")
    check(driver.find_element(By.ID, "status").get_attribute("data-status") == "REJECTED", "the rejected job is not shown REJECTED")
    shot(driver, "job-rejected")

    # The listing filters by status.
    driver.get(f"{base}/jobs?status=REJECTED")
    listed = [r.get_attribute("data-job") for r in driver.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")]
    check(listed == [rejected_job], f"REJECTED jobs listed: {listed}")
    driver.get(f"{base}/jobs")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")) == 2, "the listing does not hold both jobs")
    shot(driver, "jobs")

    # The tables, and the table's leaves with its rows.
    driver.get(f"{base}/tables")
    check(driver.find_elements(By.LINK_TEXT, table), f"the table {table} is not listed")
    shot(driver, "tables")
    driver.find_element(By.LINK_TEXT, table).click()
    wait_for("the table's page", lambda: text(driver, "leaf-count") is not None)
    check(number(text(driver, "leaf-count")) == leaves, f"the table page shows {text(driver, 'leaf-count')} leaves")
    check(number(text(driver, "row-count")) == rows, f"the table page shows {text(driver, 'row-count')} rows")
    check(len(driver.find_elements(By.CSS_SELECTOR, "svg#rows-per-leaf rect.bar")) == leaves, "the table's chart is not one bar per leaf")
    check(len(driver.find_elements(By.CSS_SELECTOR, "#leaves tbody tr")) == leaves, "the table does not list every leaf")
    shot(driver, "table")

    # Logging out ends the session.
    driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
    driver.get(f"{base}/tables")
    check(driver.current_url.endswith("/login"), "the session outlived logging out")
    print("web view checks passed; screenshots in", out, flush=True)
finally:
    driver.quit()
