"""Reading Hub's answers: times, both tag shapes, the delete-images answers, hostile fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from janitor.hub.errors import HubProtocolError
from janitor.hub.models import DeleteError, DeleteMetrics, DeleteWarning, PlatformImage, TagRef
from janitor.hub.parse import (
    _HUB_TIME,
    _fast_tag,
    format_time,
    is_validation_answer,
    parse_delete_success,
    parse_delete_validation,
    parse_image,
    parse_images_summary,
    parse_page,
    parse_repository,
    parse_tag,
    parse_time,
)

DIGEST = "sha256:" + "a" * 64
AMD = "sha256:" + "b" * 64
ARM = "sha256:" + "c" * 64


class TestTimes:
    @pytest.mark.parametrize("value", [None, "", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00"])
    def test_never(self, value: object) -> None:
        assert parse_time(value) is None

    def test_utc_with_fraction(self) -> None:
        assert parse_time("2021-02-24T22:05:27.526308Z") == datetime(
            2021, 2, 24, 22, 5, 27, 526308, tzinfo=UTC
        )

    def test_nanoseconds_are_cut_to_microseconds(self) -> None:
        parsed = parse_time("2021-01-25T14:25:37.076343059Z")
        assert parsed == datetime(2021, 1, 25, 14, 25, 37, 76343, tzinfo=UTC)

    def test_offset_becomes_utc(self) -> None:
        parsed = parse_time("2021-01-05T23:06:53+02:00")
        assert parsed is not None and parsed.tzinfo is UTC and parsed.hour == 21

    def test_naive_is_taken_as_utc(self) -> None:
        assert parse_time("2021-01-05T21:06:53") == datetime(2021, 1, 5, 21, 6, 53, tzinfo=UTC)

    @pytest.mark.parametrize("value", [12, True, ["2021-01-01"], "yesterday", "2021-13-45"])
    def test_not_a_time(self, value: object) -> None:
        with pytest.raises(HubProtocolError, match="time"):
            parse_time(value, "an image with 'last_pulled'")

    def test_format_time_is_utc_with_z(self) -> None:
        when = datetime(2020, 12, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
        assert format_time(when) == "2020-12-01T12:00:00Z"
        assert format_time(when.replace(microsecond=5)) == "2020-12-01T12:00:00.000005Z"

    def test_format_time_refuses_naive(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            format_time(datetime(2020, 12, 1))

    @given(st.datetimes(timezones=st.just(UTC), min_value=datetime(1970, 1, 1)))
    def test_format_then_parse_round_trips(self, when: datetime) -> None:
        assert parse_time(format_time(when)) == when


LIVE_TAG: dict[str, Any] = {
    "name": "latest",
    "digest": DIGEST,
    "full_size": 300,
    "status": "active",
    "last_updated": "2024-01-01T00:00:00Z",
    "tag_last_pushed": "2024-01-01T00:00:00Z",
    "tag_last_pulled": None,
    "images": [
        {"digest": AMD, "os": "linux", "architecture": "amd64", "size": 100, "status": "active"},
        {"digest": ARM, "os": "linux", "architecture": "arm64", "variant": "v8", "size": 200},
    ],
}
SPEC_TAG: dict[str, Any] = {
    "name": "v1",
    "full_size": 100,
    "tag_last_pushed": "2024-01-01T00:00:00Z",
    "tag_last_pulled": "0001-01-01T00:00:00Z",
    "images": {"digest": DIGEST, "os": "linux", "architecture": "amd64", "size": 100},
}


class TestTags:
    def test_live_shape(self) -> None:
        tag = parse_tag(LIVE_TAG, "acme/web")
        assert tag.digest == DIGEST
        assert [p.digest for p in tag.images] == [AMD, ARM]
        assert tag.images[1] == PlatformImage(
            digest=ARM, architecture="arm64", os="linux", variant="v8", size=200
        )
        assert tag.last_pulled is None and tag.full_size == 300

    def test_spec_shape(self) -> None:
        tag = parse_tag(SPEC_TAG, "acme/web")
        assert tag.digest is None  # not said: the one object may be a platform of an index
        assert tag.images[0].digest == DIGEST
        assert len(tag.images) == 1 and tag.images[0].size == 100
        assert tag.last_pulled is None  # the zero time

    def test_tag_status_is_the_live_name_of_a_tags_state(self) -> None:
        live = {k: v for k, v in LIVE_TAG.items() if k != "status"}
        assert parse_tag({**live, "tag_status": "inactive"}, "acme/web").status == "inactive"
        both = {**LIVE_TAG, "status": "active", "tag_status": "inactive"}
        assert parse_tag(both, "acme/web").status == "inactive"  # tag_status wins
        assert parse_tag(LIVE_TAG, "acme/web").status == "active"  # the spec's name alone
        slow = {**live, "tag_status": "inactive", "tag_last_pushed": "2024-01-01 00:00:00Z"}
        assert parse_tag(slow, "acme/web").status == "inactive"  # the strict path reads it too

    def test_nanosecond_times_take_the_fast_path(self) -> None:
        nanos = "2026-08-19T17:09:02.431065465Z"
        assert _HUB_TIME.fullmatch(nanos)
        tag = parse_tag({**LIVE_TAG, "tag_last_pushed": nanos}, "acme/web")
        assert tag.last_pushed == datetime(2026, 8, 19, 17, 9, 2, 431065, tzinfo=UTC)
        assert _fast_tag({**LIVE_TAG, "tag_last_pushed": nanos}) == tag

    def test_no_images(self) -> None:
        tag = parse_tag({"name": "x", "images": None}, "acme/web")
        assert tag.images == () and tag.digest is None

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"name": None}, "without 'name'"),
            ({"name": 5}, "'name' is an integer"),
            ({"images": "sha256:x"}, "'images' is a string"),
            ({"images": [7]}, "platform image .* an integer, not an object"),
            ({"full_size": "300"}, "'full_size' is a string, not an integer"),
            ({"full_size": True}, "'full_size' is a boolean"),
            ({"tag_last_pushed": 1700000000}, "time"),
        ],
    )
    def test_hostile_fields(self, change: dict[str, Any], message: str) -> None:
        with pytest.raises(HubProtocolError, match=message):
            parse_tag({**LIVE_TAG, **change}, "acme/web")

    def test_not_an_object(self) -> None:
        with pytest.raises(HubProtocolError, match="a tag of acme/web as a list"):
            parse_tag([], "acme/web")


class TestImagesAndRepositories:
    def test_image(self) -> None:
        image = parse_image(
            {
                "namespace": "acme",
                "repository": "web",
                "digest": DIGEST,
                "tags": [{"tag": "latest", "is_current": True}, {"tag": "v1", "is_current": False}],
                "last_pushed": "2021-02-24T22:05:27.526308Z",
                "last_pulled": None,
                "status": "inactive",
            },
            "acme",
            "web",
        )
        assert image.tags == (TagRef("latest", True), TagRef("v1", False))
        assert image.current_tags == ("latest",)
        assert image.last_pulled is None and image.status == "inactive"

    @pytest.mark.parametrize(
        "body",
        [
            {"tags": []},
            {"digest": ""},
            {"digest": DIGEST, "tags": {"tag": "x"}},
            {"digest": DIGEST, "tags": [{"tag": "x"}]},
            {"digest": DIGEST, "tags": [{"tag": "x", "is_current": "yes"}]},
        ],
    )
    def test_hostile_image(self, body: dict[str, Any]) -> None:
        with pytest.raises(HubProtocolError, match="acme/web"):
            parse_image(body, "acme", "web")

    def test_repository_status_description_wins(self) -> None:
        repo = parse_repository(
            {
                "name": "web",
                "namespace": "acme",
                "status": 1,
                "status_description": "active",
                "is_private": True,
                "storage_size": 10,
                "last_updated": "2023-06-20T10:44:45.459826Z",
            },
            "acme",
        )
        assert (repo.name, repo.status, repo.is_private, repo.storage_size) == (
            "web",
            "active",
            True,
            10,
        )

    def test_repository_numeric_status_alone(self) -> None:
        assert parse_repository({"name": "web", "status": 1}, "acme").status == "1"

    def test_page(self) -> None:
        assert parse_page({"count": 1, "next": None, "results": [1]}, "x") == ([1], 1, None)
        with pytest.raises(HubProtocolError, match="without 'results'"):
            parse_page({"count": 1}, "repositories")
        with pytest.raises(HubProtocolError, match="'count' is a string"):
            parse_page({"count": "1", "results": []}, "repositories")

    def test_images_summary(self) -> None:
        summary = parse_images_summary(
            {
                "active_from": "2021-01-25T14:25:37.076343059Z",
                "statistics": {"total": 3, "active": 2, "inactive": 1},
            },
            "acme/web",
        )
        assert (summary.total, summary.active, summary.inactive) == (3, 2, 1)
        with pytest.raises(HubProtocolError, match="statistics"):
            parse_images_summary({"active_from": None}, "acme/web")


class TestDeleteAnswers:
    def test_success(self) -> None:
        body = {
            "dry_run": False,
            "metrics": {
                "manifest_deletes": 3,
                "manifest_errors": 0,
                "tag_deletes": 1,
                "tag_errors": 0,
            },
        }
        result = parse_delete_success(body, dry_run=False)
        assert result.accepted and not result.dry_run
        assert result.metrics == DeleteMetrics(3, 0, 1, 0)

    def test_dry_run_mismatch_is_suspicious(self) -> None:
        with pytest.raises(HubProtocolError, match="dry_run") as caught:
            parse_delete_success({"dry_run": False, "metrics": {}}, dry_run=True)
        assert caught.value.maybe_applied

    def test_validation(self) -> None:
        body: dict[str, Any] = {
            "txnid": "t-1",
            "message": "Deletion not possible",
            "errinfo": {
                "type": "validation",
                "details": {
                    "errors": [{"repository": "web", "digest": AMD, "error": "child_manifest"}],
                    "warnings": [
                        {
                            "repository": "web",
                            "digest": DIGEST,
                            "warning": "current_tag",
                            "tags": ["latest"],
                        },
                        {"repository": "web", "digest": ARM, "warning": "is_active"},
                    ],
                },
            },
        }
        assert is_validation_answer(body)
        result = parse_delete_validation(body, dry_run=True)
        assert not result.accepted and result.metrics is None
        assert result.errors == (DeleteError("web", AMD, "child_manifest"),)
        assert result.warnings == (
            DeleteWarning("web", DIGEST, "current_tag", ("latest",)),
            DeleteWarning("web", ARM, "is_active"),
        )
        assert (result.message, result.txnid) == ("Deletion not possible", "t-1")
        # warnings go back to Hub exactly as Hub gave them
        assert result.warnings[0].as_json() == body["errinfo"]["details"]["warnings"][0]

    def test_txnid_from_errinfo(self) -> None:
        body = {"errinfo": {"api_call_txnid": "t-2", "details": {}}}
        assert is_validation_answer(body)
        assert parse_delete_validation(body, dry_run=True).txnid == "t-2"

    @pytest.mark.parametrize(
        "body",
        [{"message": "bad request"}, {"errinfo": {"type": "other"}}, [], None, "text"],
    )
    def test_not_a_validation_answer(self, body: object) -> None:
        assert not is_validation_answer(body)

    def test_hostile_warning(self) -> None:
        body = {
            "errinfo": {
                "type": "validation",
                "details": {
                    "warnings": [
                        {
                            "repository": "web",
                            "digest": DIGEST,
                            "warning": "current_tag",
                            "tags": [1],
                        }
                    ]
                },
            }
        }
        with pytest.raises(HubProtocolError, match="tag that is not a string"):
            parse_delete_validation(body, dry_run=True)
