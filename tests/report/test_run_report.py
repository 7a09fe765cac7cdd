"""The run report: every section, hostile names, the text part carrying the HTML's facts."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from janitor.records import DecisionRecord, RunMetrics, RunRecord
from janitor.report import RenderedReport, render_run_report
from janitor.report.run import ROW_LIMIT

from .htmlparse import Element, card, parse, squash, tiles
from .samples import (
    HOSTILE_REPO,
    HOSTILE_TAG,
    LONG_REPO,
    NOW,
    UNICODE_TAG,
    decision,
    many_decisions,
    metrics_for,
    sample_run,
)


def render(run: RunRecord, decisions: list[DecisionRecord], **kw: object) -> RenderedReport:
    return render_run_report(run, decisions, generated_at=NOW, **kw)  # type: ignore[arg-type]


def run_facts(doc: Element) -> dict[str, str]:
    return {
        squash(tr.find("th").text()): squash(tr.find("td").text())
        for tr in card(doc, "Run").find_all("tr")
    }


def text_section(text: str, title_starts: str) -> list[str]:
    """The lines of the plain-text section whose underlined heading starts with the title."""
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith(title_starts) and set(lines[i + 1]) == {"-"}:
            body = []
            for following in lines[i + 2 :]:
                if following and not following.startswith(" ") and not following.startswith("-"):
                    break
                body.append(following)
            while body and set(body[-1]) <= {"-"} and body[-1]:
                body.pop()
            return body
    raise AssertionError(f"no text section {title_starts!r}")


def text_facts(text: str, title: str) -> dict[str, str]:
    facts = {}
    for line in text_section(text, title):
        m = re.match(r"^  ([^:]+):\s+(.*?)(  \(!\))?$", line)
        if m:
            facts[m.group(1)] = m.group(2)
    return facts


def test_every_section_of_a_delete_run() -> None:
    run, decisions = sample_run()
    report = render(run, decisions)
    doc = parse(report.html)
    headings = [squash(h.text()) for h in doc.find_all("h2")]
    for expected in (
        "Run",
        "Totals",
        "Hub's metrics",
        "Per repository (5)",
        "Deleted images (11)",
        "Skipped for a warning (1)",
        "Errors (1)",
        "Candidates kept by a keep rule (1)",
    ):
        assert any(h.startswith(expected) for h in headings), (expected, headings)

    facts = run_facts(doc)
    assert facts["Policy"] == "nightly-cleanup"
    assert facts["Namespace"] == "acme"
    assert facts["Mode"].startswith("DELETE")
    assert facts["Trigger"] == "schedule"
    assert facts["Backend"] == "delete-images"
    assert facts["Started"] == "2026-05-11 07:52:48 UTC"
    assert facts["Finished"] == "2026-05-11 08:00:00 UTC"
    assert facts["Duration"] == "7 min 12 s"
    assert facts["Status"].startswith("SUCCEEDED")

    totals = tiles(card(doc, "Totals"))
    m = run.metrics
    assert totals["Repositories scanned"] == str(m.repositories_scanned)
    assert totals["Images scanned"] == str(m.images_scanned)
    assert totals["Candidates"] == str(m.candidates)
    assert totals["Kept"] == str(m.kept)
    assert totals["Planned for deletion"] == str(m.planned_deletes)
    assert totals["Skipped for a warning"] == "1"
    assert totals["Deleted"] == "11"
    assert totals["Errors"] == "1"
    assert totals["Reclaimed"] == "3.2 GiB"
    assert totals["Hub API calls"] == "37"
    assert totals["Rate-limited (429)"] == "2"
    assert "Would delete" not in totals

    hub = tiles(card(doc, "Hub's metrics"))
    assert hub == {
        "manifest_deletes": "11",
        "manifest_errors": "0",
        "tag_deletes": "9",
        "tag_errors": "0",
    }

    per_repo = card(doc, "Per repository")
    rows = {
        squash(tr.find_all("td")[0].text()): [squash(td.text()) for td in tr.find_all("td")[1:]]
        for tr in per_repo.find("tbody").find_all("tr")
    }
    assert rows["api"] == ["12", "6", "6", "0", "0", "195.0 MiB"]
    assert rows["web-frontend"] == ["4", "0", "3", "1", "0", "unknown"]
    assert rows["worker"] == ["2", "1", "0", "0", "1", "—"]

    deleted = card(doc, "Deleted images")
    first = deleted.find("tbody").find_all("tr")[0]
    cells = [squash(td.text()) for td in first.find_all("td")]
    assert cells[0] == "api"
    assert cells[1] == decisions[0].digest
    assert cells[2] == "1.0.0 build-100"
    assert cells[3] == "30.0 MiB"
    assert cells[4] == "2025-10-23 08:00"
    assert cells[5] == "2026-03-12 08:00"
    assert "older than 90d" in cells[6]
    second = [squash(td.text()) for td in deleted.find("tbody").find_all("tr")[1].find_all("td")]
    assert second[5] == "never"  # never pulled is a state, not a blank

    skipped = squash(card(doc, "Skipped for a warning").text())
    assert "current_tag: the image is currently tagged latest, main" in skipped
    errors = squash(card(doc, "Errors").text())
    assert "not_found: Hub: manifest unknown (txnid 7f3a9c)" in errors
    saved = squash(card(doc, "Candidates kept by a keep rule").text())
    assert "kept by keep[0] tag: ^stable$" in saved

    assert (
        report.subject == "[janitor] nightly-cleanup on acme: deleted 11 images (3.2 GiB), 1 error"
    )
    assert "2026-05-11 08:00:00 UTC" in squash(doc.find("p", "footer").text())


def test_text_part_carries_the_same_facts() -> None:
    run, decisions = sample_run()
    report = render(run, decisions)
    doc = parse(report.html)
    assert len(tiles(card(doc, "Totals"))) == 11
    assert text_facts(report.text, "Totals") == tiles(card(doc, "Totals"))
    assert text_facts(report.text, "Hub's metrics") == tiles(card(doc, "Hub's metrics"))
    assert text_facts(report.text, "Run") == run_facts(doc)
    for d in decisions:
        in_html = d.digest in report.html
        in_text = d.digest in report.text
        listed = d.outcome != "kept" or d.selected_by is not None
        assert in_html == in_text == listed, d
    deleted_text = "\n".join(text_section(report.text, "Deleted images (11)"))
    for d in decisions:
        if d.outcome == "deleted":
            assert d.digest in deleted_text
            assert d.digest in squash(card(doc, "Deleted images").text())
    per_repo = "\n".join(text_section(report.text, "Per repository (5)"))
    assert "- api: 12 images, 6 kept, 6 deleted, 0 skipped, 0 errors, reclaimed 195.0 MiB" in (
        per_repo
    )
    assert "pulled never" in report.text
    assert "Deleted 11 of 20 images in 5 repositories, reclaiming 3.2 GiB" in report.text


def test_hostile_names_render_as_text() -> None:
    run, decisions = sample_run()
    run = replace(run, policy='pol<b>"icy', namespace="ns&<i>")
    report = render(run, decisions)
    doc = parse(report.html)
    assert not doc.find_all("script")
    assert not doc.find_all("img")
    assert not doc.find_all("b")
    assert not doc.find_all("i")
    for element in doc.iter():
        assert not any(name.startswith("on") for name in element.attrs), element.attrs
    visible = doc.text()
    assert HOSTILE_TAG in visible
    assert HOSTILE_REPO in visible
    assert UNICODE_TAG in visible
    assert 'quote"tag' in visible
    assert LONG_REPO in visible  # never cut
    assert "t" * 120 in visible
    assert 'pol<b>"icy on ns&<i>' in squash(doc.find("h1").text())
    assert "<script>" not in report.html
    # The text part is plain: no entities, the same characters.
    assert HOSTILE_TAG in report.text
    assert UNICODE_TAG in report.text
    assert "&lt;" not in report.text


def test_control_characters_cannot_forge_lines_or_headers() -> None:
    run, decisions = sample_run()
    run = replace(run, policy="evil\nSubject: fake", namespace="ns\r\nBcc: x@example.com")
    forged = decision("api", "forged", "deleted", tags=("ok\n- fake line",))
    report = render(run, [*decisions, forged])
    assert "\n" not in report.subject and "\r" not in report.subject
    assert "evil\\x0aSubject: fake" in report.subject
    assert "\n- fake line" not in report.text
    assert "ok\\x0a- fake line" in report.text


def test_a_failed_run_shows_its_error_at_the_top() -> None:
    error = "Hub answered 503 Service Unavailable (txnid 1b2c3d); the run stopped"
    run, decisions = sample_run(status="failed", error=error)
    report = render(run, decisions)
    doc = parse(report.html)
    first_card = doc.find_all("div", "card")[0]
    banner = first_card.find_all("div", "banner")[0]
    assert squash(banner.text()).startswith("FAILED")
    assert "tone-bad" in banner.classes  # red, and the word says it too
    assert error in squash(banner.text())
    assert report.html.index(error) < report.html.index(">Totals<")
    assert report.subject.startswith("[janitor] FAILED nightly-cleanup on acme")
    head = report.text.split("Run\n---")[0]
    assert "FAILED: the run stopped on an error." in head
    assert error in head
    assert "So far: deleted 11" in head


def test_an_interrupted_run_lists_what_was_not_attempted() -> None:
    run, _ = sample_run(status="interrupted", error="interrupted: the process stopped")
    decisions = [
        decision("api", "a", "deleted"),
        decision("api", "b", "not_attempted", detail="stopped before this batch"),
        decision("api", "c", "pending"),
        decision("api", "d", "unconfirmed", detail="sent; no answer before the connection dropped"),
    ]
    report = render(run, decisions)
    doc = parse(report.html)
    assert squash(doc.find("div", "banner").text()).startswith("INTERRUPTED")
    unfinished = card(doc, "Not attempted (2)")
    assert decisions[1].digest in unfinished.text()
    assert decisions[2].digest in unfinished.text()
    assert "stopped before this batch" in unfinished.text()
    errors = card(doc, "Errors (1)")
    assert decisions[3].digest in errors.text()
    assert "unconfirmed" in squash(errors.text())
    assert "Not attempted (2)" in report.text
    assert tiles(card(doc, "Totals"))["Not attempted"] == "2"


def test_a_dry_run_is_labelled_as_such() -> None:
    run, decisions = sample_run(dry_run=True)
    report = render(run, decisions)
    doc = parse(report.html)
    banners = [squash(b.text()) for b in doc.find_all("div", "banner")]
    assert any(b.startswith("DRY RUN: nothing was deleted") for b in banners)
    headings = [squash(h.text()) for h in doc.find_all("h2")]
    assert "Images that would be deleted (11)" in headings
    assert not any(h.startswith("Deleted images") for h in headings)
    totals = tiles(card(doc, "Totals"))
    assert totals["Would delete"] == "11"
    assert totals["Would reclaim"] == "3.2 GiB"
    assert "Deleted" not in totals
    assert report.subject == (
        "[janitor] DRY RUN nightly-cleanup on acme: would delete 11 images (3.2 GiB), 1 error"
    )
    assert "DRY RUN: nothing was deleted." in report.text
    assert "Nothing was deleted: this was a dry run." in report.text
    assert "Images that would be deleted (11)" in report.text
    assert "A dry run deletes nothing" in squash(card(doc, "Hub's metrics").text())


def test_an_empty_run_renders() -> None:
    run = RunRecord(
        id=7,
        policy="empty",
        namespace="acme",
        trigger="cli",
        dry_run=False,
        status="succeeded",
        started_at=NOW,
        finished_at=NOW + timedelta(seconds=0.4),
    )
    report = render(run, [])
    doc = parse(report.html)
    assert "No repository was scanned." in doc.text()
    assert "Nothing was deleted." in doc.text()
    assert tiles(card(doc, "Totals"))["Reclaimed"] == "unknown"
    assert run_facts(doc)["Duration"] == "0.4 s"
    assert report.subject == "[janitor] empty on acme: deleted 0 images"
    assert "No repository was scanned." in report.text
    assert "Nothing was deleted." in report.text


def test_a_running_run_says_it_is_not_finished() -> None:
    run = replace(sample_run()[0], status="running", finished_at=None)
    report = render(run, [])
    facts = run_facts(parse(report.html))
    assert facts["Finished"] == "not finished"
    assert facts["Duration"] == "—"
    assert report.subject.startswith("[janitor] STILL RUNNING ")


def test_long_lists_show_the_first_rows_and_count_the_rest() -> None:
    extra = 137
    total = ROW_LIMIT + extra
    stream = many_decisions(total)  # a generator, read once, as the store streams it
    run = replace(sample_run()[0], metrics=RunMetrics(deleted=total, images_scanned=total))
    report = render_run_report(run, stream, generated_at=NOW)
    doc = parse(report.html)
    deleted = card(doc, f"Deleted images ({total:,})")
    assert len(deleted.find("tbody").find_all("tr")) == ROW_LIMIT
    note = f"Showing the first {ROW_LIMIT} of {total} images; {extra} more are not listed here."
    assert note in squash(deleted.text())
    assert note in report.text
    digests = [d.digest for d in many_decisions(total)]
    assert all(d in report.html and d in report.text for d in digests[:ROW_LIMIT])
    assert not any(d in report.html or d in report.text for d in digests[ROW_LIMIT:])
    # The per-repository table still counts every decision.
    rows = card(doc, "Per repository (7)").find("tbody").find_all("tr")
    assert sum(int(squash(tr.find_all("td")[3].text())) for tr in rows) == total


def test_the_store_summary_is_used_when_given() -> None:
    run, decisions = sample_run()
    summary = [
        {
            "repository": "api",
            "images": 1200,
            "kept": 1000,
            "deleted": 190,
            "would_delete": 0,
            "skipped_warning": 4,
            "errors": 6,
            "bytes": 5 * 1024**3,
        }
    ]
    report = render(run, decisions, repositories=summary)
    rows = card(parse(report.html), "Per repository (1)").find("tbody").find_all("tr")
    assert [squash(td.text()) for td in rows[0].find_all("td")] == [
        "api",
        "1,200",
        "1,000",
        "190",
        "4",
        "6",
        "5.0 GiB",
    ]
    assert "- api: 1,200 images, 1,000 kept, 190 deleted, 4 skipped, 6 errors" in report.text


def test_styles_are_inlined_and_nothing_runs() -> None:
    run, decisions = sample_run()
    report = render(run, decisions)
    doc = parse(report.html)
    assert not doc.find_all("script")
    assert not doc.find_all("link")
    for style in doc.find_all("style"):
        css = style.text().strip()
        # Only media queries stay (they cannot be inlined); nothing else is left to a <style>.
        assert css.startswith("@media"), css[:80]
    assert doc.find("div", "wrap").css["max-width"] == "1100px"
    for element in doc.find_all("div", "card"):
        assert element.css["background"] == "#ffffff"
    for element in doc.find_all("table", "data"):
        assert element.css["border-collapse"] == "collapse"
    banner = doc.find("div", "banner")
    assert banner.css["background"] == "#dafbe1"  # the success tone, inline
    assert doc.find("meta").attrs.get("charset") == "utf-8"
    viewport = [m for m in doc.find_all("meta") if m.attrs.get("name") == "viewport"]
    assert viewport and "width=device-width" in (viewport[0].attrs["content"] or "")


def test_rendering_is_pure_and_deterministic() -> None:
    run, decisions = sample_run()
    first = render(run, decisions)
    second = render(run, list(decisions))
    assert first == second
    later = render_run_report(run, decisions, generated_at=NOW + timedelta(days=1))
    assert later.html != first.html
    assert "2026-05-12 08:00:00 UTC" in later.text


@pytest.mark.parametrize(
    ("dry_run", "expected"),
    [(False, "deleted 0 images"), (True, "would delete 0 images")],
)
def test_unknown_sizes_are_said_to_be_unknown(dry_run: bool, expected: str) -> None:
    run, _ = sample_run(dry_run=dry_run)
    decisions = [decision("api", "x", "kept")]
    run = replace(run, metrics=metrics_for(decisions, dry_run=dry_run))
    report = render(run, decisions)
    assert expected in report.subject
    label = "Would reclaim" if dry_run else "Reclaimed"
    assert tiles(card(parse(report.html), "Totals"))[label] == "unknown"


def test_rows_without_any_list_say_so(tmp_path: object) -> None:
    run, _ = sample_run()
    decisions = [decision("api", f"k{i}", "kept") for i in range(3)]
    report = render(run, decisions)
    doc: Element = parse(report.html)
    assert "No image was skipped for a warning." in doc.text()
    assert "Hub reported no error for any image." in doc.text()
    assert "No candidate was saved by a keep rule." in doc.text()
    assert not doc.find_all("p", "more")
