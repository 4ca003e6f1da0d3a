import gzip

import pytest
from rating_fixtures import epoch

from engine.rating.records import DATA, SMS, VOICE, UsageFileError, UsageFormat, UsageParser, UsageRecord, usage_lines_reader

HEADER = "record_id,msisdn,service,start_time,duration_s,volume_bytes,called_number,roaming_zone\n"


def parse(lines, fmt=None):
    rejects = []
    records = [UsageRecord._make(r) for r in UsageParser(fmt or UsageFormat(), "GB").parse(lines, rejects.append)]
    return records, rejects


def test_default_format():
    records, rejects = parse([
        HEADER,
        "a1,447700900001,voice,2026-03-11T10:00:05+00:00,61,,07700900123,\n",
        "a2,+447700900001,sms,2026-07-11T10:00:05+01:00,,,999,\n",
        "a3,447700900001,data,2026-03-11T10:00:05Z,,150001,,EU\n",
    ])
    assert rejects == []
    assert records == [
        UsageRecord(2, "a1", "+447700900001", VOICE, epoch("2026-03-11T10:00:05+00:00"), 61, 0, "+447700900123", ""),
        UsageRecord(3, "a2", "+447700900001", SMS, epoch("2026-07-11T09:00:05+00:00"), 0, 0, "999", ""),
        UsageRecord(4, "a3", "+447700900001", DATA, epoch("2026-03-11T10:00:05+00:00"), 0, 150001, "", "eu"),
    ]


def test_the_time_fast_path_agrees_with_the_slow_path():
    lines = [HEADER] + [f"a{i},447700900001,sms,2026-03-29T00:59:{i:02d}+00:00,,,999,\n" for i in range(60)]
    lines += ["b,447700900001,sms,2026-03-29T02:00:00+01:00,,,999,\n", "c,447700900001,sms,2026-03-29T02:00:00.750+01:00,,,999,\n"]
    records, _ = parse(lines)
    assert [r.start for r in records[:60]] == [epoch("2026-03-29T00:59:00+00:00") + i for i in range(60)]
    assert records[60].start == records[61].start == epoch("2026-03-29T01:00:00+00:00")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("a,447700900001,voice,2026-03-11T10:00:05+00:00,61,,07700900123\n", "has 7 fields (expected at least 8)"),
        (",447700900001,voice,2026-03-11T10:00:05+00:00,61,,07700900123,\n", "record_id is empty"),
        ("a,999,voice,2026-03-11T10:00:05+00:00,61,,07700900123,\n", "msisdn '999' is not a subscriber number"),
        ("a,447700900001,fax,2026-03-11T10:00:05+00:00,61,,07700900123,\n", "service 'fax' is unknown (expected one of data, sms, voice)"),
        ("a,447700900001,voice,11/03/2026 10:00,61,,07700900123,\n", "start_time '11/03/2026 10:00' is not an ISO 8601 time"),
        ("a,447700900001,voice,2026-03-11T10:00:05,61,,07700900123,\n", "has no UTC offset"),
        ("a,447700900001,voice,2026-03-11T10:00:75+00:00,61,,07700900123,\n", "is not an ISO 8601 time"),
        ("a,447700900001,voice,2026-03-11T10:00:05+00:00,6.5,,07700900123,\n", "duration_s '6.5' is not a whole number of seconds"),
        ("a,447700900001,voice,2026-03-11T10:00:05+00:00,-3,,07700900123,\n", "duration_s '-3' is negative"),
        ("a,447700900001,voice,2026-03-11T10:00:05+00:00,,,07700900123,\n", "duration_s is empty"),
        ("a,447700900001,data,2026-03-11T10:00:05+00:00,,lots,,\n", "volume_bytes 'lots' is not a whole number of bytes"),
        ("a,447700900001,sms,2026-03-11T10:00:05+00:00,,,,\n", "called_number is empty (expected the number dialled for sms)"),
    ],
)
def test_bad_lines_are_rejected_with_line_number_and_reason(line, reason):
    good = "ok,447700900001,sms,2026-03-11T10:00:05+00:00,,,999,\n"
    records, rejects = parse([HEADER, good, line, good])
    assert [r.line_number for r in records] == [2, 4]
    assert len(rejects) == 1
    assert rejects[0].line_number == 3
    assert reason in rejects[0].reason


def test_blank_lines_are_skipped_and_quoted_fields_read():
    records, rejects = parse([HEADER, "\n", '"a,1",447700900001,sms,2026-03-11T10:00:05+00:00,,,"07700 900123",\n'])
    assert rejects == []
    assert (records[0].line_number, records[0].record_id, records[0].called_number) == (3, "a,1", "+447700900123")


def test_a_header_without_a_mapped_column_refuses_the_file():
    with pytest.raises(UsageFileError, match="header has no column 'msisdn'"):
        parse(["record_id,service\n", "a,voice\n"])


def test_host_specific_columns_services_and_local_times():
    fmt = UsageFormat.model_validate({
        "delimiter": ";",
        "header": False,
        "time_format": "%Y%m%d%H%M%S",
        "time_zone": "Europe/London",
        "columns": {"record_id": 1, "msisdn": 2, "service": 3, "start_time": 4, "duration_s": 5,
                    "volume_bytes": 6, "called_number": 7, "roaming_zone": ""},
        "services": {"MOC": "voice", "SMS-MO": "sms", "GPRS": "data"},
    })
    records, rejects = parse(["x1;447700900001;MOC;20260711100005;30;;07700900123\n", "x2;447700900001;TELEX;20260711100005;;;\n"], fmt)
    assert records == [UsageRecord(1, "x1", "+447700900001", VOICE, epoch("2026-07-11T10:00:05+01:00"), 30, 0, "+447700900123", "")]
    assert rejects[0].line_number == 2 and "service 'TELEX' is unknown" in rejects[0].reason


def test_epoch_times():
    fmt = UsageFormat(time_format="epoch")
    records, _ = parse([HEADER, "a,447700900001,sms,1773223205,,,999,\n"], fmt)
    assert records[0].start == 1773223205


def test_header_names_with_header_false_are_refused():
    with pytest.raises(ValueError, match="header = false"):
        UsageFormat.model_validate({"header": False})


def test_plain_and_gzip_files_read_the_same(tmp_path):
    text = HEADER + "a,447700900001,sms,2026-03-11T10:00:05+00:00,,,999,\n"
    (tmp_path / "u.csv").write_text(text)
    with gzip.open(tmp_path / "u.csv.gz", "wt") as handle:
        handle.write(text)
    plain, _ = parse(usage_lines_reader(tmp_path / "u.csv"))
    packed, _ = parse(usage_lines_reader(tmp_path / "u.csv.gz"))
    assert plain == packed and len(plain) == 1
