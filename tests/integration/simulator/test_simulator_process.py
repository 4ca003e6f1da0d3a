"""`tpo smsc-sim` as a real process: it listens, accepts a bind, serves the control port, stops on SIGTERM."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.smpp.session import BindMode, BindSucceeded, Role, Session, SubmitAccepted
from engine.smpp.simulator_control import SimulatorControlClient

TPO = Path(sys.executable).parent / "tpo"


def blocking_exchange(sock: socket.socket, session: Session, until, timeout: float = 5.0) -> list:
    """Send what the session queued, then read until `until(events)` holds."""
    sock.sendall(session.data_to_send())
    events: list = []
    deadline = time.monotonic() + timeout
    while not until(events):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)
        assert data, "the simulator closed the connection"
        events += session.receive_data(data, time.monotonic())
        sock.sendall(session.data_to_send())
    return events


@pytest.mark.slow
def test_smsc_sim_process_binds_answers_and_stops_on_sigterm():
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TPO_")}
    process = subprocess.Popen(
        [str(TPO), "smsc-sim", "--port", "0", "--control-port", "0", "--system-id", "tpo",
         "--password", "secret", "--latency-ms", "1", "--no-receipts", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    try:
        banner = process.stdout.readline()
        found = re.search(r"smpp=127\.0\.0\.1:(\d+) control=127\.0\.0\.1:(\d+)", banner)
        assert found, banner + process.stderr.read()
        smpp_port, control_port = int(found[1]), int(found[2])

        session = Session(Role.ESME)
        with socket.create_connection(("127.0.0.1", smpp_port), timeout=5) as sock:
            session.bind("tpo", "secret", BindMode.TRANSCEIVER, time.monotonic())
            events = blocking_exchange(sock, session, lambda ev: ev)
            assert isinstance(events[0], BindSucceeded)
            session.submit("one", {"destination_addr": "447400100001", "short_message": b"hi"},
                               time.monotonic())
            events = blocking_exchange(sock, session, lambda ev: ev)
            assert isinstance(events[0], SubmitAccepted) and events[0].message_id

            with SimulatorControlClient("127.0.0.1", control_port) as client:
                assert client.stats()["binds"] == 1
                assert client.inbox("+447400100001") == ["hi"]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
