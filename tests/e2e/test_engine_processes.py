"""`tpo run` as a real process beside `tpo smsc-sim`, driven over TCP like the host network would."""

import time

import pytest

from engine.demo.processes import run_tpo, start_engine, start_simulator
from engine.smpp.simulator_control import SimulatorControlClient
from tests.support.configs import copy_project_config, replace_in

pytestmark = pytest.mark.slow

ANN = "+447400100001"


def engine_config(tmp_path, smpp_port: int):
    directory = copy_project_config(tmp_path)
    # The line-active notice waits for the end of quiet hours: off, so the test passes at any hour.
    replace_in(directory / "social.toml", "[quiet_hours]\nenabled = true", "[quiet_hours]\nenabled = false")
    engine_toml = directory / "engine.toml"
    replace_in(engine_toml, "port = 2775", f"port = {smpp_port}\nreconnect_min_seconds = 0.1\nreconnect_max_seconds = 0.5")
    replace_in(engine_toml, "port = 9467", "port = 0")
    replace_in(engine_toml, 'processed = "var/hostnet/processed"', 'processed = "var/hostnet/processed"\npoll_seconds = 0.2')
    return directory


def wait_until(condition, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout} s")


def test_signup_by_sms_completes_when_the_host_acknowledges_then_sigterm_exits_0(tmp_path, database_url):
    simulator = start_simulator(tmp_path)
    env = {"TPO_DATABASE_URL": database_url}
    engine = None
    try:
        config = engine_config(tmp_path, simulator.smpp_port)
        engine = start_engine(tmp_path, config, env=env)
        control = SimulatorControlClient("127.0.0.1", simulator.control_port)
        wait_until(lambda: control.request("binds")["binds"], what="the engine's bind")

        control.mo(ANN, "JOIN")
        [welcome] = control.wait_for_messages(ANN, 1, timeout=15)
        assert "Your line is being activated" in welcome

        def host_answered():
            result = run_tpo(tmp_path, "hostnet-sim", "answer", "--config", str(config), env=env)
            assert result.returncode == 0, result.stderr
            return "accepted 1" in result.stdout
        wait_until(host_answered, what="the provisioning request file")
        messages = control.wait_for_messages(ANN, 2, timeout=15)
        assert "your line is now active" in messages[1]

        assert engine.stop() == 0, engine.log_tail()
        assert "engine node-1 stopped" in engine.log_path.read_text()
    finally:
        if engine is not None:
            engine.stop()
        simulator.stop()


def test_a_bad_config_stops_tpo_run_with_exit_2_and_every_problem(tmp_path):
    directory = copy_project_config(tmp_path)
    replace_in(directory / "engine.toml", 'time_zone = "Europe/London"', 'time_zone = "Mars/Olympus"')
    replace_in(directory / "engine.toml", "window = 64", "window = -1")
    result = run_tpo(tmp_path, "run", "--config", str(directory))
    assert result.returncode == 2
    assert "operator.time_zone: unknown time zone 'Mars/Olympus'" in result.stderr
    assert "smpp.binds[0].window" in result.stderr
    assert "nothing was started" in result.stderr
