"""The pure parsers, no server: a Prometheus instant-query answer → one number
(`checks.promql`), an Alertmanager alert list → `Alert`s (`checks.alertmanager`)."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from checks.alertmanager import normalize_severity, parse_alerts, parse_time
from checks.models import Alert
from checks.promql import ResponseError, parse_query_response


def ok(result_type: str, result) -> dict:
    return {"status": "success", "data": {"resultType": result_type, "result": result}}


def sample(value: str, **labels) -> dict:
    return {"metric": {"__name__": "m", **labels}, "value": [1731340800.123, value]}


# -- PromQL -----------------------------------------------------------------------


def test_scalar():
    assert parse_query_response(ok("scalar", [1731340800.0, "0.25"])) == 0.25


def test_vector_with_one_sample():
    assert parse_query_response(ok("vector", [sample("42", job="api")])) == 42.0


def test_empty_vector_is_no_data():
    assert parse_query_response(ok("vector", [])) is None


@pytest.mark.parametrize("kind", ["scalar", "vector"])
def test_nan_is_no_data(kind):
    payload = ok("scalar", [0, "NaN"]) if kind == "scalar" else ok("vector", [sample("NaN")])
    assert parse_query_response(payload) is None


@pytest.mark.parametrize(("text", "expected"), [("+Inf", math.inf), ("-Inf", -math.inf), ("1e-3", 0.001), ("0", 0.0)])
def test_special_and_exponent_values(text, expected):
    assert parse_query_response(ok("scalar", [0, text])) == expected


def test_warnings_are_ignored():
    payload = ok("vector", [sample("1")]) | {"warnings": ["PromQL info: metric might not be a counter"]}
    assert parse_query_response(payload) == 1.0


@pytest.mark.parametrize("n", [2, 3, 17])
def test_several_series_names_the_count(n):
    with pytest.raises(ResponseError) as e:
        parse_query_response(ok("vector", [sample(str(i), i=str(i)) for i in range(n)]))
    assert str(e.value) == f"query returned {n} series; a gate needs one number"


def test_matrix_and_string_are_not_one_number():
    with pytest.raises(ResponseError, match="range vector"):
        parse_query_response(ok("matrix", [{"metric": {}, "values": [[0, "1"], [15, "2"]]}]))
    with pytest.raises(ResponseError, match="query returned a string"):
        parse_query_response(ok("string", [0, "hello"]))


def test_native_histogram_is_not_one_number():
    with pytest.raises(ResponseError, match="native histogram"):
        parse_query_response(ok("vector", [{"metric": {}, "histogram": [0, {"count": "3"}]}]))


def test_bad_data_error_payload():
    payload = {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: unexpected end of input"}
    with pytest.raises(ResponseError) as e:
        parse_query_response(payload)
    assert str(e.value) == "prometheus: bad_data: 1:5: parse error: unexpected end of input"


def test_error_payload_without_details_and_long_text():
    with pytest.raises(ResponseError) as e:
        parse_query_response({"status": "error"})
    assert str(e.value) == "prometheus: error: no error text"
    with pytest.raises(ResponseError) as e:
        parse_query_response({"status": "error", "errorType": "execution", "error": "x\n" * 1000})
    assert len(str(e.value)) <= 300 and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "success",
        {},
        {"status": "success"},
        {"status": "success", "data": []},
        ok("vector", {"not": "a list"}),
        ok("vector", ["not an object"]),
        ok("vector", [{"metric": {}}]),
        ok("vector", [{"metric": {}, "value": [0]}]),
        ok("vector", [{"metric": {}, "value": [0, "abc"]}]),
        ok("scalar", [0, None]),
        ok("scalar", [0, True]),
        ok("scalar", "1"),
        ok("table", []),
    ],
)
def test_malformed_payloads_are_invalid_responses(payload):
    with pytest.raises(ResponseError) as e:
        parse_query_response(payload)
    assert str(e.value).startswith("invalid response: ")


def test_response_error_is_a_value_error():
    assert issubclass(ResponseError, ValueError)


# -- Alertmanager -------------------------------------------------------------------


def am_alert(name="DiskFull", severity="critical", fingerprint="3f1c2d4e5a6b7c8d", starts="2025-11-12T03:04:05.123456789Z", **annotations):
    labels = {"alertname": name, "instance": "node-3"}
    if severity is not None:
        labels["severity"] = severity
    return {
        "labels": labels,
        "annotations": annotations,
        "startsAt": starts,
        "endsAt": "2025-11-12T03:09:05.123Z",
        "updatedAt": "2025-11-12T03:04:05.200Z",
        "fingerprint": fingerprint,
        "receivers": [{"name": "blackhole"}],
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
        "generatorURL": "http://prometheus/graph",
    }


def test_alert_mapping():
    (a,) = parse_alerts([am_alert(summary="node-3 disk is 97% full", description="long")])
    assert a == Alert(
        at=datetime(2025, 11, 12, 3, 4, 5, 123456, tzinfo=timezone.utc),
        source="alertmanager",
        severity="critical",
        name="DiskFull",
        summary="node-3 disk is 97% full",
        fingerprint="am:3f1c2d4e5a6b7c8d",
        labels={"alertname": "DiskFull", "instance": "node-3", "severity": "critical"},
    )
    assert a.at.tzinfo is not None


def test_summary_falls_back_to_description_then_empty():
    (a,) = parse_alerts([am_alert(description="P95 above 500 ms")])
    assert a.summary == "P95 above 500 ms"
    (b,) = parse_alerts([am_alert()])
    assert b.summary == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("P0", "P0"),
        ("P2", "P2"),
        ("p4", "P4"),
        ("critical", "critical"),
        ("Critical", "critical"),
        ("WARNING", "warning"),
        ("info", "info"),
        (" page ", "page"),
        ("", "warning"),
        (None, "warning"),
    ],
)
def test_severity(raw, expected):
    assert normalize_severity(raw) == expected


def test_missing_severity_label_is_warning():
    (a,) = parse_alerts([am_alert(severity=None)])
    assert a.severity == "warning"


def test_newest_first_and_suppressed_left_out():
    old = am_alert(name="Old", fingerprint="01", starts="2025-11-12T01:00:00Z")
    new = am_alert(name="New", fingerprint="02", starts="2025-11-12T02:00:00+01:00")  # 01:00Z, tie → by fingerprint
    newest = am_alert(name="Newest", fingerprint="03", starts="2025-11-12T05:00:00Z")
    silenced = am_alert(name="Silenced", fingerprint="04") | {"status": {"state": "suppressed", "silencedBy": ["x"]}}
    unprocessed = am_alert(name="Fresh", fingerprint="05", starts="2025-11-12T04:00:00Z") | {"status": {"state": "unprocessed"}}
    names = [a.name for a in parse_alerts([old, silenced, newest, new, unprocessed])]
    assert names == ["Newest", "Fresh", "New", "Old"]


def test_times_with_offsets_and_without():
    assert parse_time("2025-11-12T03:04:05+02:00") == datetime(2025, 11, 12, 1, 4, 5, tzinfo=timezone.utc)
    assert parse_time("2025-11-12T03:04:05.5Z").microsecond == 500000
    naive = parse_time("2025-11-12T03:04:05")
    assert naive.tzinfo is not None and naive.utcoffset() == timedelta(0)


def test_missing_name_and_fingerprint():
    item = am_alert()
    item["labels"].pop("alertname")
    item.pop("fingerprint")
    (a,) = parse_alerts([item])
    assert a.name == "(unnamed)"
    assert a.fingerprint.startswith("am:") and len(a.fingerprint) > 3
    (b,) = parse_alerts([item])
    assert b.fingerprint == a.fingerprint  # stable across polls


def test_empty_list():
    assert parse_alerts([]) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"alerts": []},
        None,
        "[]",
        ["not an alert"],
        [am_alert(starts="yesterday")],
        [am_alert(starts=None)],
        [am_alert() | {"labels": ["alertname", "X"]}],
        [am_alert() | {"annotations": "summary"}],
    ],
)
def test_malformed_alert_lists_are_invalid_responses(payload):
    with pytest.raises(ResponseError) as e:
        parse_alerts(payload)
    assert str(e.value).startswith("invalid response: ")


def test_one_bad_alert_rejects_the_whole_answer():
    # Dropping it would let the engine resolve an alert that is still firing.
    with pytest.raises(ResponseError):
        parse_alerts([am_alert(fingerprint="01"), am_alert(fingerprint="02", starts="garbage")])
