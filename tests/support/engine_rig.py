"""An engine and an SMSC simulator in one reactor, talking over real TCP on loopback."""

from __future__ import annotations

from pathlib import Path

from twisted.internet import defer, reactor, task

from engine.config.loader import load_config
from engine.service.engine_service import EngineParts, EngineService
from engine.smpp.outbox import OutgoingMessage
from engine.smpp.simulator import SmscSimulator
from tests.support.configs import copy_project_config, replace_in


def echo_handler(connection, message, now):
    """A stand-in for the command rules: answers every SMS with what it said."""
    return [OutgoingMessage(message.source, f"echo: {message.text}", "reply", reply_to_mo_id=message.id)]


def rig_config(tmp_path: Path, port: int, password: str = "secret", extra_smpp: str = "", bind_mode: str = "transceiver",
               edit_config=None):
    directory = copy_project_config(tmp_path)
    replace_in(directory / "social.toml", "[quiet_hours]\nenabled = true", "[quiet_hours]\nenabled = false")
    engine_text = (directory / "engine.toml").read_text()
    (directory / "engine.toml").write_text(engine_text.replace('"var/hostnet/', f'"{tmp_path}/hostnet/'))
    if edit_config is not None:
        edit_config(directory)
    engine_toml = directory / "engine.toml"
    # Every bind (a test may add more) points at the simulator and reconnects quickly.
    engine_toml.write_text(engine_toml.read_text().replace(
        "port = 2775", f"port = {port}\nreconnect_min_seconds = 0.05\nreconnect_max_seconds = 0.2"))
    replace_in(engine_toml, 'password = "secret"', f'password = "{password}"')
    replace_in(engine_toml, 'mode = "transceiver"', f'mode = "{bind_mode}"')
    replace_in(engine_toml, 'long_messages = "udh"', 'long_messages = "udh"\nretry_first_seconds = 0.05\n'
               'retry_max_seconds = 0.2\nthrottle_pause_seconds = 0.02\n' + extra_smpp)
    replace_in(engine_toml, "throughput_per_second = 200", "throughput_per_second = 100000")
    replace_in(engine_toml, "[scheduler]\nenabled = true", "[scheduler]\nenabled = false")
    return load_config(directory, environ={})


class Rig:
    def __init__(self, tmp_path: Path, database, handlers=None, password: str = "secret", extra_smpp: str = "",
                 bind_mode: str = "transceiver", real_rules: bool = False, edit_config=None, accounts=None,
                 **simulator_options):
        """`real_rules`: the engine's own command rules and host folders (engine.service.assembly)
        instead of the echo handler; `edit_config(directory)` may change the copied config first."""
        self.simulator = SmscSimulator(reactor, accounts=accounts or {"tpo": "secret"}, **simulator_options)
        self.listening = self.simulator.listen(0)
        self.config = rig_config(tmp_path, self.simulator.port, password, extra_smpp, bind_mode, edit_config)
        self.database = database
        if real_rules:
            from engine.service.assembly import build_engine

            self.engine = build_engine(reactor, self.config, database)
        else:
            parts = EngineParts(handlers=handlers or {"sms": echo_handler})
            self.engine = EngineService(reactor, self.config, database, parts)

    def start(self):
        self.engine.start(listen_http=False)
        return self.simulator.wait_for_binds(len(self.engine.links), timeout=5)

    @defer.inlineCallbacks
    def stop(self):
        yield self.engine.stop()
        yield self.simulator.stop()

    def enqueue(self, messages):
        from datetime import datetime, timezone

        with self.database.begin() as connection:
            count = self.engine.outbox.enqueue(connection, messages, datetime.now(timezone.utc))
        self.engine.dispatcher.wake()
        return count


@defer.inlineCallbacks
def eventually(condition, timeout: float = 10.0, interval: float = 0.02):
    """Wait in the reactor until `condition()` is true; fail the test with its last value if not."""
    waited = 0.0
    while waited < timeout:
        if condition():
            return
        yield task.deferLater(reactor, interval, lambda: None)
        waited += interval
    raise AssertionError(f"condition not met within {timeout} s: {condition.__doc__ or condition}")
