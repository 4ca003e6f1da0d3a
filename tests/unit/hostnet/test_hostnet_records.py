"""The pure parts of the host-network exchange: record formats, parsing, tolerance, amounts."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from engine.config.loader import load_config
from engine.config.problems import ConfigError
from engine.hostnet.acknowledgements import parse_acknowledgement
from engine.hostnet.lifecycle import parse_event
from engine.hostnet.settings import FileRefused, RecordError, ReconciliationSection, read_records, render_records
from engine.hostnet.simulator import AnswerPlan, luhn_check_digit, make_iccid, make_imsi
from engine.hostnet.statements import (
    ServiceTotals,
    format_amount,
    parse_amount,
    parse_statement_line,
    reconcile,
    within_tolerance,
)
from tests.support.configs import copy_project_config

COLUMNS = ("a", "b")


def lines_of(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return list(read_records(path, COLUMNS))


def test_csv_header_may_be_in_any_order_and_blank_lines_are_skipped(tmp_path):
    lines = lines_of(tmp_path, "x.csv", "\ufeffb,a\n2,1\n\n 4 , 3 \n5\n")
    assert [(line.number, line.fields, line.error) for line in lines] == [
        (2, {"b": "2", "a": "1"}, ""), (4, {"b": "4", "a": "3"}, ""), (5, None, "1 fields (expected 2: b, a)")
    ]


@pytest.mark.parametrize("text, reason", [
    ("", "empty file (expected a header line: a, b)"),
    ("a,c\n", "header 'a,c': missing b; unknown c (expected the columns a, b)"),
    ("a,b,b\n", "header 'a,b,b': repeated b (expected the columns a, b)"),
])
def test_a_bad_csv_header_refuses_the_file(tmp_path, text, reason):
    with pytest.raises(FileRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        lines_of(tmp_path, "x.csv", text)


def test_unknown_extension_refuses_the_file(tmp_path):
    with pytest.raises(FileRefused, match=r"unknown file type '.txt' \(expected a .csv or .jsonl file\)"):
        lines_of(tmp_path, "x.txt", "a,b\n")


def test_a_line_that_is_not_utf8_is_rejected_alone(tmp_path):
    lines = lines_of(tmp_path, "x.csv", b"a,b\n\xff,1\n1,2\n")
    assert [(line.number, line.error) for line in lines] == [(2, "not UTF-8 text"), (3, "")]


def test_jsonl_records(tmp_path):
    lines = lines_of(tmp_path, "x.jsonl", '{"a": "1", "b": 2}\n{"a": true}\n{"c": 1}\n{"a": "x"}\n')
    assert [(line.fields, line.error) for line in lines] == [
        ({"a": "1", "b": "2"}, ""),
        (None, "a: True is not a string or integer"),
        (None, "unknown fields c (expected only a, b)"),
        ({"a": "x", "b": ""}, ""),
    ]


@given(st.lists(st.fixed_dictionaries({"a": st.text(alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",))),
                                       "b": st.integers(-10**12, 10**12)}), max_size=5),
       st.sampled_from(["csv", "jsonl"]))
def test_what_we_render_we_read_back(tmp_path_factory, records, file_format):
    path = tmp_path_factory.mktemp("r") / f"x.{file_format}"
    path.write_text("".join(render_records(file_format, COLUMNS, records)), encoding="utf-8")
    read = [line.fields for line in read_records(path, COLUMNS)]
    expected = [{"a": r["a"].strip(), "b": str(r["b"])} for r in records]
    # Blank records vanish like blank lines; the formats never carry meaning in an empty line.
    assert [f for f in read] == [e for e in expected if file_format == "jsonl" or any(e.values())]


def test_acknowledgements_parse_or_say_what_is_wrong():
    answer = parse_acknowledgement({"request_id": "r1", "status": "Rejected", "reason": "no SIM", "acknowledged_at": "2026-03-29T02:30:00+02:00"})
    assert (answer.status, answer.acknowledged_at) == ("rejected", datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc))
    with pytest.raises(RecordError, match="reason: missing for a rejection"):
        parse_acknowledgement({"request_id": "r1", "status": "rejected", "reason": "", "acknowledged_at": "2026-03-29T02:30:00Z"})


def event(**fields):
    base = {"event_id": "e1", "event_type": "sim_swap", "occurred_at": "2026-11-27T08:00:00Z", "msisdn": "07400 100001",
            "iccid": "89441000000000000018", "imsi": "", "plan_code": "", "new_msisdn": ""}
    base.update(fields)
    return base


def test_events_are_normalised_and_checked_field_by_field():
    parsed = parse_event(event(), "GB")
    assert (parsed.msisdn, parsed.iccid, parsed.imsi) == ("+447400100001", "89441000000000000018", None)
    with pytest.raises(RecordError, match=r"iccid: '8944' is not an ICCID \(expected 18 to 22 digits\)"):
        parse_event(event(iccid="8944"), "GB")
    with pytest.raises(RecordError, match=r"event_id: 'a b' is not an id"):
        parse_event(event(event_id="a b"), "GB")
    with pytest.raises(RecordError, match="new_msisdn: the same as msisdn"):
        parse_event(event(event_type="msisdn_change", iccid="", new_msisdn="+447400100001"), "GB")


def test_the_same_event_in_either_format_has_the_same_digest():
    a = parse_event(event(occurred_at="2026-11-27T09:00:00+01:00"), "GB")
    b = parse_event(event(msisdn="+447400100001"), "GB")
    assert a.content_digest() == b.content_digest()
    assert parse_event(event(iccid="89441000000000000026"), "GB").content_digest() != a.content_digest()


def test_statement_lines_parse_or_say_what_is_wrong():
    line = parse_statement_line({"period": "2026-11", "service": "DATA", "records": "3", "volume": "10", "amount_minor": "-5", "currency": "gbp"})
    assert (line.service, line.currency, line.totals) == ("data", "GBP", ServiceTotals(3, 10, -5))
    with pytest.raises(RecordError, match=r"period: '2026-13' is not a period \(expected YYYY-MM"):
        parse_statement_line({"period": "2026-13", "service": "sms", "records": "1", "volume": "1", "amount_minor": "1", "currency": "GBP"})
    with pytest.raises(RecordError, match=r"records: '-1' is not a whole number"):
        parse_statement_line({"period": "2026-11", "service": "sms", "records": "-1", "volume": "1", "amount_minor": "1", "currency": "GBP"})


@pytest.mark.parametrize("difference, host, minor, percent, rule, within", [
    (0, 1000, None, None, "either", True),
    (1, 1000, None, None, "either", False),
    (100, 1000, 100, None, "either", True),
    (101, 1000, 100, None, "either", False),
    (-101, 1000, 100, None, "either", False),
    (5, 1000, None, "0.5", "either", True),
    (6, 1000, None, "0.5", "either", False),
    (150, 100000, 100, "0.5", "either", True),  # beyond 1.00 but within 0.5% of 1000.00
    (150, 100000, 100, "0.5", "both", False),
    (5, 0, None, "0.5", "either", False),
])
def test_tolerance(difference, host, minor, percent, rule, within):
    tolerance = ReconciliationSection(tolerance_minor=minor, tolerance_percent=percent, rule=rule)
    assert within_tolerance(difference, host, tolerance) is within


def test_reconcile_compares_every_service_and_the_total():
    report = reconcile("2026-11", {"voice": ServiceTotals(10, 600, 1000)}, {"sms": (2, 2, 20)},
                       ReconciliationSection(tolerance_minor=50))
    assert [(row.service, row.difference.amount_minor, row.within) for row in report.rows] == [
        ("voice", 1000, False), ("sms", -20, True), ("data", 0, True), ("total", 980, False)
    ]
    with pytest.raises(TypeError, match="never float"):
        reconcile("2026-11", {}, {"sms": (2, 2, 0.5)}, ReconciliationSection())
    with pytest.raises(ValueError, match="unknown services fax"):
        reconcile("2026-11", {}, {"fax": (1, 1, 1)}, ReconciliationSection())


@pytest.mark.parametrize("text, unit, minor", [("12.50", 2, 1250), ("-3", 2, -300), ("7", 0, 7), ("0.001", 3, 1), ("1.50", 0, None),
                                               ("1.234", 2, None), ("abc", 2, None), ("NaN", 2, None)])
def test_amounts_are_exact_minor_units(text, unit, minor):
    if minor is None:
        with pytest.raises(ValueError):
            parse_amount(text, unit)
    else:
        assert parse_amount(text, unit) == minor


@given(st.integers(-10**15, 10**15), st.sampled_from([0, 2, 3]))
def test_formatting_and_parsing_amounts_round_trip(amount, unit):
    assert parse_amount(format_amount(amount, unit), unit) == amount


def test_answer_plan_is_deterministic_per_request():
    plan = AnswerPlan(reject_ratio=0.5, seed="s")
    answers = [plan.answer(f"req-{n}", "+447400100001") for n in range(400)]
    assert answers == [plan.answer(f"req-{n}", "+447400100001") for n in range(400)]
    rejected = sum(1 for answer in answers if answer[0] == "rejected")
    assert 150 < rejected < 250
    assert AnswerPlan(silent=frozenset({"+1"})).answer("r", "+1") is None
    assert AnswerPlan(reject={"+1": ""}).answer("r", "+1") == ("rejected", "refused by the host network (simulated)")


def test_simulated_sim_identities_are_well_formed():
    iccid = make_iccid("+447400100001")
    assert len(iccid) == 20 and iccid.startswith("8944") and luhn_check_digit(iccid[:-1]) == iccid[-1]
    assert luhn_check_digit("7992739871") == "3"
    assert len(make_imsi("x")) == 15


def test_hostnet_toml_mistakes_are_reported_with_file_and_key(tmp_path):
    directory = copy_project_config(tmp_path)
    (directory / "hostnet.toml").write_text(
        'file_format = "xml"\n[acknowledgements]\ntimeout_minutes = 0\nresend = true\n'
        '[reconciliation]\ntolerance_percent = 0.5\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(directory)
    text = [str(problem) for problem in raised.value.problems if "hostnet.toml" in problem.file]
    assert any(line.startswith("config/hostnet.toml: file_format: 'xml' is not valid (expected 'csv' or 'jsonl')") or
               line.endswith("hostnet.toml: file_format: 'xml' is not valid (expected 'csv' or 'jsonl')") for line in text), text
    assert any(line.endswith("acknowledgements.timeout_minutes: 0 is not valid (expected greater than or equal to 1)") for line in text)
    assert any(line.endswith("acknowledgements.resend: unknown key (expected only the keys documented in docs/operations.md)") for line in text)
    assert any(line.endswith('reconciliation.tolerance_percent: 0.5 is a float (expected an amount in quotes, like "9.99")') for line in text)


def test_project_hostnet_toml_is_valid():
    from pathlib import Path

    from engine.hostnet.settings import HostnetFile
    import tomllib

    path = Path(__file__).resolve().parents[3] / "config" / "hostnet.toml"
    settings = HostnetFile.model_validate(tomllib.loads(path.read_text()))
    assert settings.reconciliation.tolerance_percent == Decimal("0.5")


def test_the_documented_example_files_are_valid():
    from pathlib import Path

    from engine.hostnet.acknowledgements import ACKNOWLEDGEMENT_COLUMNS
    from engine.hostnet.lifecycle import EVENT_COLUMNS
    from engine.hostnet.provisioning import PROVISIONING_COLUMNS
    from engine.hostnet.statements import read_statement

    examples = Path(__file__).resolve().parents[3] / "docs" / "formats" / "examples"
    for name in ("tpo-provisioning-000042.csv", "tpo-provisioning-000043.jsonl"):
        assert all(line.fields for line in read_records(examples / name, PROVISIONING_COLUMNS))
    for line in read_records(examples / "host-ack-tpo-provisioning-000042.csv", ACKNOWLEDGEMENT_COLUMNS):
        parse_acknowledgement(line.fields)
    events = [parse_event(line.fields, "GB") for line in read_records(examples / "host-events-20261127.csv", EVENT_COLUMNS)]
    assert [event.event_type for event in events] == ["sim_activation", "sim_swap", "msisdn_change", "port_out", "termination"]
    assert read_statement(examples / "host-statement-2026-11.csv")[:2] == ("2026-11", "GBP")
