"""The parser's two paths (a chunk at a time by columns, or line by line), the rater's batch loop
and its packed totals give exactly what the plain line-by-line code, one record at a time and a
sum over the results give."""

import io
import random
from datetime import datetime

import pytest

import engine.rating.records as records_module
from engine.rating.generator import generate_subscribers, generate_usage
from engine.rating.rater import Rater, RatingError
from engine.rating.records import FIELDS, UsageFormat, UsageParser
from engine.rating.tariffs import load_tariff_file

HEADER = ",".join(FIELDS) + "\n"
ODD_LINES = [
    "\n",  # blank
    "q1,447400000001,sms,2026-03-11T10:00:05+00:00,,,\"07700 900123\",\n",  # quoted
    "q2,447400000001,VOICE,2026-03-11T10:00:05+00:00,61,,07700900123,EU \n",  # spellings
    "q3,447400000001,data,2026-03-11T10:00:05Z,,5000,07700900123,\n",  # data with a called number
    "q4,447400000001,voice,2026-03-11T10:00:05+00:00, 7,,+447700900123,\n",  # int(" 7")
    "q5,447400000001,voice,2026-03-11T10:00:75+00:00,7,,07700900123,\n",  # bad seconds
    "q6,447400000001,voice,2026-03-11T10:00:05+00:00,-7,,07700900123,\n",  # negative
    "q7,447400000001,sms,2026-03-11T10:00:05+00:00,,,,\n",  # no called number
    "q8,447400000001,data,2026-03-11T10:00:05+00:00,,,,\n",  # no volume
    "q9,447400000001,voice\n",  # short
    "q10,999,sms,2026-03-11T10:00:05+00:00,,,999,\n",  # not a subscriber
    "q11,447400000001,sms,2026-03-11T10:00:05.500+01:00,,,0044 7700 900123,WORLD\n",
    "q12,447400000001,sms,2026-03-11T10:00:05+00:00,,,123456,,extra\n",  # a ninth field
    "q13,447400000001,sms,2026-03-11T10:00:05+00:00,,,07,\r\n",
    ",447400000001,sms,2026-03-11T10:00:05+00:00,,,999,\n",  # no record id
]


def _generated_lines(count: int, seed: int) -> list[str]:
    subscribers = list(generate_subscribers(50, seed=seed))
    # March 2026 holds the spring clock change, so both UTC offsets appear.
    return [",".join(row) + "\n" for row in generate_usage(subscribers, "2026-03", count, seed=seed)]


def _reference(lines: list[str], fmt: UsageFormat):
    """The line-by-line parser alone, over every line."""
    parser = UsageParser(fmt, "GB")
    header = [name.strip() for name in lines[0].rstrip("\r\n").split(",")]
    found, rejects = [], []
    parser._parse_lines(lines[1:], 2, parser._positions(header), found.append, rejects.append)
    return found, rejects


def _mixed(seed: int) -> list[str]:
    rng = random.Random(seed)
    lines = _generated_lines(3_000, seed)
    for odd in ODD_LINES:
        lines.insert(rng.randrange(len(lines)), odd)
    return [HEADER] + lines


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chunks_of_lines_and_of_text_parse_like_the_line_parser(seed, monkeypatch):
    lines = _mixed(seed)
    fmt = UsageFormat()
    expected = _reference(lines, fmt)
    assert len(expected[0]) > 2_900 and len(expected[1]) == 7
    by_columns = []
    parse_columns = UsageParser._parse_columns

    def counted(self, *arguments):
        found = parse_columns(self, *arguments)
        by_columns.append(found is not None)
        return found

    monkeypatch.setattr(UsageParser, "_parse_columns", counted)

    for size in (7, 500, 10_000):  # lines per chunk, from a list of lines
        rejects = []
        found = list(UsageParser(fmt, "GB").parse_chunks(lines, rejects.append, size))
        assert ([record for chunk in found for record in chunk], rejects) == expected

    for characters in (97, 4_096, 1 << 16):  # from a file, read in pieces cut at line ends
        monkeypatch.setattr(records_module, "CHUNK_CHARS", characters)
        rejects = []
        found = list(UsageParser(fmt, "GB").parse(io.StringIO("".join(lines), newline=""), rejects.append))
        assert (found, rejects) == expected
    assert any(by_columns) and not all(by_columns)  # both paths ran


def test_windows_line_ends_and_a_last_line_without_newline():
    lines = [HEADER] + _generated_lines(200, 5)
    crlf = [line.replace("\n", "\r\n") for line in lines]
    crlf[-1] = crlf[-1].rstrip("\r\n")
    expected = _reference(lines, UsageFormat())
    for source in (crlf, io.StringIO("".join(crlf), newline="")):
        rejects = []
        assert (list(UsageParser(UsageFormat(), "GB").parse(source, rejects.append)), rejects) == expected


def test_lines_given_without_their_newlines_are_still_lines():
    lines = [HEADER] + _generated_lines(20, 6)
    bare = [lines[0]] + [line.rstrip("\n") for line in lines[1:]]
    mixed = [lines[0]] + [line if index % 3 else line.rstrip("\n") for index, line in enumerate(lines[1:])]
    one = lines[:5] + [lines[5].rstrip("\n")] + lines[6:]
    expected = _reference(lines, UsageFormat())
    for source in (bare, mixed, one):
        rejects = []
        assert (list(UsageParser(UsageFormat(), "GB").parse(source, rejects.append)), rejects) == expected


def test_other_column_layouts_and_time_formats():
    fmt = UsageFormat.model_validate({
        "delimiter": ";", "header": False, "time_format": "epoch",
        "columns": {"record_id": 8, "msisdn": 2, "service": 3, "start_time": 4, "duration_s": 5,
                    "volume_bytes": 6, "called_number": 1, "roaming_zone": ""},
    })
    lines = [f"07700900{i:03d};447400000001;{'voice' if i % 2 else 'sms'};{1773223205 + i};{i % 50 + 1};;x;r{i}\n"
             for i in range(300)]
    lines.insert(100, "0770;447400000001;voice;17732x3205;5;;x;bad\n")
    parser = UsageParser(fmt, "GB")
    expected_records, expected_rejects = [], []
    parser._parse_lines(lines, 1, parser._positions(None), expected_records.append, expected_rejects.append)
    rejects = []
    assert list(UsageParser(fmt, "GB").parse(lines, rejects.append)) == expected_records
    assert rejects == expected_rejects and len(rejects) == 1
    assert expected_records[0][1] == "r0" and expected_records[0][7] == "+447700900000"


def test_iso_times_of_a_whole_hour_are_cached_from_one_conversion():
    texts = [f"2026-03-29T00:{minute:02d}:{second:02d}+00:00" for minute in (59, 0, 30) for second in (0, 59)]
    texts += [f"2026-03-29T02:{minute:02d}:07+01:00" for minute in (0, 45)] + ["2026-03-29T02:00:07Z"]
    lines = [HEADER] + [f"t{i},447400000001,sms,{text},,,999,\n" for i, text in enumerate(texts)]
    found = list(UsageParser(UsageFormat(), "GB").parse(lines, print))
    assert [record[4] for record in found] == [int(datetime.fromisoformat(text).timestamp()) for text in texts]


def _tariff():
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    return load_tariff_file(root / "config" / "tariffs.toml", "Europe/London", "GB")


def test_packed_totals_equal_the_sums_of_the_results():
    tariff = _tariff()
    subscribers = generate_subscribers(40, seed=3)
    plan_of = dict(list(subscribers.items())[:35])  # the others' records go to suspense
    rows = list(generate_usage(list(subscribers), "2026-03", 4_000, seed=3))
    rows += list(generate_usage(list(subscribers), "2026-04", 1_000, seed=4))  # two periods
    lines = [HEADER] + [",".join(row) + "\n" for row in rows]
    parsed = list(UsageParser(tariff.usage_format, "GB").parse(lines, print))

    totals: dict = {}
    rater = Rater(tariff, plan_of, totals=totals)
    expected: dict = {}
    failed = 0
    for index, record in enumerate(parsed):
        if index in (1_500, 4_200):  # collected part-way, as mediation does when it flushes
            rater.collect_totals()
        try:
            result = rater.rate(record)
        except RatingError:
            failed += 1
            continue
        sums = expected.setdefault((record[2], result[0], record[3]), [0] * 6)
        for position, value in enumerate((1, result[4] + result[5], result[4], result[6], result[7], result[8])):
            sums[position] += value
    assert failed and rater.totals_keys() > 0
    assert rater.collect_totals() == len(expected)
    assert totals == expected and rater.totals_keys() == 0
    assert {key[1] for key in totals} == {"2026-03", "2026-04"}


def test_packed_sums_unpack_signed_and_large_values():
    from engine.rating.rater import _B, _I, _Q, _R, _W, _unpack

    rng = random.Random(9)
    rows = [[rng.randrange(-10**15, 10**18) for _ in range(6)] for _ in range(500)]
    packed = sum(a + b * _Q + c * _I + d * _B + e * _R + f * _W for a, b, c, d, e, f in rows)
    assert _unpack(packed) == [sum(column) for column in zip(*rows)]


def test_rate_rows_gives_each_record_and_its_rating_or_its_reason_in_place():
    tariff = _tariff()
    subscribers = generate_subscribers(40, seed=5)
    plan_of = dict(list(subscribers.items())[:35])  # the others' records fail: unknown subscriber
    lines = [HEADER] + [",".join(row) + "\n" for row in generate_usage(list(subscribers), "2026-03", 3_000, seed=5)]
    known = next(iter(plan_of))[1:]
    lines.append(f"x1,{known},sms,2026-03-31T10:00:05+00:00,,,07700900123,mars\n")  # unknown roaming zone
    parsed = list(UsageParser(tariff.usage_format, "GB").parse(lines, print))
    one_at_a_time, batch = Rater(tariff, plan_of), Rater(tariff, plan_of)

    expected_rows, expected_failed = [], []
    for position, record in enumerate(parsed):
        try:
            expected_rows.append(record[1:] + one_at_a_time.rate(record))
        except RatingError as problem:
            expected_failed.append((position, str(problem)))
    rows, failed = batch.rate_rows(parsed[:1_000])
    more_rows, more_failed = batch.rate_rows(parsed[1_000:])  # the counters go on from batch to batch

    assert rows + more_rows == expected_rows
    assert failed + [(position + 1_000, reason) for position, reason in more_failed] == expected_failed
    values, failed_again = Rater(tariff, plan_of).rate_rows(parsed, one_list=True)  # rows' values in one list
    assert values == [value for row in expected_rows for value in row] and failed_again == expected_failed
    assert len(expected_failed) > 1 and "roaming zone 'mars' is unknown" in expected_failed[-1][1]
    assert len(expected_rows[0]) == 17 and expected_rows[0][:8] == parsed[0][1:]


_DAY = [f"2026-03-0{day}T{hour:02d}:{minute:02d}:{second:02d}" for day in (1, 2) for hour in (0, 13, 23)
        for minute in (0, 7, 59) for second in (0, 9, 30, 59)]


@pytest.mark.parametrize("times, one_offset", [
    ([text + "+00:00" for text in _DAY], True),
    ([text + "Z" for text in _DAY], True),
    ([text + "-05:30" for text in _DAY], True),
    ([text.replace("T", " ") + "+01:00" for text in _DAY], True),  # fromisoformat takes a space too
    ([text + "+00:00" for text in _DAY] + ["2026-03-29T02:00:07+01:00"], False),  # across the clock change
    ([text + "+00:00" for text in _DAY] + ["2026-03-01T00:00:60+00:00"], True),  # no 60th second
    ([text + "+00:00" for text in _DAY] + ["2026-03-01T00:00:6a+00:00"], True),
    (["2026-03-01T00:00:1+00:00", "2026-03-01T00:00:144+00:00"], False),  # lengths that make up 2 x 25
    (["2026-03-01T00:00:14+00:00", "2026-03-01T00:00-14+00:00"], True),
    (["2026-03-01T00:00:14.5+0:00"], True),
])
def test_a_column_of_iso_times_reads_as_each_time_alone(times, one_offset):
    from engine.rating.records import _TimeParser

    def read(function, parser):
        try:
            return function(parser)
        except ValueError:
            return ValueError

    def each_alone(parser):
        return [parser.parse(text) for text in times]

    def as_column(parser):
        return parser.iso_column(times)

    expected = read(each_alone, _TimeParser(UsageFormat()))
    parser = _TimeParser(UsageFormat())
    assert read(as_column, parser) == expected
    assert read(as_column, parser) == expected  # again, from the caches
    warmed = _TimeParser(UsageFormat())
    read(each_alone, warmed)
    assert read(as_column, warmed) == expected  # the minutes cached one time at a time first
    alone = read(lambda parser: parser._iso_one_offset(times), _TimeParser(UsageFormat()))
    if one_offset and expected is not ValueError:
        assert alone == expected  # the one-offset path read the column
    else:
        assert alone is None or alone is ValueError  # or left it to the general path
