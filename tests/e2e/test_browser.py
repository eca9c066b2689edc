"""mixpanel-browser, unmodified, in headless Chromium against a live trackyard.

The SDK's built file (`dist/mixpanel.umd.js`, what a bundler gets from
`import mixpanel from "mixpanel-browser"`) and `browser/index.html` are served
by a second loopback HTTP server, so the page's origin is not trackyard's and
every request the SDK makes is cross-origin: a credentialed XHR, or a
`sendBeacon` while the page unloads. Because trackyard's host is not
`*.mixpanel.com`, the SDK sends base64 payloads (mixpanel-behavior.md §17).

The page records what its JavaScript sees of each XHR and keeps a log of
`sendBeacon` calls (see the page's script); Playwright records the wire side.
Chromium is Debian's (`/usr/bin/chromium`): a browser is never downloaded.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from playwright.sync_api import Browser, Page, Request

from tests.chromium import ARTIFACTS, chromium
from tests.live_server import LiveServer, live_server

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

REPO = Path(__file__).resolve().parents[2]
SDK_DIR = REPO / "tests/e2e/node/node_modules/mixpanel-browser"
SDK_FILE = SDK_DIR / "dist/mixpanel.umd.js"
PAGE_FILE = Path(__file__).parent / "browser/index.html"
SERVER_STAMPS = ("$mp_api_timestamp_ms", "mp_processing_time_ms")
LAST_SEEN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
USER_ID = "user-42"

# Six `~` and six `?` in a row: whatever their offset in the JSON, the base64
# of the batch holds a `+` and a `/`, which the SDK must percent-encode (§2.1).
PAGE_VIEW = {
    "title": "Zoë's café — 日本語 ✓",
    "signs": "~~~~~~ ??????",
    "count": 1,
    "price": 9.99,
    "labels": ["Ünï", "東京"],
    "nested": {"ok": True, "none": None},
}
SIGN_IN = {"method": "password", "remember": False}
ANONYMOUS_SET = {"favourite drink": "café ☕"}
USER_SET = {"plan": "pro", "name": "Zoë Ünïcode"}
GROUP_SET = {"name": "Acme — Ünïcode", "seats": 10}
BEACON_EVENTS = [
    ("Checkout Started", {"cart": ["sku-1", "sku-2"], "total": 42.5}),
    ("Coupon Applied", {"code": "ÉTÉ ~~~~~~ ??????", "percent": 15}),
    ("Left Page", {"reason": "navigation"}),
]

# The SDK's queues in localStorage (mixpanel-core.js `get_batcher_configs`).
SDK_IDLE = """token => window.trackyardPage.inFlight === 0 && ["ev", "pp", "gr"].every(
    q => (JSON.parse(localStorage.getItem(`__mpq_${token}_${q}`)) || []).length === 0)"""
QUEUED_EVENTS = "token => (JSON.parse(localStorage.getItem(`__mpq_${token}_ev`)) || []).length"


@contextmanager
def static_site(files: dict[str, tuple[Path, str]]) -> Iterator[str]:
    """Serve `files` ({path: (file, content type)}) on a loopback port; yield the origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = files.get(urlsplit(self.path).path)
            if found is None:
                self.send_error(404)
                return
            body = found[0].read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", found[1])
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium((SDK_FILE, "mixpanel-browser", "`make e2e-deps` installs it")) as launched:
        yield launched


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as server:
        yield server


@pytest.fixture
def site() -> Iterator[str]:
    page = (PAGE_FILE, "text/html; charset=utf-8")
    with static_site(
        {"/": page, "/index.html": page, "/mixpanel.umd.js": (SDK_FILE, "text/javascript")}
    ) as origin:
        yield origin


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 720})
    try:
        yield context.new_page()
    finally:
        context.close()


def record_requests(page: Page, prefix: str) -> list[Request]:
    """Requests the page makes to URLs starting with `prefix`, as Chromium sends them."""
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if r.url.startswith(prefix) else None)
    return requests


def wait_until(page: Page, condition: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    """Poll `condition` until it is truthy; Playwright delivers its events meanwhile."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        page.wait_for_timeout(50)
    return value


def records_in(form_body: str) -> list[dict[str, Any]]:
    """The records of a `data=<percent-encoded base64 of JSON>` body, decoded strictly:
    an un-encoded `+` would come out of the form parser as a space and fail here."""
    fields = parse_qs(form_body, keep_blank_values=True, strict_parsing=True)
    assert list(fields) == ["data"], form_body
    (payload,) = fields["data"]
    records = orjson.loads(base64.b64decode(payload, validate=True))
    assert isinstance(records, list)
    return records


def as_stored(sent: dict[str, Any]) -> dict[str, Any]:
    """What trackyard keeps of an event the SDK sent: no token, time in integer ms."""
    properties = {k: v for k, v in sent["properties"].items() if k != "token"}
    properties["time"] = round(properties["time"] * 1000)
    return {"event": sent["event"], "properties": properties}


def without_stamps(event: dict[str, Any], since_ms: int) -> dict[str, Any]:
    """`event` without the receive-time stamps trackyard adds, after checking them."""
    properties = dict(event["properties"])
    for key in SERVER_STAMPS:
        assert since_ms <= properties.pop(key) <= time.time() * 1000, key
    return {"event": event["event"], "properties": properties}


def by_insert_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["properties"]["$insert_id"]: e for e in events}


def without_last_seen(profile: dict[str, Any] | None) -> dict[str, Any]:
    assert profile is not None
    profile = dict(profile)
    assert LAST_SEEN.fullmatch(profile.pop("$last_seen"))
    return profile


def sdk_version() -> str:
    version = orjson.loads((SDK_DIR / "package.json").read_bytes())["version"]
    assert isinstance(version, str)
    return version


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_sdk_batches_reach_trackyard_cross_origin(
    server: LiveServer, site: str, page: Page, browser: Browser
) -> None:
    """Events, user profile operations and a group profile, sent by the SDK's
    batchers as credentialed cross-origin XHRs, arrive exactly as sent."""
    token = server.project["token"]
    started_ms = int(time.time() * 1000)
    wire = record_requests(page, server.url + "/")
    page.goto(site + "/")
    ids = page.evaluate(
        """async ({token, apiHost, pageView, signIn, anonymousSet, userSet, groupSet, userId}) => {
            const errors = (window.sdkErrors = []);
            // Batched calls take a callback that runs once the record is queued.
            const queued = (call) => new Promise((resolve) => call(resolve));
            mixpanel.init(token, {
                api_host: apiHost, batch_requests: true, batch_flush_interval_ms: 100,
                debug: false, error_reporter: (message) => errors.push(String(message)),
            });
            await queued((done) => mixpanel.track("Page Viewed", pageView, done));
            mixpanel.people.set(anonymousSet);  // held by the SDK until identify()
            const anonymousId = mixpanel.get_distinct_id();
            mixpanel.identify(userId);
            await queued((done) => mixpanel.people.set(userSet, done));
            await queued((done) => mixpanel.people.increment("logins", 1, done));
            await queued((done) => mixpanel.people.increment("logins", 2, done));
            await queued((done) => mixpanel.people.union("tags", ["a", "b"], done));
            await queued((done) => mixpanel.people.union("tags", ["b", "c"], done));
            await queued((done) => mixpanel.set_group("company", "acme", done));
            const acme = mixpanel.get_group("company", "acme");
            await queued((done) => acme.set(groupSet, done));
            await queued((done) => mixpanel.track("Signed In", signIn, done));
            return {anonymousId, deviceId: mixpanel.get_property("$device_id")};
        }""",
        {
            "token": token,
            "apiHost": server.url,
            "pageView": PAGE_VIEW,
            "signIn": SIGN_IN,
            "anonymousSet": ANONYMOUS_SET,
            "userSet": USER_SET,
            "groupSet": GROUP_SET,
            "userId": USER_ID,
        },
    )
    wait_until(
        page,
        lambda: page.evaluate(SDK_IDLE, token) and len(server.events()) == 3,
        "the SDK's queues to drain into trackyard",
    )
    screenshot(page, "browser-sdk.png")
    device_id = ids["deviceId"]
    assert ids["anonymousId"] == f"$device:{device_id}"

    # The browser side: each XHR completed with 200 as the page's JavaScript
    # saw it (a CORS refusal shows as status 0), credentialed, and answered
    # in the verbose dialect the batcher asks for.
    xhrs = page.evaluate("window.trackyardPage.xhrs")
    assert xhrs and len(xhrs) == len(wire)
    for xhr in xhrs:
        assert (xhr["status"], xhr["withCredentials"]) == (200, True), xhr
        assert orjson.loads(xhr["response"]) == {"error": None, "status": 1}, xhr
    assert page.evaluate("window.sdkErrors") == []

    # The wire: base64 form posts from the page's origin, carrying its cookies
    # (the SDK's own persistence cookie is host-wide, ports aside).
    sent: dict[str, list[dict[str, Any]]] = {"/track/": [], "/engage/": [], "/groups/": []}
    for request in wire:
        url = urlsplit(request.url)
        query = parse_qs(url.query)
        assert request.method == "POST"
        assert {k: v for k, v in query.items() if k != "_"} == {"verbose": ["1"], "ip": ["1"]}
        headers = request.all_headers()
        assert headers["content-type"] == "application/x-www-form-urlencoded"
        assert headers["origin"] == site
        assert f"mp_{token}_mixpanel=" in headers["cookie"]
        assert request.post_data is not None and request.post_data.startswith("data=")
        sent[url.path] += records_in(request.post_data)
        response = request.response()
        assert response is not None and response.status == 200
        response_headers = response.all_headers()
        assert response_headers["access-control-allow-origin"] == site
        assert response_headers["access-control-allow-credentials"] == "true"
    assert all(sent.values()), "the SDK used /track/, /engage/ and /groups/"
    bodies = [r.post_data or "" for r in wire]
    assert any("%2B" in b for b in bodies) and any("%2F" in b for b in bodies)

    # Events: stored exactly as the SDK sent them, identities included.
    events = server.events()
    assert sorted(e["event"] for e in events) == ["$identify", "Page Viewed", "Signed In"]
    stored = {k: without_stamps(e, started_ms) for k, e in by_insert_id(events).items()}
    assert stored == {k: as_stored(e) for k, e in by_insert_id(sent["/track/"]).items()}
    named = {e["event"]: e["properties"] for e in events}
    version = sdk_version()
    for properties in named.values():
        assert (properties["mp_lib"], properties["$lib_version"]) == ("web", version)
        assert properties["$device_id"] == device_id
    page_view, identify, sign_in = named["Page Viewed"], named["$identify"], named["Signed In"]
    assert {k: page_view[k] for k in PAGE_VIEW} == PAGE_VIEW
    assert page_view["distinct_id"] == f"$device:{device_id}"
    assert "$user_id" not in page_view
    assert identify["distinct_id"] == identify["$user_id"] == USER_ID
    assert identify["$anon_distinct_id"] == f"$device:{device_id}"
    assert {k: sign_in[k] for k in SIGN_IN} == SIGN_IN
    assert sign_in["distinct_id"] == sign_in["$user_id"] == USER_ID
    assert sign_in["company"] == ["acme"]  # set_group() registers a super property

    # Profiles after the operations.
    assert without_last_seen(server.profile(USER_ID)) == {
        "$initial_referrer": "$direct",
        "$initial_referring_domain": "$direct",
        "$os": "Linux",
        "$browser": "Chrome",
        "$browser_version": int(browser.version.split(".")[0]),
        **ANONYMOUS_SET,
        **USER_SET,
        "logins": 3,
        "tags": ["a", "b", "c"],
        "company": ["acme"],
    }
    assert server.profile(f"$device:{device_id}") is None
    assert without_last_seen(server.group("company", "acme")) == GROUP_SET


def test_unload_flushes_queued_events_with_send_beacon(
    server: LiveServer, site: str, page: Page
) -> None:
    """Events queued behind a long flush interval leave with the page.

    Leaving a page fires `visibilitychange` (hidden), on which the SDK flushes
    its event queue through `navigator.sendBeacon` (mixpanel-core.js `_init`;
    `pagehide` only when the page enters the back/forward cache). Chromium
    sends that beacon and trackyard stores its events, but neither Playwright
    nor CDP on the page reports a request made by a document while it unloads.
    The page's log shows the SDK's `sendBeacon(url, "data=...")` call; the wire
    form (`text/plain` body `data=<percent-encoded base64>`, §2.1) is checked
    with a second, direct `sendBeacon` of the same shape from a live page.

    A beacon reports no answer, so the SDK keeps the batch in localStorage and
    sends it again once its flush deadline has passed; trackyard must drop
    those duplicates by `$insert_id` (§12).
    """
    token = server.project["token"]
    started_ms = int(time.time() * 1000)
    wire = record_requests(page, server.url + "/")
    page.goto(site + "/")
    page.evaluate(
        """async ({token, apiHost, events}) => {
            mixpanel.init(token, {
                api_host: apiHost, batch_requests: true, batch_flush_interval_ms: 60000,
                debug: false,
            });
            for (const [name, properties] of events) {
                await new Promise((done) => mixpanel.track(name, properties, done));
            }
        }""",
        {"token": token, "apiHost": server.url, "events": BEACON_EVENTS},
    )
    assert page.evaluate(QUEUED_EVENTS, token) == len(BEACON_EVENTS)
    assert server.events() == [] and wire == []

    page.goto(site + "/?after-unload")  # the old page unloads: its SDK sends a beacon
    wait_until(page, lambda: len(server.events()) == len(BEACON_EVENTS), "the SDK's beacon")
    events = server.events()
    (beacon,) = page.evaluate("window.trackyardPage.beacons()")
    assert beacon["page"] == site + "/" and beacon["queued"] is True
    assert beacon["bodyType"] == "string"  # so the browser labels it text/plain
    url = urlsplit(beacon["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == server.url + "/track/"
    assert parse_qs(url.query)["verbose"] == ["1"]
    beaconed = records_in(beacon["body"])
    assert [e["event"] for e in beaconed] == [name for name, _ in BEACON_EVENTS]
    stored = {k: without_stamps(e, started_ms) for k, e in by_insert_id(events).items()}
    assert stored == {k: as_stored(e) for k, e in by_insert_id(beaconed).items()}
    for event, (name, properties) in zip(events, BEACON_EVENTS, strict=True):
        assert event["event"] == name
        assert {k: event["properties"][k] for k in properties} == properties
        assert event["properties"]["distinct_id"].startswith("$device:")

    # The same kind of beacon from a live page, where Playwright sees the wire.
    direct = {
        "event": "Direct Beacon ✓",
        "properties": {"token": token, "distinct_id": "beacon-user", "note": "über ~~~~~~"},
    }
    payload = base64.b64encode(orjson.dumps([direct])).decode()
    assert "+" in payload
    assert page.evaluate(
        "([url, payload]) => navigator.sendBeacon(url, 'data=' + encodeURIComponent(payload))",
        [server.url + "/track/", payload],
    )
    request = wait_until(page, lambda: wire and wire[-1], "the direct beacon")
    assert (request.method, request.resource_type) == ("POST", "ping")
    assert request.all_headers()["content-type"] == "text/plain;charset=UTF-8"
    assert request.post_data and records_in(request.post_data) == [direct]
    wait_until(page, lambda: len(server.events()) == len(BEACON_EVENTS) + 1, "the direct event")
    assert server.events()[-1]["properties"]["note"] == "über ~~~~~~"

    # Ten minutes later the user is back: the SDK re-sends the beaconed batch.
    page.clock.set_fixed_time(datetime.now() + timedelta(minutes=10))
    page.evaluate(
        """({token, apiHost}) => mixpanel.init(token, {
            api_host: apiHost, batch_requests: true, batch_flush_interval_ms: 100, debug: false,
        })""",
        {"token": token, "apiHost": server.url},
    )
    wait_until(page, lambda: page.evaluate(SDK_IDLE, token), "the SDK to re-send the batch")
    screenshot(page, "browser-sdk-beacon.png")
    (resent,) = [r for r in wire if r.resource_type == "xhr"]
    assert {e["properties"]["$insert_id"] for e in records_in(resent.post_data or "")} == set(
        by_insert_id(beaconed)
    )
    (xhr,) = page.evaluate("window.trackyardPage.xhrs")
    assert (xhr["status"], orjson.loads(xhr["response"])) == (200, {"error": None, "status": 1})
    assert len(server.events()) == len(BEACON_EVENTS) + 1  # duplicates dropped


def test_emoji_survive_the_sdks_utf8_encoder(server: LiveServer, site: str, page: Page) -> None:
    """The SDK's utf8Encode writes each UTF-16 surrogate of an emoji as its own
    3-byte sequence (CESU-8, mixpanel/mixpanel-js#385); trackyard joins them."""
    token = server.project["token"]
    page.goto(site + "/")
    page.evaluate(
        """async ({token, apiHost}) => {
            mixpanel.init(token, {api_host: apiHost, batch_requests: true,
                                  batch_flush_interval_ms: 100, debug: false});
            await new Promise((done) => mixpanel.track("Plain", {}, done));
            await new Promise((done) => mixpanel.track("Launched 🚀", {mood: "😀"}, done));
        }""",
        {"token": token, "apiHost": server.url},
    )
    wait_until(page, lambda: page.evaluate(SDK_IDLE, token), "the SDK's queue to drain")
    names = sorted(e["event"] for e in server.events())
    assert names == ["Launched 🚀", "Plain"]
    assert server.events()[-1]["properties"]["mood"] == "😀"
