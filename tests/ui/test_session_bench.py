"""The many-users benchmark's client: it opens a page as a browser does and receives the page's
document from the server (a benchmark that silently measured empty documents would mislead)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from benchmarks.session_bench import _open, complete

pytestmark = pytest.mark.ui


@pytest.mark.parametrize("slug", ["overview", "alerts"])
def test_headless_client_receives_the_page(server_url: str, slug: str):
    base = server_url.split("?")[0]
    texts = []
    # The first session computes the page's results; once they are kept, the page is prepared
    # while the "browser" loads its scripts and arrives inside the document.
    # In a thread of its own, as in the benchmark: the client runs its own event loop, and the
    # browser tests' Playwright may hold one in this thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        for _ in range(8):
            texts.append(pool.submit(_open, base, slug).result(timeout=600))
            if complete(texts[-1], slug):
                break
    document = json.loads(texts[-1])
    assert document.get("title") == "Driftdeck" and document.get("roots")
    assert complete(texts[-1], slug), f"{len(texts)} documents without the whole page"
    # A section still loading does not count as the page.
    assert not complete(
        texts[-1].replace('"css_classes": [', '"css_classes": ["pn-loading", ', 1), slug
    )


def test_the_client_follows_sections_until_none_is_loading():
    """What the client reads from a document and its patches: which models show Panel's
    loading indicator (a section still computing), until none does."""
    from benchmarks.session_bench import _loading_ids

    def model(id_: str, *classes: str, children: list | None = None) -> dict:
        attributes = {"css_classes": list(classes), "children": children or []}
        return {"type": "object", "name": "Column", "id": id_, "attributes": attributes}

    document = {"roots": [model("p1", children=[model("p2", "pn-loading"), model("p3")])]}
    loading: set[str] = set()
    _loading_ids(document, loading)
    assert loading == {"p2"}
    # A section drawn: its loading class goes; another section appears loading.
    _loading_ids(
        {
            "events": [
                {"kind": "ModelChanged", "model": {"id": "p2"}, "attr": "css_classes", "new": []},
                {
                    "kind": "ModelChanged",
                    "model": {"id": "p3"},
                    "attr": "children",
                    "new": [model("p4", "pn-loading", "pn-arc")],
                },
            ]
        },
        loading,
    )
    assert loading == {"p4"}
    _loading_ids(
        {
            "events": [
                {"kind": "ModelChanged", "model": {"id": "p4"}, "attr": "css_classes", "new": ["x"]}
            ]
        },
        loading,
    )
    assert loading == set()
