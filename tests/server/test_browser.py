"""The search page in a real browser: Debian's chromium driven by Playwright."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

    from conftest import Server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="browser tests need Debian's chromium at /usr/bin/chromium "
        "(as root: apt-get install chromium, or run make browser)",
    ),
]

# Waits until the player has loaded the file and finished seeking, then pauses it so that the
# time read next is where the page put it, not where playback has got to since.
SETTLED_TIME = """() => new Promise((resolve) => {
  const v = document.querySelector('#player');
  const check = () => {
    if (v.readyState >= 1 && !v.seeking && v.currentTime > 0 || v.readyState >= 2 && !v.seeking) {
      v.pause();
      resolve(v.currentTime);
    } else {
      setTimeout(check, 10);
    }
  };
  check();
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """``open_page(url, viewport)``: a fresh browser context; fails the test on a JS error."""
    contexts = []
    errors: list[str] = []

    def _open(url: str, viewport: dict[str, int] | None = None) -> Page:
        ctx = browser.new_context(viewport=viewport or DESKTOP)  # type: ignore[arg-type]
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        return page

    yield _open
    for ctx in contexts:
        ctx.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _wait_until(page: Page, expression: str, timeout_s: float = 15.0) -> None:
    """Poll a JS expression from Python: the page's CSP forbids the eval that
    ``Page.wait_for_function`` runs inside the page."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {expression}")
        time.sleep(0.05)


def _search(page: Page, text: str) -> None:
    page.fill("#q", text)
    page.press("#q", "Enter")
    page.wait_for_selector("#results .card:not(.skeleton)")


def _tab_to(page: Page, css_class: str, what: str, presses: int) -> None:
    """Press Tab until the focused element has ``css_class`` (at most ``presses`` times)."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.classList.contains('{css_class}')"):
            return
    pytest.fail(f"Tab never reached {what}")


def _card_names(page: Page) -> list[str]:
    return page.locator("#results .card .card-title").all_inner_texts()


def _clock(text: str) -> float:
    """Seconds of a time the page shows, m:ss(.t)."""
    mins, secs = text.split(":")
    return int(mins) * 60 + float(secs)


def _screenshot(page: Page, artifacts: Path, name: str, **kwargs: Any) -> None:
    page.screenshot(path=str(artifacts / name), **kwargs)


def test_search_then_play_a_moment(
    server: Server, open_page: Callable[..., Page], artifacts: Path
) -> None:
    page = open_page(server.url + "/")
    _wait_until(page, "document.querySelector('#library-status').textContent.includes('3 videos')")
    _search(page, "red")
    names = _card_names(page)
    assert len(names) == 3 and names[0] == "red_8_14.mp4"
    first = page.locator("#results .card").first
    # the thumbnail arrives after the card (a separate request): wait for it to show
    _wait_until(
        page,
        "(() => { const i = document.querySelector('#results .card img');"
        " return !!i && i.complete && i.naturalWidth > 0; })()",
    )
    assert first.locator(".strip svg .band").count() >= 1
    assert first.locator(".strip svg .curve-line").count() == 1
    _screenshot(page, artifacts, "desktop-results.png")

    chip = first.locator(".moment").first
    start = float(chip.get_attribute("data-start") or "nan")
    assert 7.0 <= start <= 9.0
    chip.click()
    assert abs(page.evaluate(SETTLED_TIME) - start) <= 0.3
    assert chip.get_attribute("aria-pressed") == "true"
    assert first.locator(".strip .band.active").count() == 1
    assert "is-playing" in (first.get_attribute("class") or "")
    assert page.locator("#player-title").inner_text() == "red_8_14.mp4"
    assert page.locator("#player-strip .band.active").count() == 1
    _screenshot(page, artifacts, "desktop-playing.png")

    # another video's moment moves the highlight
    other = page.locator("#results .card").nth(1).locator(".moment").first
    other_start = float(other.get_attribute("data-start") or "nan")
    other.click()
    _wait_until(page, "document.querySelector('#player-title').textContent !== 'red_8_14.mp4'")
    assert abs(page.evaluate(SETTLED_TIME) - other_start) <= 0.3
    assert chip.get_attribute("aria-pressed") == "false"
    assert other.get_attribute("aria-pressed") == "true"
    assert first.locator(".strip .band.active").count() == 0


def test_thumbnail_badge_is_the_time_of_the_frame_shown(
    peak_lib: Path, tmp_path: Path, launch: Callable[..., Server], open_page: Callable[..., Page]
) -> None:
    """The thumbnail is the best frame (11 s), inside a moment that starts earlier (7 s): its
    time badge once showed the moment's start, a time the picture is not from."""
    srv = launch(peak_lib, tmp_path)
    with srv.client() as c:
        hit = c.get("/api/search", params={"q": "red"}).json()["results"][0]
    assert hit["best_time_s"] == 11.0 and hit["moments"][0][0] <= 9.0, hit
    page = open_page(srv.url + "/?q=red")
    page.wait_for_selector("#results .card:not(.skeleton)")
    first = page.locator("#results .card").first
    img = first.locator(".thumb img").get_attribute("src") or ""
    assert img.endswith(f"/thumbs/{hit['best_frame']}.jpg")
    assert first.locator(".badge-time").inner_text() == "0:11"
    assert "from 0:11" in (first.locator(".thumb").get_attribute("aria-label") or "")
    first.locator(".thumb").click()
    assert abs(page.evaluate(SETTLED_TIME) - 11.0) <= 0.3, "the click plays what the picture shows"
    # the frame lies inside the best moment, which is marked as the one playing
    assert first.locator(".moment").first.get_attribute("aria-pressed") == "true"


def test_too_long_query_is_named_on_the_page(
    tiny_server: Server, open_page: Callable[..., Page], artifacts: Path
) -> None:
    long = "a small red square moves slowly to the left across a plain grey background " * 4
    page = open_page(tiny_server.url + "/")
    notes = page.locator("#search-notes")
    _search(page, long)
    notes.wait_for()
    assert "longer than the text encoder's 32 tokens" in notes.inner_text()
    assert _card_names(page) == ["red_8_14.mp4"], "the results still show"
    _screenshot(page, artifacts, "long-query-note.png")
    page.fill("#q", "a red square")
    page.press("#q", "Enter")
    _wait_until(page, "document.querySelector('#results-heading').textContent.includes('“a red')")
    assert notes.is_hidden(), "a query that fits has no note"
    assert _card_names(page) == ["red_8_14.mp4"]


def test_keyboard_only(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server.url + "/")
    _wait_until(page, "document.activeElement.id === 'q'")  # focused on load
    page.keyboard.type("blue")
    page.keyboard.press("Enter")
    page.wait_for_selector("#results .card:not(.skeleton)")
    assert _card_names(page)[0] == "blue_all.mp4"
    _tab_to(page, "moment", "a moment button", 30)
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "the focused moment must show a visible focus ring"
    start = float(page.evaluate("document.activeElement.dataset.start"))
    page.keyboard.press("Space")
    assert abs(page.evaluate(SETTLED_TIME) - start) <= 0.3
    assert page.evaluate("document.activeElement.getAttribute('aria-pressed')") == "true"
    page.keyboard.press("Escape")
    assert page.locator("#player-panel").is_hidden()


def test_phone_width(server: Server, open_page: Callable[..., Page], artifacts: Path) -> None:
    page = open_page(server.url + "/", PHONE)
    _search(page, "green")
    assert _card_names(page)[0] == "green_then_yellow.mp4"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    xs = page.locator("#results .card").evaluate_all(
        "cards => cards.map(c => Math.round(c.getBoundingClientRect().left))"
    )
    assert len(set(xs)) == 1, "one column at phone width"
    _screenshot(page, artifacts, "phone-results.png")
    page.locator("#results .card").first.locator(".moment").first.click()
    page.evaluate(SETTLED_TIME)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.evaluate("window.scrollTo(0, 0)")
    _screenshot(page, artifacts, "phone-playing.png")


def test_empty_library_message(
    empty_server: Server, open_page: Callable[..., Page], artifacts: Path
) -> None:
    page = open_page(empty_server.url + "/")
    msg = page.locator("#message")
    msg.wait_for()
    text = msg.inner_text()
    assert "No videos yet" in text and "vidlens index VIDEOS --library" in text
    _screenshot(page, artifacts, "empty-library.png")
    page.fill("#q", "red")
    page.press("#q", "Enter")
    _wait_until(page, "!document.querySelector('#results').hasAttribute('aria-busy')")
    assert "No videos yet" in msg.inner_text()


def test_no_results_message(
    server: Server, open_page: Callable[..., Page], artifacts: Path
) -> None:
    page = open_page(server.url + "/?q=magenta&min_score=0.5")
    msg = page.locator("#message.message-empty")
    msg.wait_for()
    assert "No matches for “magenta”" in msg.inner_text()
    assert "minimum score" in msg.inner_text()
    assert page.locator("#results .card").count() == 0
    _screenshot(page, artifacts, "no-results.png")


def test_server_error_message(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server.url + "/?q=" + "x" * 1001)
    msg = page.locator("#message.message-error")
    msg.wait_for()
    assert "Search failed" in msg.inner_text() and "1000 characters" in msg.inner_text()


def test_token_protected_server(
    token_server: Server, open_page: Callable[..., Page], api_token: str
) -> None:
    page = open_page(token_server.url + "/")
    page.locator("#token-form").wait_for()
    page.fill("#token-input", api_token)
    page.press("#token-input", "Enter")
    _wait_until(page, "document.querySelector('#library-status').textContent.includes('3 videos')")
    # a link with the token in the fragment works too, and the fragment is wiped from the URL
    page = open_page(token_server.url + f"/?q=red#token={api_token}")
    page.wait_for_selector("#results .card:not(.skeleton)")
    assert api_token not in page.url
    first = page.locator("#results .card").first
    first.locator("img").evaluate(
        "img => img.complete ? null : new Promise(r => img.addEventListener('load', r))"
    )
    assert first.locator("img").evaluate("img => img.naturalWidth > 0"), "?token= on <img>"
    chip = first.locator(".moment").first
    start = float(chip.get_attribute("data-start") or "nan")
    chip.click()
    assert abs(page.evaluate(SETTLED_TIME) - start) <= 0.3, "?token= on <video>"


# ----------------------------------------------------------------------------- more like this
def _params(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def _like_bar(page: Page) -> str:
    return " ".join(page.locator("#like-bar .like-text").inner_text().split())


def test_more_like_this_searches_by_the_cards_frame(
    server: Server, open_page: Callable[..., Page], artifacts: Path
) -> None:
    page = open_page(server.url + "/")
    _search(page, "red")
    assert _card_names(page)[0] == "red_8_14.mp4"
    card = page.locator("#results .card").filter(has_text="green_then_yellow.mp4")
    vid = card.get_attribute("data-video-id")
    # the button names the video and the time of the frame its thumbnail shows
    shown = card.locator(".badge-time").inner_text()
    name = f"More like this: moments like green_then_yellow.mp4 at {shown}"
    button = card.get_by_role("button", name=name, exact=True)
    assert page.locator("#like-bar").is_hidden()
    button.click()
    _wait_until(page, "location.search.includes('like=')")
    page.wait_for_selector("#results .card:not(.skeleton)")
    like = _params(page)["like"]
    assert like[0].split("@")[0] == vid and "q" not in _params(page)
    assert abs(float(like[0].split("@")[1]) - _clock(shown)) < 0.1
    assert _like_bar(page) == f"Moments like: green_then_yellow.mp4 at {shown}"
    assert page.locator("#results-heading").inner_text() == (
        f"3 videos like green_then_yellow.mp4 at {shown}"
    )
    assert _card_names(page)[0] == "green_then_yellow.mp4", "the source video ranks first"
    first_moment = page.locator("#results .card").first.locator(".moment").first
    assert float(first_moment.get_attribute("data-start") or "nan") <= _clock(shown)
    assert page.input_value("#q") == ""
    _wait_until(page, "document.querySelector('#like-thumb').naturalWidth > 0")
    _screenshot(page, artifacts, "more-like-this.png")

    # Back returns to the text search, Forward to the like search
    page.go_back()
    _wait_until(page, "document.querySelector('#like-bar').hidden")
    _wait_until(page, "document.querySelector('#results-heading').textContent.includes('“red”')")
    assert _card_names(page)[0] == "red_8_14.mp4" and page.input_value("#q") == "red"
    page.go_forward()
    _wait_until(page, "!document.querySelector('#like-bar').hidden")
    _wait_until(page, "document.querySelector('#results-heading').textContent.includes(' like ')")
    assert _card_names(page)[0] == "green_then_yellow.mp4"

    # clearing goes back to the text search it came from
    page.locator("#like-clear").click()
    _wait_until(page, "document.querySelector('#results-heading').textContent.includes('“red”')")
    assert page.locator("#like-bar").is_hidden()
    assert _params(page) == {"q": ["red"]}
    assert _card_names(page)[0] == "red_8_14.mp4"


def test_more_like_this_survives_reload_and_text_replaces_it(
    server: Server, open_page: Callable[..., Page]
) -> None:
    with server.client() as c:
        red = next(v for v in c.get("/api/videos").json()["videos"] if v["name"] == "red_8_14.mp4")
    page = open_page(server.url + f"/?like={red['id']}@11")
    page.wait_for_selector("#results .card:not(.skeleton)")
    _wait_until(page, "document.querySelector('#like-name').textContent === 'red_8_14.mp4'")
    page.reload()
    page.wait_for_selector("#results .card:not(.skeleton)")
    _wait_until(page, "document.querySelector('#like-name').textContent === 'red_8_14.mp4'")
    assert _like_bar(page) == "Moments like: red_8_14.mp4 at 0:11"
    assert _card_names(page)[0] == "red_8_14.mp4"
    moment = page.locator("#results .card").first.locator(".moment").first
    assert abs(float(moment.get_attribute("data-start") or "nan") - 8.0) <= 1.0
    assert abs(float(moment.get_attribute("data-end") or "nan") - 14.0) <= 1.0

    # a new text query replaces the like search; Back brings it back
    _search(page, "blue")
    _wait_until(page, "document.querySelector('#results-heading').textContent.includes('“blue”')")
    assert page.locator("#like-bar").is_hidden() and _params(page) == {"q": ["blue"]}
    assert _card_names(page)[0] == "blue_all.mp4"
    page.go_back()
    _wait_until(page, "!document.querySelector('#like-bar').hidden")
    _wait_until(page, "document.querySelector('#results-heading').textContent.includes(' like ')")
    assert _card_names(page)[0] == "red_8_14.mp4"

    # with no text to return to, clearing empties the page for a new query
    page.reload()
    page.wait_for_selector("#results .card:not(.skeleton)")
    page.get_by_role("button", name="Clear “more like this” and go back to text search").click()
    _wait_until(page, "location.search === ''")
    assert page.locator("#like-bar").is_hidden()
    assert page.locator("#results .card").count() == 0
    assert page.evaluate("document.activeElement.id") == "q"


def test_more_like_this_by_keyboard(server: Server, open_page: Callable[..., Page]) -> None:
    page = open_page(server.url + "/?q=blue")
    page.wait_for_selector("#results .card:not(.skeleton)")
    page.focus("#q")
    _tab_to(page, "more-like", "a More like this button", 40)
    label = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert label.startswith("More like this: moments like blue_all.mp4 at ")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "a visible focus ring"
    page.keyboard.press("Enter")
    _wait_until(page, "location.search.includes('like=')")
    page.wait_for_selector("#results .card:not(.skeleton)")
    assert _card_names(page)[0] == "blue_all.mp4"
    assert page.evaluate("document.activeElement.id") == "like-text", "focus moves to the label"


def test_a_top_k_the_page_does_not_list_is_shown_as_sent(
    server: Server, open_page: Callable[..., Page]
) -> None:
    """?top_k=500 (the API's limit is 1000, the page lists up to 100): the box says 100."""
    page = open_page(server.url + "/?q=red&top_k=500")
    page.wait_for_selector("#results .card:not(.skeleton)")
    assert page.input_value("#opt-top-k") == "100"
    assert len(_card_names(page)) == 3
