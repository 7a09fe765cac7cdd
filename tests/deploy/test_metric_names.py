"""/metrics names as Prometheus' naming advice has them: `janitor_` prefix, base units in the
name, `_total` on counters, a `janitor_build_info` gauge, and no `_created` series."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

import janitor
from janitor.service.metrics import ServiceMetrics


def families() -> dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]:
    metrics = ServiceMetrics()
    metrics.track_policies(["nightly"])
    metrics.run_duration.labels("nightly").observe(3.0)
    text = metrics.render().decode("utf-8")
    return {
        f.name: (f.type, [(s.name, s.labels, s.value) for s in f.samples])
        for f in text_string_to_metric_families(text)
    }


def test_no_created_series_and_counters_end_in_total() -> None:
    found = families()
    for name, (kind, samples) in found.items():
        assert re.fullmatch(r"janitor_[a-z_]+", name), name
        for sample, _, _ in samples:
            assert not sample.endswith("_created"), sample
            if kind == "counter":
                assert sample.endswith("_total"), sample


def test_reclaimed_bytes_and_build_info() -> None:
    found = families()
    kind, samples = found["janitor_reclaimed_bytes"]
    assert kind == "counter"
    assert samples == [("janitor_reclaimed_bytes_total", {"policy": "nightly"}, 0.0)]
    kind, samples = found["janitor_build_info"]
    assert kind == "gauge"
    ((_, labels, value),) = samples
    assert value == 1.0 and labels["version"] == janitor.__version__ and labels["python"]
    assert "janitor_bytes_reclaimed" not in found
