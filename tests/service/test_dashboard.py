"""The dashboard's pages, served over HTTP from SQLite and PostgreSQL stores, read by httpx and by
headless Chromium: what they list, that hostile names stay text, that nothing can change."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from janitor.reporting import run_report, weekly_report
from janitor.service.dashboard import PAGE_SIZE, DashboardSource
from janitor.store import Store
from janitor.store.testing import postgres_available, temporary_postgres_database
from tests.report.htmlparse import Element, parse, squash
from tests.service.dashboard_browser import DESKTOP, PHONE, dump_dom, png_size, screenshot
from tests.service.dashboard_seed import (
    HOSTILE_ERROR,
    HOSTILE_POLICY,
    HOSTILE_STRINGS,
    NOW,
    PAGED_RUNS,
    Seeded,
    dashboard_source,
    seed,
    serve,
)

PAGES = ("/", "/?page=2", "/schedule", "/weekly")


@dataclass
class Served:
    url: str
    store: Store
    store_url: str
    seeded: Seeded
    source: DashboardSource

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One seeded store of each kind, served for every test of the module (they only read)."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'janitor.db'}"
        else:
            reason = postgres_available()
            if reason is not None:
                pytest.skip(f"PostgreSQL not available: {reason}")
            url = stack.enter_context(temporary_postgres_database("janitor_dash"))
        store = stack.enter_context(Store(url))
        store.ensure_schema()
        seeded = seed(store)
        for server in serve(store):
            yield Served(
                f"http://127.0.0.1:{server.port}", store, url, seeded, dashboard_source(store)
            )


def _run_ids(doc: Element) -> list[int]:
    table = doc.find("table", "runs")
    return [int(squash(row.cells()[0].text()).lstrip("#")) for row in table.rows()]


def test_runs_are_listed_newest_first_and_paged(served: Served) -> None:
    first = parse(served.get("/").text)
    ids = _run_ids(first)
    assert len(ids) == PAGE_SIZE
    s = served.seeded
    assert ids[:4] == [s.running_run, s.failed_run, s.hostile_run, s.delete_run]
    second = parse(served.get("/?page=2").text)
    rest = _run_ids(second)
    assert len(ids) + len(rest) == PAGED_RUNS + 4
    assert not set(ids) & set(rest)
    pager = squash(second.find("div", "pager").text())
    assert "Newer runs" in pager and second.find("div", "pager").find("a").attrs["href"] == "/?"
    assert not served.get("/?page=2").text.count("Older runs →</a>")


def test_a_run_row_says_policy_trigger_status_mode_deleted_bytes_and_when(served: Served) -> None:
    doc = parse(served.get("/").text)
    rows = {int(squash(r.cells()[0].text()).lstrip("#")): r for r in doc.find("table").rows()}
    delete = [squash(c.text()) for c in rows[served.seeded.delete_run].cells()]
    assert delete[1] == "nightly on acme"
    assert delete[2:6] == ["schedule", "SUCCEEDED", "DELETE", "11"]
    assert delete[6] == "462.0 MiB"
    assert delete[7] == "2026-05-09 08:00:00 UTC"
    failed = [squash(c.text()) for c in rows[served.seeded.failed_run].cells()]
    assert failed[3] == "FAILED" and failed[5] == "2 1 error"
    dry = [squash(c.text()) for c in rows[served.seeded.hostile_run].cells()]
    assert dry[1] == f"{HOSTILE_POLICY} on acme" and dry[4] == "DRY RUN" and dry[5] == "would 3"
    link = rows[served.seeded.delete_run].find("a").attrs["href"]
    assert link == f"/runs/{served.seeded.delete_run}"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("policy=nightly", {"nightly"}),
        ("status=failed", {"nightly"}),
        ("policy=nightly-dry&page=2", {"nightly-dry"}),
    ],
)
def test_filters_by_policy_and_status(served: Served, query: str, expected: set[str]) -> None:
    response = served.get(f"/?{query}")
    doc = parse(response.text)
    policies = {squash(r.cells()[1].text()).rsplit(" on ", 1)[0] for r in doc.find("table").rows()}
    assert policies == expected
    if query == "status=failed":
        assert _run_ids(doc) == [served.seeded.failed_run]
    # The form shows the filter in force, and offers every policy with runs or loaded.
    options = [o.attrs.get("value") for o in doc.find("select").find_all("option")]
    assert {"nightly", "nightly-dry", "by-hand", HOSTILE_POLICY} <= set(options)


@pytest.mark.parametrize(
    "query", ["status=deleted", "page=0", "page=x", "page=-1", "status=%3Cscript%3E"]
)
def test_bad_filters_are_a_400_that_says_why(served: Served, query: str) -> None:
    response = served.get(f"/?{query}")
    assert response.status_code == 400
    assert "<script>" not in response.text
    text = squash(parse(response.text).find("div", "card").text())
    assert "must be" in text


def test_replicas_sharing_the_store_show_the_same_runs(served: Served) -> None:
    """A second replica (its own Store and server over the same database) serves the same
    pages: everything comes from the store."""
    with Store(served.store_url) as other:
        for server in serve(other):
            url = f"http://127.0.0.1:{server.port}"
            for path in ("/", "/?page=2", "/?status=failed", f"/runs/{served.seeded.delete_run}"):
                mine = httpx.get(served.url + path, timeout=30).text
                theirs = httpx.get(url + path, timeout=30).text
                assert mine == theirs, path


def test_a_run_page_is_the_run_report_itself(served: Served) -> None:
    run_id = served.seeded.hostile_run
    page = served.get(f"/runs/{run_id}").text
    _, report = run_report(served.store, run_id, now=NOW)
    head, _, body = report.html.partition("<body")
    # The report's HTML, byte for byte, with the dashboard's navigation put first in its body.
    assert page.startswith(head + "<body")
    assert page.endswith(body[body.index(">") + 1 :])
    nav = parse(page).find("nav")
    assert [a.attrs["href"] for a in nav.find_all("a")] == ["/", "/schedule", "/weekly"]


def test_an_unknown_run_is_a_404(served: Served) -> None:
    response = served.get("/runs/999999")
    assert response.status_code == 404
    assert "There is no run #999999" in squash(parse(response.text).text())
    assert served.get("/runs/abc").status_code == 404


def test_schedule_lists_next_fires_and_the_last_result(served: Served) -> None:
    doc = parse(served.get("/schedule").text)
    rows = {squash(r.cells()[0].text()): r for r in doc.find("table").rows()}
    nightly = rows["nightly on acme · delete"]
    fires = [squash(li.text()) for li in nightly.find("ul").find_all("li")]
    # 02:30 in Berlin (CEST, UTC+2) is 00:30 UTC; the last fire before NOW was this morning.
    assert fires == [
        "2026-05-12 00:30:00 UTC (02:30 CEST)",
        "2026-05-13 00:30:00 UTC (02:30 CEST)",
        "2026-05-14 00:30:00 UTC (02:30 CEST)",
    ]
    last = squash(nightly.cells()[3].text())
    assert last == f"#{served.seeded.running_run} STILL RUNNING 2026-05-11 07:57:00 UTC"
    assert set(rows) == {"nightly on acme · delete", "Weekly report"}
    notes = [squash(p.text()) for p in doc.find_all("p", "note")]
    assert "Without a schedule (run only by janitor run): by-hand." in notes


def test_weekly_is_the_weekly_report(served: Served) -> None:
    page = served.get("/weekly").text
    report = weekly_report(served.store, since=NOW.replace(day=4), until=NOW, now=NOW)
    assert page.endswith(report.html.partition("<body")[2].partition(">")[2])
    earlier = served.get("/weekly?until=2026-04-25")
    assert earlier.status_code == 200
    assert "2026-04-18 to 2026-04-24" in earlier.text
    assert served.get("/weekly?until=yesterday").status_code == 400


def test_nothing_can_change_anything(served: Served) -> None:
    for path in ("/", "/runs/1", "/schedule", "/weekly", "/healthz", "/metrics"):
        for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            response = httpx.request(method, served.url + path, timeout=30)
            assert response.status_code == 405, (method, path)
            assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}
        assert httpx.head(served.url + path, timeout=30).status_code == 200, path


def test_pages_forbid_scripts_and_framing(served: Served) -> None:
    for path in ("/", f"/runs/{served.seeded.hostile_run}", "/schedule", "/weekly"):
        headers = served.get(path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"


def _texts(doc: Element) -> str:
    return doc.text()


def test_in_chromium_hostile_names_stay_text(served: Served) -> None:
    """The DOM a browser builds: no element came from a name; every hostile name is text."""
    seen = ""
    for path in (*PAGES, f"/runs/{served.seeded.hostile_run}", f"/runs/{served.seeded.failed_run}"):
        dom = parse(dump_dom(served.url + path))
        assert not dom.find_all("script"), path
        assert not dom.find_all("img"), path
        assert not dom.find_all("b"), path
        assert all(not name.startswith("on") for e in dom.iter() for name in e.attrs), (
            f"an event handler attribute on {path}"
        )
        seen += _texts(dom)
    for hostile in HOSTILE_STRINGS:
        assert hostile in seen, hostile
    assert HOSTILE_ERROR in seen


def test_screenshots_at_phone_and_desktop_width(served: Served, tmp_path: Path) -> None:
    """Pictures to look at (kept in $JANITOR_SCREENSHOT_DIR when set)."""
    keep = os.environ.get("JANITOR_SCREENSHOT_DIR")
    shots = {
        "runs-desktop": ("/", DESKTOP),
        "runs-phone": ("/", PHONE),
        "run-phone": (f"/runs/{served.seeded.delete_run}", PHONE),
        "schedule-phone": ("/schedule", PHONE),
    }
    for name, (path, size) in shots.items():
        shot = screenshot(served.url + path, tmp_path / f"{name}.png", size)
        assert png_size(shot) == size
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, Path(keep) / shot.name)
