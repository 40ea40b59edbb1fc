"""Language, phone layout, console cleanliness and keyboard use.

Elements are found by ids, names, hrefs and roles; only the language test
looks at words, and only to see that they change.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from e2e.test_booking_journey import HAIRCUT, SALON, VIDEO, day_of, fill_checkout, submit_checkout, verify_phone

pytestmark = pytest.mark.e2e

FOCUS_STYLE = """el => {
    const s = getComputedStyle(el);
    return {
        outline: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) ? s.outlineWidth + ' ' + s.outlineStyle : '',
        shadow: s.boxShadow !== 'none' ? s.boxShadow : '',
    };
}"""

ACTIVE = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return {kind: 'body'};
    if (el.matches('.strip a.day')) return {kind: 'day', href: el.getAttribute('href')};
    if (el.matches('#slots button[name=start]')) return {kind: 'time', value: el.value};
    if (el.matches('a.skip')) return {kind: 'skip'};
    return {kind: el.tagName.toLowerCase(), id: el.id};
}"""

LAYOUT = """() => {
    const doc = document.documentElement;
    const wide = [...document.body.querySelectorAll('*')]
        .filter(el => el.getBoundingClientRect().right > doc.clientWidth + 0.5 && !el.closest('.strip ul'))
        .slice(0, 5)
        .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className ? '.' + String(el.className).replace(/ +/g, '.') : ''));
    const ids = [...document.querySelectorAll('[id]')].map(el => el.id);
    return {
        scrollWidth: doc.scrollWidth,
        wide,
        duplicateIds: [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))],
    };
}"""


def lang_of(page) -> str:
    return page.locator("html").get_attribute("lang")


def cookie(context, name: str) -> dict | None:
    return next((c for c in context.cookies() if c["name"] == name), None)


# --------------------------------------------------------------- language


def test_language_switch_and_back(context, shot):
    page = context.new_page()
    page.goto("/")
    assert lang_of(page) == "nb"
    assert cookie(context, "lang") is None
    norwegian_heading = page.locator("h1").inner_text()

    page.locator('header.site a.lang[hreflang="en"]').click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert urlsplit(page.url).path == "/"
    assert page.locator("h1").inner_text() != norwegian_heading
    chosen = cookie(context, "lang")
    assert chosen and chosen["value"] == "en" and chosen["httpOnly"] and chosen["sameSite"] == "Lax"
    assert chosen["expires"] > 0, "the language choice should outlive the browser session"
    shot(page, "front-en")

    # The choice follows the customer through the site.
    page.locator(f'#results a[href="{SALON}"]').click()
    page.wait_for_url(f"**{SALON}")
    assert lang_of(page) == "en"
    page.locator(f'a.button[href="{HAIRCUT}"]').click()
    page.wait_for_url(f"**{HAIRCUT}")
    assert lang_of(page) == "en"

    # Switching back on a deep page returns to the same page, same day.
    href = page.locator(".strip a.day:not([aria-current]):not(.none)").first.get_attribute("href")
    page.goto(HAIRCUT + href)
    before = page.url
    page.locator('header.site a.lang[hreflang="nb"]').click()
    expect(page.locator("html")).to_have_attribute("lang", "nb")
    assert page.url == before
    assert cookie(context, "lang")["value"] == "nb"
    page.goto("/")
    assert lang_of(page) == "nb"
    assert page.locator("h1").inner_text() == norwegian_heading
    context.problems.assert_none()


def test_unknown_language_changes_nothing(context):
    page = context.new_page()
    page.goto("/language/de?next=/s/saks-og-stil-grunerlokka")
    assert urlsplit(page.url).path == SALON
    assert lang_of(page) == "nb"
    assert cookie(context, "lang") is None


def test_language_link_keeps_the_day_chosen_with_htmx(context):
    page = context.new_page()
    page.goto(HAIRCUT)
    link = page.locator(".strip a.day:not([aria-current]):not(.none)").first
    day = day_of(link.get_attribute("href"))
    link.click()
    expect(page.locator("#slots-heading")).to_be_focused()
    next_url = parse_qs(urlsplit(page.locator("a.lang").get_attribute("href")).query)["next"][0]
    assert f"day={day}" in next_url


def test_back_after_a_day_swap_restores_the_whole_page(context):
    page = context.new_page()
    page.goto(HAIRCUT)
    page.locator(".strip a.day:not([aria-current]):not(.none)").first.click()
    expect(page.locator("#slots-heading")).to_be_focused()
    # htmx keeps no history cache here (historyCacheSize 0): Back refetches the
    # page and swaps it into <body>; wait for that restore before looking.
    page.evaluate(
        """() => document.addEventListener('htmx:historyRestore',
            () => document.documentElement.setAttribute('data-e2e-restored', ''))"""
    )
    page.go_back()
    page.wait_for_url(re.compile(r"/herreklipp$"))
    expect(page.locator("html[data-e2e-restored]")).to_have_count(1)
    expect(page.locator("header.site")).to_have_count(1, timeout=1000)
    expect(page.locator("main h1")).to_have_count(1)
    expect(page.locator(".strip")).to_have_count(1)


# --------------------------------------------------------------- phone layout


def check_layout(page, shot, step: str, width: int, seen: dict) -> None:
    layout = page.evaluate(LAYOUT)
    shot(page, step)
    seen[step] = layout
    assert layout["scrollWidth"] <= width, f"{step}: page scrolls sideways ({layout['scrollWidth']} px > {width}); too wide: {layout['wide']}"
    assert not layout["duplicateIds"], f"{step}: duplicate ids {layout['duplicateIds']}"


@pytest.mark.parametrize(
    ("width", "supplier", "offering"),
    [(390, SALON, "/s/saks-og-stil-grunerlokka/vask-og-fon"), (320, "/s/lunde-radgivning", VIDEO)],
    ids=["390px", "320px"],
)
def test_no_sideways_scroll_and_no_console_errors(new_context, shot, width, supplier, offering, e2e_database):
    context = new_context(viewport={"width": width, "height": 844}, screen={"width": width, "height": 844})
    page = context.new_page()
    seen: dict = {}
    page.goto("/")
    check_layout(page, shot, "front", width, seen)
    page.locator(f'#results a[href="{supplier}"]').click()
    page.wait_for_url(f"**{supplier}")
    check_layout(page, shot, "supplier", width, seen)
    page.locator(f'a.button[href="{offering}"]').click()
    page.wait_for_url(f"**{offering}")
    check_layout(page, shot, "offering", width, seen)
    page.locator(".strip a.day:not([aria-current]):not(.none)").first.click()
    expect(page.locator("#slots-heading")).to_be_focused()
    check_layout(page, shot, "offering-other-day", width, seen)
    page.locator("#slots button[name=start]").first.click()
    page.wait_for_url("**/checkout/**")
    check_layout(page, shot, "checkout", width, seen)
    fill_checkout(page, phone="12")
    page.fill("#email", "not-an-email")
    assert submit_checkout(page) == 422
    check_layout(page, shot, "checkout-errors", width, seen)
    page.fill("#phone", "+47 412 34 567")
    page.fill("#email", "kari@example.no")
    verify_phone(page, e2e_database)
    check_layout(page, shot, "checkout-code", width, seen)
    assert submit_checkout(page) == 303
    page.wait_for_url(re.compile(r"/b/[^/?#]+\?new=1$"))
    check_layout(page, shot, "confirmation", width, seen)
    context.problems.assert_none()


def test_time_buttons_show_the_time_on_one_line(page):
    page.goto(HAIRCUT)
    wrapped = page.locator("#slots button[name=start]").evaluate_all(
        """buttons => buttons.filter(b => {
            const range = document.createRange();
            range.selectNodeContents(b.firstChild);
            return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size > 1;
        }).map(b => b.textContent.trim())"""
    )
    assert wrapped == []


# --------------------------------------------------------------- keyboard


def tab_until(page, kind: str, limit: int = 60) -> list[dict]:
    """Press Tab until an element of `kind` has focus; return what was visited."""
    visited = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        active = page.evaluate(ACTIVE)
        visited.append(active)
        if active["kind"] == kind:
            return visited
    raise AssertionError(f"Tab never reached a {kind}: {visited}")


def assert_focus_visible(page, what: str) -> None:
    style = page.evaluate(f"() => ({FOCUS_STYLE})(document.activeElement)")
    assert style["outline"] or style["shadow"], f"no visible focus indicator on the {what}: {style}"


def test_keyboard_reaches_days_and_times_with_a_visible_focus(context, shot):
    page = context.new_page()
    page.goto(HAIRCUT)

    # The first Tab shows the skip link, inside the viewport.
    page.keyboard.press("Tab")
    assert page.evaluate(ACTIVE)["kind"] == "skip"
    box = page.locator("a.skip").bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= 390

    visited = tab_until(page, "day")
    assert not any(v["kind"] == "time" for v in visited), "times come before days in the tab order"
    assert_focus_visible(page, "day link")
    shot(page, "day-focused")

    visited = tab_until(page, "time")
    days = [v for v in visited if v["kind"] == "day"]
    assert len(days) + 1 == page.locator(".strip a.day").count(), "every day in the strip is reachable by Tab"
    assert_focus_visible(page, "time button")
    shot(page, "time-focused")

    # Keyboard only: pick another day with Enter, Tab to its first time, book it with Enter.
    page.keyboard.press("Shift+Tab")
    while page.evaluate(ACTIVE)["kind"] != "day":
        page.keyboard.press("Shift+Tab")
    current = page.locator(".strip a.day[aria-current]").get_attribute("href")
    while True:
        active = page.evaluate(ACTIVE)
        assert active["kind"] == "day", f"ran out of days before finding a free one: {active}"
        if active["href"] != current and not page.evaluate("() => document.activeElement.classList.contains('none')"):
            break
        page.keyboard.press("Shift+Tab")
    chosen_day = day_of(active["href"])
    page.keyboard.press("Enter")
    expect(page.locator("#slots-heading")).to_be_focused()
    assert f"day={chosen_day}" in page.url
    page.keyboard.press("Tab")
    active = page.evaluate(ACTIVE)
    assert active["kind"] == "time", f"Tab after the day swap went to {active}"
    assert_focus_visible(page, "time button after the swap")
    page.keyboard.press("Enter")
    page.wait_for_url("**/checkout/**")
    expect(page.locator("#name")).to_be_visible()
    context.problems.assert_none()


def test_a_focused_day_and_its_focus_ring_are_fully_visible(page):
    page.goto(HAIRCUT)
    problems = []
    in_strip = False
    for _ in range(60):
        page.keyboard.press("Tab")
        seen = page.evaluate(
            """() => {
                const a = document.activeElement;
                if (!a.matches('.strip a.day')) return null;
                const s = getComputedStyle(a);
                const ring = parseFloat(s.outlineWidth) + parseFloat(s.outlineOffset);
                const r = a.getBoundingClientRect(), u = a.closest('ul').getBoundingClientRect();
                return {
                    day: a.getAttribute('href'),
                    cardHidden: r.left < u.left - 0.5 || r.right > u.right + 0.5,
                    ringClipped: r.top - ring < u.top - 0.5 || r.bottom + ring > u.bottom + 0.5
                        || r.left - ring < u.left - 0.5 || r.right + ring > u.right + 0.5,
                };
            }"""
        )
        if seen is None:
            if in_strip:
                break
            continue
        in_strip = True
        if seen["cardHidden"] or seen["ringClipped"]:
            problems.append(seen)
    assert in_strip
    assert problems == []
