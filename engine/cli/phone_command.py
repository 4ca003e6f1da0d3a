"""`tpo phone +MSISDN`: be one of the SMSC simulator's handsets, in the terminal.

Lines typed are texted to the short code, USSD codes (`*767#`) are dialled and, while a dialogue
is open, lines answer its screens; replies are printed as they arrive. Talks to a running
`tpo smsc-sim` over its control port; the logic lives in `engine/phone.py`.
"""

from __future__ import annotations

import argparse
import sys

DEFAULT_CONTROL = ("127.0.0.1", 2776)


def _control_address(text: str) -> tuple[str, int]:
    host, separator, port = text.rpartition(":")
    if not separator:
        host, port = DEFAULT_CONTROL[0], text
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:2776)")
    return host or DEFAULT_CONTROL[0], number


def register(commands, common) -> None:
    parser = commands.add_parser(
        "phone", parents=[common],
        help="be a handset of the SMSC simulator: text, dial USSD codes, read replies",
        description="An interactive handset connected to a running `tpo smsc-sim`. Each line typed is "
                    "an SMS to the short code; a USSD code such as *767# is dialled, and while its "
                    "dialogue is open each line answers the screen. Replies are printed as they arrive. "
                    "Ctrl-D or Ctrl-C hangs up. See docs/simulator.md.")
    parser.add_argument("msisdn", metavar="+MSISDN",
                        help="the handset's number (national numbers are read in the config's region, else GB)")
    parser.add_argument("--control", type=_control_address, default=DEFAULT_CONTROL, metavar="HOST:PORT",
                        help="the simulator's control port (default 127.0.0.1:2776)")
    parser.add_argument("--linger", type=float, default=0.0, metavar="SECONDS",
                        help="when the input ends, keep printing replies this long (for piped input; default 0)")
    parser.set_defaults(handler=run_phone)


def _settings(args) -> dict:
    """Region, short code and service code from the config folder, when there is one."""
    from engine.config.loader import config_dir_from, load_config

    settings = {"region": "GB", "short_code": None, "service_code": None}
    explicit = getattr(args, "config", None)
    directory = config_dir_from(explicit)
    if not explicit and not (directory / "engine.toml").exists():
        return settings
    config = load_config(directory)  # a ConfigError names every problem; `tpo` exits 2
    settings["region"] = config.engine.operator.default_region
    settings["short_code"] = config.engine.operator.short_code
    ussd = config.files.get("ussd.toml")
    settings["service_code"] = getattr(ussd, "service_code", None)
    return settings


def banner(msisdn: str, host: str, port: int, short_code: str | None, service_code: str | None,
           engine_bound: bool | None) -> str:
    to = f"to {short_code}" if short_code else "to the short code"
    code = service_code or "*767#"
    lines = [f"Phone {msisdn}, on the SMSC simulator at {host}:{port}.",
             f"  Type a message and press Enter to text it {to} (try JOIN or HELP).",
             f"  Type a USSD code such as {code} to dial it, then the number of your choice.",
             "  Ctrl-D (or Ctrl-C) hangs up."]
    if engine_bound is False:
        lines.append("  (No engine is bound to the simulator yet: what you send waits in its queue.)")
    return "\n".join(lines) + "\n"


def run_phone(args) -> int:
    from engine.logs import configure_logging
    from engine.numbers import InvalidNumber, normalise_msisdn
    from engine.phone import Phone
    from engine.smpp.simulator_control import SimulatorControlClient, SimulatorControlError

    configure_logging(getattr(args, "log_level", "WARNING"), getattr(args, "log_format", "text"))
    settings = _settings(args)
    try:
        msisdn = normalise_msisdn(args.msisdn, settings["region"])
    except InvalidNumber as error:
        print(f"tpo phone: {error}", file=sys.stderr)
        return 2
    host, port = args.control
    try:
        client = SimulatorControlClient(host, port, timeout=15.0)
        events = SimulatorControlClient(host, port, timeout=15.0)
        client.ping()
        try:
            bound: bool | None = bool(client.request("binds")["binds"])
        except SimulatorControlError:
            bound = None
    except (OSError, ValueError, SimulatorControlError) as error:
        reason = getattr(error, "strerror", None) or error
        print(f"tpo phone: cannot reach the SMSC simulator's control port at {host}:{port} ({reason}); "
              "is `tpo smsc-sim` running? (--control HOST:PORT names another)", file=sys.stderr)
        return 1
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    try:
        sys.stdout.write(banner(msisdn, host, port, settings["short_code"], settings["service_code"], bound))
        sys.stdout.flush()
        phone = Phone(client, msisdn, sys.stdin, sys.stdout, events=events, interactive=interactive,
                      linger=max(0.0, args.linger))
        return phone.run()
    finally:
        client.close()
        events.close()
