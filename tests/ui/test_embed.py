"""The README's embedding snippet, exactly as written, served by ``panel serve`` in a browser."""

from __future__ import annotations

import re
import sys

import pytest
from playwright.sync_api import expect

from benchmarks.harness import REPO
from tests.ui.helpers import wait_for_drawn, wait_until_loaded

pytestmark = pytest.mark.ui


def readme_snippet() -> str:
    """The README's ``my_app.py`` code block (section "Pages, embedding and export")."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    snippets = [block for block in blocks if block.startswith("# my_app.py")]
    assert len(snippets) == 1, "README has no (or several) my_app.py embedding snippets"
    return snippets[0]


def test_readme_snippet_embeds_the_drift_page(page, demo_world, launch_server, tmp_path):
    snippet = readme_snippet()
    assert 'pn.Column("# Our model", DriftMonitoring(monitor=monitor))' in snippet
    app_file = tmp_path / "my_app.py"
    app_file.write_text(snippet, encoding="utf-8")
    command = [sys.executable, "-m", "panel", "serve", str(app_file), "--port", "{port}"]
    command += ["--address", "127.0.0.1", "--allow-websocket-origin", "127.0.0.1:{port}"]
    # Run where the user would: the folder holding driftdeck.toml (the snippet's relative path).
    url = launch_server(command, demo_world, "/my_app", cwd=demo_world.parent)

    page.goto(url)
    expect(page.get_by_role("heading", name="Our model")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("PSI per feature", exact=True)).to_be_visible(timeout=60_000)
    wait_until_loaded(page)
    wait_for_drawn(page, 5)
    expect(page.get_by_text("could not be computed")).to_have_count(0)
    # (the page fixture fails the test on any console error or external request)
