"""The console in a real browser: Playwright driving Chromium through the local stack.

Run by TestConsole (browser_test.go), which starts the stack and sets the environment below;
not meant to be run alone. The tests are one operator's session, in order (pytest -x): each
step leaves the page where the next one starts, and writes a screenshot into ARTIFACTS_DIR.
"""

import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

ENV = os.environ
# CONSOLE_URL is the one the banner of `make dev` prints, signed in for DEFAULT_APP;
# APP_CONSOLE_URL opens it for APP_ID, the app of the events in EVENT_FILE.
CONSOLE_URL = ENV["CONSOLE_URL"]
DEFAULT_APP = ENV["DEFAULT_APP"]
APP_CONSOLE_URL = ENV["APP_CONSOLE_URL"]
ISSUER_URL = ENV["ISSUER_URL"]  # the local OpenID provider the console signs in with
API_URL = ENV["API_URL"]
APP_ID = ENV["APP_ID"]
APP_PLATFORM_ID = ENV["APP_PLATFORM_ID"]
OTHER_APP_ID = ENV["OTHER_APP_ID"]
OTHER_INTEGRATION_ID = ENV["OTHER_INTEGRATION_ID"]
OTHER_INTEGRATION_NAME = ENV["OTHER_INTEGRATION_NAME"]
HELPER_URL = ENV["HELPER_URL"]
EVENT_FILE = ENV["EVENT_FILE"]
ARTIFACTS = Path(ENV["ARTIFACTS_DIR"])
CHROMIUM = ENV["CHROMIUM"]
# Secrets: never printed (TestConsole also redacts them from pytest's output).
APP_TOKEN = ENV["APP_TOKEN"]
MP_KEY, MP_SECRET = ENV["MP_KEY"], ENV["MP_SECRET"]
MP_KEY2, MP_SECRET2 = ENV["MP_KEY2"], ENV["MP_SECRET2"]

# Playwright's own browser builds are not used: Debian's Chromium (CHROMIUM), headless, in a
# new empty profile (Playwright's launch makes one), with nothing reaching out to Google's
# services (a closed network refuses them, and they are requests this suite does not expect).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

EVENT_TYPES = [
    "device.impression", "device.transaction", "user.journey.trial.converted",
    "user.journey.trial.did_not_convert", "user.journey.trial.started",
    "user.subscription.cancelled", "user.subscription.expired",
    "user.subscription.in_grace_period", "user.subscription.paused",
    "user.subscription.purchased", "user.subscription.renewal_in_grace_period",
    "user.subscription.renewed", "user.subscription.resumed",
]
COLUMNS = ["Name", "Platform", "Enabled", "Health", "Last 24 h", "Actions"]
XSS_NAME = "<img src=x onerror=alert(1)>"

# Generous waits: the suite runs beside the other packages' tests (go test ./... -race) on two
# cores. A step that really fails still fails, only later.
expect.set_options(timeout=15_000)

# What one step hands the next.
state = {}
shot_counter = [0]


# --- the browser and what it saw ---------------------------------------------------------

class Watch:
    """Everything a page did that the suite checks: console errors (CSP violations among
    them), uncaught exceptions, dialogs, and every request it sent."""

    def __init__(self):
        self.errors = []
        self.dialogs = []
        self.requests = []

    def attach(self, page):
        page.on("console", lambda m: m.type == "error" and self.errors.append("console: " + m.text))
        page.on("pageerror", lambda e: self.errors.append("exception: " + str(e)))

        def on_dialog(d):
            self.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        page.on("dialog", on_dialog)
        page.on("request", lambda r: self.requests.append((r.method, r.url)))
        # A CSP violation is also a console error in Chromium; the event names the directive.
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e =>"
            " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_console(browser, width, height, url=APP_CONSOLE_URL):
    ctx = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    watch = Watch()
    watch.attach(page)
    page.goto(url)
    return ctx, page, watch


@pytest.fixture(scope="module")
def desk(browser):
    ctx, page, watch = open_console(browser, 1280, 800, url=CONSOLE_URL)
    yield page, watch
    ctx.close()


def shot(page, name):
    shot_counter[0] += 1
    page.screenshot(path=str(ARTIFACTS / f"{shot_counter[0]:02d}-{name}.png"), full_page=True)


def assert_clean(page, watch):
    """No console error, exception or dialog so far, and nothing of the other app shown."""
    assert watch.errors == [], "the page logged errors:\n" + "\n".join(watch.errors)
    assert watch.dialogs == [], "the page opened dialogs: " + "; ".join(watch.dialogs)
    assert OTHER_INTEGRATION_NAME not in page.content(), "another app's integration is shown"


# --- the page, by its accessible names ----------------------------------------------------

def rows(page):
    return page.locator("table:has(caption:text-is('Integrations')) tbody tr")


def row_by_name(page, name):
    return rows(page).filter(has=page.get_by_role("button", name=f"Edit {name}", exact=True))


def cell(row, column):
    return row.locator(":scope > td, :scope > th").nth(COLUMNS.index(column))


def wait_idle(page):
    """Until the page has drawn what it loaded: no request in flight, Refresh usable again."""
    page.wait_for_load_state("networkidle")
    refresh = page.get_by_role("button", name="Refresh", exact=True)
    if refresh.is_visible():
        expect(refresh).to_be_enabled()


def api(method, path, token=APP_TOKEN):
    req = urllib.request.Request(API_URL + path, method=method, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def integration_path(app, iid=""):
    p = f"/v1/apps/{urllib.parse.quote(app, safe='')}/integrations/mparticle"
    return p + (f"/{urllib.parse.quote(iid, safe='')}" if iid else "")


def fill_new_integration(page, name, platform_id, key, secret, events=None):
    """The doc's steps: Enable Integration on, only the selected platform, the platform, a
    Name, the Server to Server Key and Secret, the Customer ID, then the events."""
    page.get_by_role("button", name="Add integration", exact=True).click()
    form = page.locator("form").filter(has=page.get_by_role("button", name="Add New Integration"))
    expect(form).to_be_visible()
    form.get_by_label("Enable integration", exact=True).check()
    form.get_by_role("group", name="Send events from").get_by_label("Only the selected platform").check()
    form.get_by_label("Platform", exact=True).select_option(label="iOS")
    form.get_by_label("App platform ID", exact=True).fill(platform_id)
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Server to Server Key", exact=True).fill(key)
    form.get_by_label("Server to Server Secret", exact=True).fill(secret)
    form.get_by_label("Customer ID", exact=True).select_option(label="External ID")
    group = form.get_by_role("group", name="Events")
    if events is None:
        group.get_by_role("button", name="Select all").click()
    else:
        group.get_by_role("button", name="Select none").click()
        for e in events:
            group.get_by_label(e, exact=True).check()
    return form


# --- the steps ------------------------------------------------------------------------------

def signed_in_line(page, app):
    return page.get_by_text(re.compile(r"(^|\s)App " + re.escape(app) + r"\s*$"))


def test_a_signed_in(desk):
    """The console URL of `make dev` signs in by itself for the default app; "Switch app"
    signs in again for the events' app."""
    page, watch = desk
    expect(page.get_by_role("heading", name="mParticle integrations", level=1)).to_be_visible()
    expect(signed_in_line(page, DEFAULT_APP)).to_be_visible()
    # A new app has no integration yet: the page says so instead of an empty table.
    expect(page.get_by_text(re.compile("No mParticle integrations yet"))).to_be_visible()
    wait_idle(page)
    shot(page, "signed-in")
    if DEFAULT_APP != APP_ID:
        switch = page.get_by_role("form", name="Switch app")
        switch.get_by_label("App ID", exact=True).fill(APP_ID)
        switch.get_by_role("button", name="Switch", exact=True).click()
        expect(signed_in_line(page, APP_ID)).to_be_visible()
        expect(page.get_by_role("button", name="Add integration", exact=True)).to_be_visible()
        wait_idle(page)
        shot(page, "switched-app")
    assert_clean(page, watch)


def test_b_create_ios_integration(desk):
    page, watch = desk
    name = "iOS feed"
    form = fill_new_integration(page, name, APP_PLATFORM_ID, MP_KEY, MP_SECRET)
    group = form.get_by_role("group", name="Events")
    for e in EVENT_TYPES:
        expect(group.get_by_label(e, exact=True)).to_be_checked()
    shot(page, "create-form")
    form.get_by_role("button", name="Add New Integration").click()
    row = row_by_name(page, name)
    expect(row).to_have_count(1)
    expect(page.get_by_role("table", name="Integrations")).to_be_visible()
    assert [t.strip() for t in page.locator("table thead th").all_inner_texts()] == COLUMNS
    state["id"] = row.get_attribute("data-id")
    assert state["id"], "the row has no data-id"
    expect(cell(row, "Name")).to_have_text(name)
    expect(cell(row, "Platform").locator("span").first).to_have_text("iOS")
    expect(cell(row, "Platform")).to_contain_text(APP_PLATFORM_ID)
    expect(cell(row, "Enabled")).to_have_text(re.compile(r"^\s*(Yes|On|Enabled)\s*$", re.I))
    wait_idle(page)
    # The key and secret are never shown, nor kept in the page once saved.
    values = page.evaluate("() => [...document.querySelectorAll('input')].map(i => i.value).join(' ')")
    text = page.evaluate("() => document.body.innerText") + page.content() + values
    assert MP_KEY not in text and MP_SECRET not in text, "the key or secret is shown or kept in the page"
    status, got = api("GET", integration_path(APP_ID, state["id"]))
    assert status == 200 and got["platform"] == "ios" and got["enabled"] is True
    assert got["app_platform_id"] == APP_PLATFORM_ID and got["customer_id_source"] == "external_id"
    assert sorted(got["events"]) == sorted(EVENT_TYPES)
    assert got["credentials"]["key_hint"] == MP_KEY[-4:]
    shot(page, "created")
    assert_clean(page, watch)


def test_c_event_reflected_in_status(desk):
    page, watch = desk
    req = urllib.request.Request(f"{HELPER_URL}/send?file={urllib.parse.quote(EVENT_FILE)}", method="POST")
    with urllib.request.urlopen(req, timeout=20) as resp:
        assert json.load(resp)["sent"] >= 1
    # Wait until the Forwarder delivered it, as the API reports (what the page shows).
    deadline = time.monotonic() + 30
    while True:
        status, got = api("GET", integration_path(APP_ID, state["id"]))
        assert status == 200
        if (got.get("delivery_status") or {}).get("last_24h", {}).get("delivered", 0) >= 1:
            break
        assert time.monotonic() < deadline, f"not delivered within 30 s: {got.get('delivery_status')}"
        time.sleep(0.5)
    page.get_by_role("button", name="Refresh", exact=True).click()
    row = page.locator(f"tbody tr[data-id='{state['id']}']")
    expect(cell(row, "Last 24 h")).to_contain_text(re.compile(r"\b[1-9]\d*\s+delivered", re.I))
    wait_idle(page)
    shot(page, "event-delivered")
    assert_clean(page, watch)


def test_d_edit_and_validation(desk):
    page, watch = desk
    page.get_by_role("button", name="Edit iOS feed", exact=True).click()
    form = page.locator("form").filter(has=page.get_by_role("button", name="Save changes"))
    expect(form).to_be_visible()
    name_field = form.get_by_label("Name", exact=True)
    expect(name_field).to_have_value("iOS feed")
    expect(form).to_contain_text(MP_KEY[-4:])  # the key hint, never the key
    expect(form.get_by_label("Server to Server Key", exact=True)).to_have_value("")
    # An empty name: the message is next to the field, and focus goes there.
    name_field.fill("   ")
    form.get_by_role("button", name="Save changes").click()
    error = page.locator("#name-error")
    expect(error).not_to_be_empty()
    expect(error).to_be_visible()
    expect(name_field).to_be_focused()
    expect(name_field).to_have_attribute("aria-invalid", "true")
    shot(page, "edit-validation")
    # Then a real change.
    name_field.fill("iOS production feed")
    form.get_by_label("Customer ID", exact=True).select_option(label="Nami User ID")
    shot(page, "edit-form")
    form.get_by_role("button", name="Save changes").click()
    row = row_by_name(page, "iOS production feed")
    expect(row).to_have_count(1)
    expect(row_by_name(page, "iOS feed")).to_have_count(0)
    status, got = api("GET", integration_path(APP_ID, state["id"]))
    assert status == 200 and got["name"] == "iOS production feed" and got["customer_id_source"] == "nami_user_id"
    state["name"] = "iOS production feed"
    wait_idle(page)
    shot(page, "edited")
    assert_clean(page, watch)


def test_e_send_test_event(desk):
    page, watch = desk
    page.get_by_role("button", name=f"Send test event {state['name']}", exact=True).click()
    verdict = page.get_by_role("status").filter(has_text="Test event:")
    expect(verdict).to_be_visible()
    expect(verdict).to_contain_text(re.compile(r"^\s*Test event: delivered\b"))
    # A delivered test event marks the integration healthy, and the list shows it.
    row = page.locator(f"tbody tr[data-id='{state['id']}']")
    expect(cell(row, "Health")).to_have_text(re.compile(r"^\s*OK\b"))
    assert api("GET", integration_path(APP_ID, state["id"]))[1]["status"]["health"] == "ok"
    wait_idle(page)
    shot(page, "test-event")
    # The README's picture of the console (shared/console/console.png is a copy): the page
    # down to the table.
    box = page.get_by_role("table", name="Integrations").bounding_box()
    page.screenshot(path=str(ARTIFACTS / "console.png"),
                    clip={"x": 0, "y": 0, "width": 1280, "height": box["y"] + box["height"] + 24})
    assert_clean(page, watch)


def test_f_rotate_credentials(desk):
    page, watch = desk
    page.get_by_role("button", name=f"Edit {state['name']}", exact=True).click()
    form = page.locator("form").filter(has=page.get_by_role("button", name="Save changes"))
    rotate = form.get_by_role("group", name=re.compile("Rotate credentials"))
    expect(rotate).to_be_visible()
    rotate.get_by_label(re.compile("Server to Server Key")).fill(MP_KEY2)
    rotate.get_by_label(re.compile("Server to Server Secret")).fill(MP_SECRET2)
    shot(page, "rotate-form")
    form.get_by_role("button", name="Save changes").click()
    expect(row_by_name(page, state["name"])).to_have_count(1)
    status, got = api("GET", integration_path(APP_ID, state["id"]))
    assert status == 200 and got["credentials"]["key_hint"] == MP_KEY2[-4:]
    # The edit form shows the new hint.
    page.get_by_role("button", name=f"Edit {state['name']}", exact=True).click()
    form = page.locator("form").filter(has=page.get_by_role("button", name="Save changes"))
    expect(form).to_contain_text(MP_KEY2[-4:])
    expect(form).not_to_contain_text(MP_KEY[-4:])
    shot(page, "rotated")
    form.get_by_role("button", name="Cancel").click()
    expect(row_by_name(page, state["name"])).to_have_count(1)
    text = page.content() + page.evaluate("() => [...document.querySelectorAll('input')].map(i => i.value).join(' ')")
    assert MP_KEY2 not in text and MP_SECRET2 not in text
    assert_clean(page, watch)


def test_g_disable_enable(desk):
    page, watch = desk
    name = state["name"]
    row = page.locator(f"tbody tr[data-id='{state['id']}']")
    page.get_by_role("button", name=f"Disable {name}", exact=True).click()
    expect(cell(row, "Enabled")).to_have_text(re.compile(r"^\s*(No|Off|Disabled)\s*$", re.I))
    expect(page.get_by_role("button", name=f"Enable {name}", exact=True)).to_be_visible()
    assert api("GET", integration_path(APP_ID, state["id"]))[1]["enabled"] is False
    shot(page, "disabled")
    page.get_by_role("button", name=f"Enable {name}", exact=True).click()
    expect(cell(row, "Enabled")).to_have_text(re.compile(r"^\s*(Yes|On|Enabled)\s*$", re.I))
    expect(page.get_by_role("button", name=f"Disable {name}", exact=True)).to_be_visible()
    assert api("GET", integration_path(APP_ID, state["id"]))[1]["enabled"] is True
    shot(page, "enabled")
    assert_clean(page, watch)


def test_h_delete_with_confirmation(desk):
    page, watch = desk
    name = state["name"]
    page.get_by_role("button", name=f"Delete {name}", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"Delete {name}?")
    expect(dialog).to_be_visible()
    shot(page, "delete-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(row_by_name(page, name)).to_have_count(1)
    page.get_by_role("button", name=f"Delete {name}", exact=True).click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(row_by_name(page, name)).to_have_count(0)
    expect(page.locator(f"tbody tr[data-id='{state['id']}']")).to_have_count(0)
    assert api("GET", integration_path(APP_ID, state["id"]))[0] == 404
    shot(page, "deleted")
    assert_clean(page, watch)


def test_i_markup_in_a_name_is_text(desk):
    page, watch = desk
    form = fill_new_integration(page, XSS_NAME, "xss-platform-1", MP_KEY, MP_SECRET,
                                events=["user.subscription.purchased"])
    form.get_by_role("button", name="Add New Integration").click()
    row = row_by_name(page, XSS_NAME)
    expect(row).to_have_count(1)
    expect(cell(row, "Name")).to_have_text(XSS_NAME)
    assert page.locator("img").count() == 0, "markup in a name became an element"
    wait_idle(page)
    page.wait_for_timeout(300)  # an onerror handler would have run by now
    assert watch.dialogs == [], "a dialog opened: " + "; ".join(watch.dialogs)
    assert page.locator("img").count() == 0
    shot(page, "markup-as-text")
    assert_clean(page, watch)


def test_j_requests_stay_on_documented_routes(desk):
    page, watch = desk
    # The API itself refuses the demo app's token for the other app's integration.
    assert api("GET", integration_path(OTHER_APP_ID, OTHER_INTEGRATION_ID))[0] == 404
    # Every request the page sent went to its own /v1 routes for its own app, its own files,
    # or the issuer: no private route, no other app.
    own = re.compile(
        r"^/console(/[A-Za-z0-9._-]+)?$|^/v1/event-types$|"
        r"^/v1/apps/(" + "|".join(re.escape(urllib.parse.quote(a, safe="")) for a in {APP_ID, DEFAULT_APP}) +
        r")/integrations/mparticle(/[A-Za-z0-9_-]+(/test)?)?$")
    console = urllib.parse.urlsplit(CONSOLE_URL)
    issuer = urllib.parse.urlsplit(ISSUER_URL)
    bad = []
    for method, url in watch.requests:
        u = urllib.parse.urlsplit(url)
        if u.scheme == "data":
            continue
        if (u.scheme, u.netloc) == (issuer.scheme, issuer.netloc):
            continue
        if (u.scheme, u.netloc) != (console.scheme, console.netloc) or not own.match(u.path):
            bad.append(f"{method} {url}")
    assert bad == [], "requests outside the console's routes:\n" + "\n".join(bad)
    # The watch saw the whole session: the sign-in at the issuer and the API calls.
    assert any(urllib.parse.urlsplit(u).path.startswith("/v1/apps/") for _, u in watch.requests)
    assert any(urllib.parse.urlsplit(u).netloc == issuer.netloc for _, u in watch.requests)
    assert OTHER_INTEGRATION_NAME not in page.content()
    assert_clean(page, watch)


def test_j_switch_to_an_app_without_rights(browser):
    """Deployed, the issuer signs the user in with their own rights, whatever app the
    console asks for: played here by sending the local provider the user's own app instead
    of the other one. The console must then show the API's refusal, and nothing of the
    other app."""
    ctx, page, watch = open_console(browser, 1280, 800)
    try:
        expect(signed_in_line(page, APP_ID)).to_be_visible()
        expect(row_by_name(page, XSS_NAME)).to_have_count(1)

        def own_rights_only(route):
            u = urllib.parse.urlsplit(route.request.url)
            q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
            if q.get("login_hint") == [OTHER_APP_ID]:
                q["login_hint"] = [APP_ID]
                route.continue_(url=urllib.parse.urlunsplit(u._replace(query=urllib.parse.urlencode(q, doseq=True))))
            else:
                route.continue_()

        page.route(re.compile("^" + re.escape(ISSUER_URL.rstrip("/")) + "/.*[?&]login_hint="), own_rights_only)
        switch = page.get_by_role("form", name="Switch app")
        switch.get_by_label("App ID", exact=True).fill(OTHER_APP_ID)
        switch.get_by_role("button", name="Switch", exact=True).click()
        expect(signed_in_line(page, OTHER_APP_ID)).to_be_visible()
        expect(page.get_by_role("alert")).to_contain_text(re.compile("No access to app|not found|does not grant", re.I))
        expect(rows(page)).to_have_count(0)
        wait_idle(page)
        assert OTHER_INTEGRATION_NAME not in page.content()
        assert OTHER_INTEGRATION_ID not in page.content()
        shot(page, "other-app-refused")
        # Chromium logs the API's 404 as a failed resource (which also shows the watch
        # hears console errors); anything else is an error.
        refused = [e for e in watch.errors if "status of 404" in e]
        assert refused, "no 404 reached the page: the other app was not asked for"
        watch.errors = [e for e in watch.errors if e not in refused]
        assert_clean(page, watch)
    finally:
        ctx.close()


def test_k_accessibility(desk):
    page, watch = desk
    axe = Axe()

    def serious(where):
        res = axe.run(page)
        bad = [v for v in res.response["violations"] if v.get("impact") in ("serious", "critical")]
        return [f"{where}: {v['id']} ({v['impact']}): {v['help']} — " +
                "; ".join(n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
                          for n in v["nodes"][:5]) for v in bad]

    found = serious("list")
    page.get_by_role("button", name="Add integration", exact=True).click()
    form = page.locator("form").filter(has=page.get_by_role("button", name="Add New Integration"))
    expect(form).to_be_visible()
    form.get_by_role("button", name="Add New Integration").click()  # with its field errors shown
    expect(page.locator("#name-error")).not_to_be_empty()
    found += serious("form")
    shot(page, "form-errors")
    form.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("table", name="Integrations")).to_be_visible()
    page.get_by_role("button", name=f"Delete {XSS_NAME}", exact=True).click()
    dialog = page.get_by_role("dialog", name=f"Delete {XSS_NAME}?")
    expect(dialog).to_be_visible()
    found += serious("delete dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert found == [], "axe-core: serious or critical violations:\n" + "\n".join(found)
    assert_clean(page, watch)


def test_l_narrow_screen(browser):
    ctx, page, watch = open_console(browser, 360, 740)
    try:
        expect(signed_in_line(page, APP_ID)).to_be_visible()
        expect(cell(row_by_name(page, XSS_NAME), "Name")).to_have_text(XSS_NAME)
        wait_idle(page)
        width = page.evaluate("() => document.scrollingElement.scrollWidth")
        assert width <= 361, f"the list scrolls sideways at 360 px: {width} px wide"
        shot(page, "narrow-list")
        page.get_by_role("button", name="Add integration", exact=True).click()
        expect(page.get_by_role("button", name="Add New Integration")).to_be_visible()
        width = page.evaluate("() => document.scrollingElement.scrollWidth")
        assert width <= 361, f"the form scrolls sideways at 360 px: {width} px wide"
        shot(page, "narrow-form")
        assert_clean(page, watch)
    finally:
        ctx.close()


def focused(page):
    return page.evaluate("""() => {
        const e = document.activeElement;
        const label = e.labels && e.labels.length ? e.labels[0].textContent.trim()
            : (e.getAttribute('aria-label') || e.textContent || '').trim();
        return {tag: e.tagName.toLowerCase(), type: e.type || '', label: label, checked: !!e.checked};
    }""")


def tab_to(page, label, limit=120):
    """Presses Tab until the focused control's label is label (it may already be)."""
    f = focused(page)
    for _ in range(limit):
        if f["label"] == label:
            return f
        page.keyboard.press("Tab")
        f = focused(page)
    raise AssertionError(f"Tab never reached {label!r}")


def test_m_keyboard_only(browser):
    ctx, page, watch = open_console(browser, 1280, 800)
    try:
        expect(signed_in_line(page, APP_ID)).to_be_visible()
        wait_idle(page)
        tab_to(page, "Add integration")
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name="Add New Integration")).to_be_visible()
        if not tab_to(page, "Enable integration")["checked"]:
            page.keyboard.press("Space")
        expect(page.get_by_label("Enable integration", exact=True)).to_be_checked()
        tab_to(page, "Only the selected platform")
        page.keyboard.press("Space")
        for label, value in (("App platform ID", "keyboard-platform-1"),):
            tab_to(page, label)
            page.keyboard.type(value)
        tab_to(page, "Platform")
        page.keyboard.type("iOS")
        expect(page.get_by_label("Platform", exact=True)).to_have_value("ios")
        for label, value in (("Name", "Keyboard feed"), ("Server to Server Key", MP_KEY),
                             ("Server to Server Secret", MP_SECRET)):
            tab_to(page, label)
            page.keyboard.type(value)
        tab_to(page, "Customer ID")
        page.keyboard.type("External")
        expect(page.get_by_label("Customer ID", exact=True)).to_have_value("external_id")
        tab_to(page, "Select all")
        page.keyboard.press("Space")
        expect(page.get_by_label("user.subscription.purchased", exact=True)).to_be_checked()
        shot(page, "keyboard-form")
        tab_to(page, "Add New Integration")
        page.keyboard.press("Enter")
        expect(row_by_name(page, "Keyboard feed")).to_have_count(1)
        wait_idle(page)
        shot(page, "keyboard-created")
        assert_clean(page, watch)
    finally:
        ctx.close()
