"""The chat page at / in headless Chromium (Debian's chromium, driven by playwright): pick the model,
type, see the reply stream in, stop a reply."""

import os
import time

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")

from serve_helpers import http  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed "
                                "(scripts/setup.sh --test installs it as root)")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def page(server):
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        tab = browser.new_page()
        tab.set_default_timeout(30_000)
        tab.goto(server.url + "/")
        yield tab
        browser.close()


def test_page_streams_a_reply(page, server, tmp_path):
    page.wait_for_selector("#model option[value='tiny-chat']", state="attached")
    page.select_option("#model", "tiny-chat")
    page.fill("#max-tokens", "12")
    page.fill("#prompt", "the cat sat on")
    page.press("#prompt", "Enter")
    reply = page.wait_for_selector(".assistant[data-done='true']")
    shot = tmp_path / "chat.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 1000
    # the same request through the API, greedy like the page's default temperature 0
    status, _, body = http("POST", server.url + "/v1/chat/completions", {
        "model": "tiny-chat", "messages": [{"role": "user", "content": "the cat sat on"}], "max_tokens": 12,
        "temperature": 0})
    want = body["choices"][0]["message"]["content"]
    assert want and reply.text_content() == want
    assert page.text_content(".user") == "the cat sat on"


def test_stop_button_stops_the_reply(page, server):
    import threading

    # a prompt whose greedy reply runs to the token limit, so only Stop can end it early
    prompt = next((p for p in ("tell me a long story", "the cat", "hello there", "what is your name?", "i love")
                   if http("POST", server.url + "/v1/chat/completions", {
                       "model": "tiny-chat", "messages": [{"role": "user", "content": p}], "max_tokens": 220,
                       "temperature": 0})[2]["choices"][0]["finish_reason"] == "length"), None)
    if prompt is None:
        pytest.skip("no candidate prompt makes the tiny model talk to its token limit")
    page.click("#reset")
    page.fill("#max-tokens", "220")
    page.fill("#prompt", prompt)
    page.press("#prompt", "Enter")
    page.wait_for_function("document.querySelector('.assistant') && "
                           "document.querySelector('.assistant').textContent.length > 0")
    gate = threading.Event()  # hold the worker between two steps while the button is pressed
    server.app.state.engine.call(lambda store: gate.wait(30))
    page.click("#stop")
    reply = page.wait_for_selector(".assistant[data-done='true']")
    gate.set()
    assert reply.text_content().endswith("[stopped]")
    deadline = time.time() + 10  # the aborted request leaves the batch
    while http("GET", server.url + "/health")[2]["active_rows"] and time.time() < deadline:
        time.sleep(0.05)
    assert http("GET", server.url + "/health")[2]["active_rows"] == 0
