"""`make demo`'s scenario, run through the same code: `tpo demo` with real processes over TCP."""

import re

import pytest

from tests.support.cli import run_tpo
from tests.support.configs import PROJECT_CONFIG

pytestmark = pytest.mark.slow


def test_the_demo_plays_a_month_and_stops_everything_it_started(tmp_path):
    result = run_tpo("demo", "--config", str(PROJECT_CONFIG), "--folder", str(tmp_path / "demo"), cwd=tmp_path,
                     timeout=120)
    output = result.stdout
    assert result.returncode == 0, output + result.stderr
    assert "Sign-ups: 50 (30 by SMS, 20 by USSD), all activated." in output
    assert "50 lines are active" in output
    assert re.search(r"read 5000, rated 5000, duplicates 0, rejected 0, suspense 0", output)
    assert "The next water post reached every follower but +447400100031 (0 new messages there)." in output
    bills = re.findall(r"\+4474001000\d\d: Bill \d{4}-\d\d so far: £\d+\.\d\d", output)
    assert len(bills) == 3
    assert "engine stopped (exit status 0)." in output and "smsc-sim stopped (exit status 0)." in output
    seconds = float(re.search(r"Demo finished in ([\d.]+) s", output).group(1))
    assert seconds < 60
