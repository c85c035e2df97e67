"""The served shell: pages load from their URL, navigation writes ?page=, back/forward work."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.export import external_references
from app.pages import PAGES
from app.theme import ACCENT

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


def test_download_button_gives_the_offline_export(page, server_url, wait_for_page, tmp_path):
    page.goto(f"{server_url}?page=drift")
    wait_for_page(page, "drift")
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="Download static HTML").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.startswith("driftdeck-") and saved.suffix == ".html"
    html = saved.read_text(encoding="utf-8")
    assert external_references(html) == []
    page.goto(saved.as_uri())
    # All six pages lay out at once: 25-60 s in Chromium on a loaded 2-core machine.
    page.get_by_text(PAGES["alerts"].title, exact=True).first.wait_for(
        state="visible", timeout=120_000
    )


MODELS = "() => Bokeh.documents[0]._all_models.size"


def test_the_next_page_is_built_while_the_user_reads(page, server_url, wait_for_page):
    page.goto(f"{server_url}?page=features")
    wait_for_page(page, "features")
    # The page after the one shown arrives hidden while the user reads; the others wait for a
    # long pause (a click then would wait for pages nobody asked for).
    performance = page.locator(".driftdeck-page-performance").first
    performance.wait_for(state="attached", timeout=90_000)
    expect(performance).to_be_hidden()
    for slug in ("overview", "drift", "production", "alerts"):
        assert page.locator(f".driftdeck-page-{slug}").count() == 0, slug
    wait_for_page(page, "features")
    before = page.evaluate(MODELS)
    # Opening it is a change of visibility: the server sends no new model.
    page.get_by_role("button", name=PAGES["performance"].title).click()
    wait_for_page(page, "performance")
    expect(page.locator(".driftdeck-page-features").first).to_be_hidden()
    assert page.evaluate(MODELS) == before
    # And while Performance Metrics is read, the page after it is built.
    production = page.locator(".driftdeck-page-production").first
    production.wait_for(state="attached", timeout=90_000)
    expect(production).to_be_hidden()


# Counts the browser's reads of Bokeh's CSS variables (``--bk-*``) from the first script on.
COUNT_CSS_VARIABLE_READS = """
window.__bokehCssReads = 0
const read = CSSStyleDeclaration.prototype.getPropertyValue
CSSStyleDeclaration.prototype.getPropertyValue = function (name) {
  if (String(name).startsWith("--bk-")) { window.__bokehCssReads += 1 }
  return read.call(this, name)
}
"""


def test_plots_are_painted_without_asking_css_for_each_visual(
    page, server_url, wait_for_page, wait_for_plots
):
    page.add_init_script(COUNT_CSS_VARIABLE_READS)
    page.goto(f"{server_url}?page=drift")
    wait_for_page(page, "drift")
    wait_for_plots(page, count=4)
    assert page.evaluate("window.__driftdeckCanvasStyles") is True
    assert page.evaluate("window.__bokehCssReads") == 0


@pytest.mark.parametrize("theme", ["default", "dark"])
def test_the_download_button_does_not_look_disabled(page, server_url, wait_for_page, theme):
    """The download is drawn filled with the accent, white on teal, in both themes; a disabled
    button (Reset, at the monitoring window) is not. Outlined, its accent text on the dark
    theme's background read as the grey of a disabled button."""
    page.goto(f"{server_url}?theme={theme}")
    wait_for_page(page, "overview")
    colors = page.evaluate(
        """() => {
          const found = {};
          const walk = (root) => {
            for (const el of root.querySelectorAll('*')) {
              if (el.shadowRoot) walk(el.shadowRoot);
              const text = (el.textContent || '').trim();
              if (el.tagName === 'BUTTON' && !(text in found))
                found[text] = [getComputedStyle(el.querySelector('a') || el).color,
                               getComputedStyle(el).backgroundColor, el.disabled];
            }
          };
          walk(document);
          return found;
        }"""
    )
    download, reset = colors["Download static HTML"], colors["Reset time window"]
    assert reset[2] is True and download[2] is False
    accent = "rgb({}, {}, {})".format(*(int(ACCENT[i : i + 2], 16) for i in (1, 3, 5)))
    assert download[1] == accent, download
    assert download[0] == "rgb(255, 255, 255)", download
    assert reset[1] != accent, reset
