import hashlib

from rating_fixtures import TIME_ZONE

from engine.rating.bands import period_bounds
from engine.rating.generator import generate_subscribers, generate_usage, write_usage_csv
from engine.rating.records import UsageFormat, UsageParser, usage_lines_reader


def digest(path) -> str:
    return hashlib.sha256(b"".join(line.encode() for line in usage_lines_reader(path))).hexdigest()


def test_same_seed_same_file_and_gzip_holds_the_same_rows(tmp_path):
    subscribers = generate_subscribers(100, seed=3)
    assert subscribers == generate_subscribers(100, seed=3)
    for name in ("a.csv", "b.csv", "c.csv.gz"):
        assert write_usage_csv(tmp_path / name, generate_usage(list(subscribers), "2026-10", 2_000, seed=3)) == 2_000
    assert digest(tmp_path / "a.csv") == digest(tmp_path / "b.csv") == digest(tmp_path / "c.csv.gz")
    write_usage_csv(tmp_path / "d.csv", generate_usage(list(subscribers), "2026-10", 2_000, seed=4))
    assert digest(tmp_path / "d.csv") != digest(tmp_path / "a.csv")


def test_generated_rows_parse_cleanly_within_the_period_in_time_order(tmp_path):
    subscribers = generate_subscribers(50, seed=1)
    write_usage_csv(tmp_path / "u.csv", generate_usage(list(subscribers), "2026-03", 3_000, seed=1))
    rejects: list = []
    records = list(UsageParser(UsageFormat(), "GB").parse(usage_lines_reader(tmp_path / "u.csv"), rejects.append))
    assert rejects == [] and len(records) == 3_000
    start, end = period_bounds("2026-03", TIME_ZONE)
    starts = [r[4] for r in records]
    assert starts == sorted(starts) and start <= starts[0] and starts[-1] < end
    assert {r[2] for r in records} <= set(subscribers)
    assert {r[3] for r in records} == {"voice", "sms", "data"}
