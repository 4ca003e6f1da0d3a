from pathlib import Path

from engine.rating.rater import Rater
from engine.rating.records import UsageParser, usage_lines_reader
from engine.rating.tariffs import load_tariff_file

ROOT = Path(__file__).resolve().parents[3]


def test_the_documented_example_file_parses_and_rates_with_the_example_tariff():
    tariff = load_tariff_file(ROOT / "config" / "tariffs.toml", "Europe/London", "GB")
    rejects: list = []
    records = list(UsageParser(tariff.usage_format, "GB").parse(usage_lines_reader(ROOT / "docs/formats/examples/usage.csv"), rejects.append))
    assert rejects == [] and len(records) == 10
    rated, failed = Rater(tariff, {"+447400123456": "basic", "+447400654321": "payg"}).rate_all(records)
    assert failed == []
    by_id = {record[1]: result for record, result in rated}
    # payg, uk_fixed... see docs/formats/usage-csv.md: the 12 s call to 999 is free to the subscriber.
    assert by_id["HN-20260311-000005"][2:4] == ("zero_rated", "off_peak") and by_id["HN-20260311-000005"][7] == 0
    # payg, 31 s to France in 30/6 at 0.25 + 0.05 connect: 36 * 250,000 / 60 + 50,000 = 200,000.
    assert by_id["HN-20260311-000006"][6:8] == (36, 200_000)
