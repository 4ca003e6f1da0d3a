import io
import json
import logging

from engine.logs import configure_logging, hide_secret


def test_json_lines_carry_level_logger_and_message():
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    logging.getLogger("engine.test").info("bound %s", "host-a")
    entry = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert entry["level"] == "INFO"
    assert entry["logger"] == "engine.test"
    assert entry["message"] == "bound host-a"
    assert entry["time"].endswith("+00:00")


def test_secrets_never_reach_the_log_even_by_mistake():
    stream = io.StringIO()
    configure_logging("INFO", "text", stream=stream)
    hide_secret("hunter22")
    logging.getLogger("engine.test").warning("bind failed with password %s", "hunter22")
    output = stream.getvalue()
    assert "hunter22" not in output
    assert "bind failed with password ***" in output


def test_twisted_log_events_arrive_in_stdlib_logging():
    from twisted.logger import Logger

    stream = io.StringIO()
    configure_logging("INFO", "text", stream=stream)
    Logger(namespace="engine.twisted_test").warn("reactor says {what}", what="hello")
    Logger(namespace="engine.twisted_test").info("factory chatter")
    assert "reactor says hello" in stream.getvalue()
    assert "factory chatter" not in stream.getvalue()  # Twisted's INFO narration is kept out
