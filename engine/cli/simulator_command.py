"""`tpo smsc-sim`: run the SMSC simulator (SMPP port + JSON control port) until SIGTERM or Ctrl-C.

It needs no config folder: the simulator stands in for the host network, so everything it needs
is on the command line. Once both ports listen it prints one line to stdout,

    smsc-sim listening smpp=127.0.0.1:2775 control=127.0.0.1:2776

so a parent process that asked for port 0 can read the ports it got.
"""

from __future__ import annotations

import argparse
import logging
import sys

log = logging.getLogger("engine.smpp.simulator")


def _account(text: str) -> tuple[str, str]:
    system_id, separator, password = text.partition(":")
    if not separator or not system_id:
        raise argparse.ArgumentTypeError(f"account {text!r} must be SYSTEM_ID:PASSWORD")
    return system_id, password


def register(commands, common) -> None:
    parser = commands.add_parser(
        "smsc-sim", parents=[common],
        help="run the SMSC simulator: SMPP server, virtual handsets and fault injection",
        description="Simulate the host network's SMSC for tests, the demo, `tpo phone` and benchmarks. "
                    "See docs/simulator.md.")
    parser.add_argument("--host", default="127.0.0.1", help="interface for the SMPP port (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2775, help="SMPP port (default 2775; 0 picks a free one)")
    parser.add_argument("--control-port", type=int, default=2776,
                        help="JSON control port on 127.0.0.1 (default 2776; 0 picks one; -1 disables it)")
    parser.add_argument("--system-id", default="tpo", help="system_id the engine binds with (default tpo)")
    parser.add_argument("--password", default="secret", help="its password (default secret)")
    parser.add_argument("--account", action="append", type=_account, default=[], metavar="ID:PASSWORD",
                        help="another account that may bind (repeatable)")
    parser.add_argument("--smsc-system-id", default="TPOSIM", help="system_id in bind responses")
    parser.add_argument("--short-code", default="767", help="where handsets send MO and USSD (default 767)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="delay of every submit_sm_resp in ms (default 0)")
    parser.add_argument("--receipts", action=argparse.BooleanOptionalAction, default=True,
                        help="send delivery receipts when a submit asks for one (default on)")
    parser.add_argument("--receipt-delay-ms", type=float, default=100.0, help="delay before a receipt (default 100)")
    parser.add_argument("--message-id-style", choices=["hex", "decimal"], default="hex",
                        help="how submit_sm_resp message ids look (default hex)")
    parser.add_argument("--redelivery-delay-ms", type=float, default=5000.0,
                        help="resend a deliver_sm not answered within this many ms (default 5000)")
    parser.add_argument("--max-delivery-attempts", type=int, default=10,
                        help="give a deliver_sm up after this many sends (default 10)")
    parser.add_argument("--deliver-window", type=int, default=10,
                        help="deliver_sm outstanding per bind (default 10)")
    parser.add_argument("--max-records", type=int, default=200_000,
                        help="keep at most this many received submits in memory (default 200000; 0 = no limit)")
    parser.add_argument("--auto-handsets", action=argparse.BooleanOptionalAction, default=True,
                        help="give every MT destination a virtual handset that decodes it "
                             "(default on; turn off for throughput runs)")
    parser.add_argument("--benchmark", action="store_true",
                        help="throughput settings: no receipts, no auto handsets, 100000 records")
    parser.set_defaults(handler=run_simulator)


def run_simulator(args) -> int:
    from twisted.internet import reactor

    from engine.logs import configure_logging, hide_secret
    from engine.smpp.simulator import SmscSimulator
    from engine.smpp.simulator_control import listen_control

    configure_logging(getattr(args, "log_level", "INFO"), getattr(args, "log_format", "text"))
    accounts = {args.system_id: args.password, **dict(args.account)}
    for password in accounts.values():
        hide_secret(password)
    receipts, auto_handsets, max_records = args.receipts, args.auto_handsets, args.max_records
    if args.benchmark:
        receipts, auto_handsets, max_records = False, False, min(max_records or 100_000, 100_000)
    simulator = SmscSimulator(
        reactor, accounts, system_id=args.smsc_system_id, short_code=args.short_code,
        latency=args.latency_ms / 1000.0, message_id_style=args.message_id_style, receipts=receipts,
        receipt_delay=args.receipt_delay_ms / 1000.0, redelivery_delay=args.redelivery_delay_ms / 1000.0,
        max_delivery_attempts=args.max_delivery_attempts, deliver_window=args.deliver_window,
        auto_handsets=auto_handsets, max_records=max_records or None)
    try:
        smpp_port = simulator.listen(args.port, args.host)
        control = listen_control(simulator, args.control_port) if args.control_port >= 0 else None
    except Exception as error:  # CannotListenError names the port and the reason
        print(f"smsc-sim: {error}", file=sys.stderr)
        return 1
    control_text = f"127.0.0.1:{control.getHost().port}" if control else "off"
    print(f"smsc-sim listening smpp={args.host}:{smpp_port.getHost().port} control={control_text}", flush=True)
    log.info("SMSC simulator up (accounts: %s; latency %g ms; receipts %s)",
             ", ".join(accounts), args.latency_ms, "on" if receipts else "off")
    # The reactor's own signal handlers turn SIGTERM and SIGINT into a clean stop.
    reactor.run()
    log.info("SMSC simulator stopped after %d submits", simulator.submits_received)
    return 0
