"""The served shell: every page loads from its URL, navigation writes ?page=, back and forward work."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.pages import PAGES

pytestmark = pytest.mark.ui


@pytest.mark.parametrize("slug", list(PAGES))
def test_every_page_loads_from_its_url(page, server_url, wait_for_page, slug):
    page.goto(f"{server_url}?page={slug}")
    wait_for_page(page, slug)
    active = page.locator(".driftdeck-nav button.bk-active")
    expect(active).to_have_text(PAGES[slug].title)


def test_clicking_navigation_writes_the_url_and_back_returns(page, server_url, wait_for_page):
    page.goto(server_url)
    wait_for_page(page, "overview")
    expect(page).to_have_url(re.compile(r"[?&]page=overview"))

    page.get_by_role("button", name=PAGES["drift"].title).click()
    wait_for_page(page, "drift")
    expect(page).to_have_url(re.compile(r"[?&]page=drift"))

    page.get_by_role("button", name=PAGES["alerts"].title).click()
    wait_for_page(page, "alerts")
    expect(page).to_have_url(re.compile(r"[?&]page=alerts"))

    page.go_back()
    wait_for_page(page, "drift")
    expect(page).to_have_url(re.compile(r"[?&]page=drift"))

    page.go_back()
    wait_for_page(page, "overview")
    expect(page).to_have_url(re.compile(r"[?&]page=overview"))

    page.go_forward()
    wait_for_page(page, "drift")
    expect(page).to_have_url(re.compile(r"[?&]page=drift"))


def test_unknown_page_falls_back_to_overview(page, server_url, wait_for_page):
    page.goto(f"{server_url}?page=nonsense")
    wait_for_page(page, "overview")


def test_dark_theme_keeps_the_page(page, server_url, wait_for_page):
    page.goto(f"{server_url}?page=features&theme=dark")
    wait_for_page(page, "features")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
    assert red + green + blue < 3 * 100, background
