"""`tpo hostnet ...` (the file exchange with the host network) and `tpo hostnet-sim ...` (a simulated
host network answering on the same folders, for tests, demos and newcomers).

Folders come from engine.toml [folders], relative to the working folder; behaviour from hostnet.toml.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

from engine.cli import context


def register(commands, common) -> None:
    group = commands.add_parser("hostnet", help="exchange files with the host network: poll, pending, reconcile", parents=[common])
    actions = group.add_subparsers(dest="action", metavar="ACTION", title="actions")
    actions.required = True

    poll = actions.add_parser(
        "poll", help="one pass: take in acknowledgements, events, statements; resend late requests; write queued requests",
        parents=[common],
    )
    poll.set_defaults(handler=poll_once)

    pending = actions.add_parser(
        "pending", help="list provisioning requests the host has not answered (exit 1 if any is overdue)", parents=[common]
    )
    pending.set_defaults(handler=list_pending)

    request = actions.add_parser(
        "request", help="queue a provisioning request (sent at the next poll)", parents=[common]
    )
    request.add_argument("request_action", metavar="ACTION", choices=["activate", "change_plan", "suspend", "restore", "terminate"],
                         help="activate, change_plan, suspend, restore or terminate")
    request.add_argument("msisdn", metavar="MSISDN", help="the subscriber's number")
    request.add_argument("--plan", default=None, help="plan code (activate and change_plan)")
    request.set_defaults(handler=queue_request)

    reconcile = actions.add_parser(
        "reconcile", help="compare the host's wholesale statement of a period with our own rating (exit 1 if beyond tolerance)",
        parents=[common],
    )
    reconcile.add_argument("--period", required=True, help="the billing month, YYYY-MM")
    reconcile.add_argument("--our-totals", metavar="FILE", type=Path, default=None,
                           help="our side as a file in the statement format (until rating provides it)")
    reconcile.set_defaults(handler=print_reconciliation)

    adjust = actions.add_parser(
        "adjust", help="store an adjustment agreed with the host for a period (a new row; corrections are new rows)",
        parents=[common],
    )
    adjust.add_argument("--period", required=True, help="the billing month, YYYY-MM")
    adjust.add_argument("--amount", required=True, help="signed amount in the currency, like -12.50 (added to the host's total)")
    adjust.add_argument("--note", required=True, help="what was agreed, with whom")
    adjust.set_defaults(handler=store_adjustment)

    sim = commands.add_parser("hostnet-sim", help="act as the host network on the shared folders (simulator)", parents=[common])
    sim_actions = sim.add_subparsers(dest="action", metavar="ACTION", title="actions")
    sim_actions.required = True

    answer = sim_actions.add_parser("answer", help="pick up our provisioning files and write acknowledgements", parents=[common])
    answer.add_argument("--reject", action="append", default=[], metavar="MSISDN[=REASON]", help="reject requests for this number")
    answer.add_argument("--silent", action="append", default=[], metavar="MSISDN", help="never answer requests for this number")
    answer.add_argument("--reject-ratio", type=float, default=0.0, help="share of other requests to reject (0 to 1)")
    answer.add_argument("--silent-ratio", type=float, default=0.0, help="share of other requests to leave unanswered (0 to 1)")
    answer.add_argument("--seed", default="host-sim", help="seed of the ratio draws")
    answer.add_argument("--announce-activations", action="store_true", help="also send a sim_activation event per accepted activation")
    answer.set_defaults(handler=simulate_answers)

    event = sim_actions.add_parser("event", help="write one lifecycle event", parents=[common])
    event.add_argument("event_type", choices=["activation", "swap", "msisdn-change", "port-out", "termination"])
    event.add_argument("--msisdn", required=True)
    event.add_argument("--plan", default=None, help="plan code (activation)")
    event.add_argument("--iccid", default=None, help="ICCID (activation, swap; generated when omitted)")
    event.add_argument("--imsi", default=None, help="IMSI (activation; generated when omitted)")
    event.add_argument("--new-msisdn", default=None, help="the new number (msisdn-change)")
    event.add_argument("--event-id", default=None, help="the event id (generated when omitted)")
    event.set_defaults(handler=simulate_event)

    statement = sim_actions.add_parser("statement", help="write a wholesale statement for a period", parents=[common])
    statement.add_argument("--period", required=True, help="YYYY-MM")
    for service in ("voice", "sms", "data"):
        statement.add_argument(f"--{service}", default=None, metavar="RECORDS,VOLUME,AMOUNT_MINOR",
                               help=f"{service} totals, amount in minor units")
    statement.set_defaults(handler=simulate_statement)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def _notifier(config):
    """Notices go to the outbox, as in `tpo run`; the running engine sends them."""
    from engine.service.notices import CatalogueNotifier
    from engine.social_sms.context import SocialContext
    from engine.social_sms.wiring import outbox_for

    return CatalogueNotifier(SocialContext.from_config(config), outbox_for(config))


def _our_wholesale_totals(config):
    from engine.rating.store import wholesale_totals_provider

    return wholesale_totals_provider(config)()


def poll_once(args) -> int:
    from engine.hostnet.provisioning import poll_host_folders

    config = context.load(args)
    report = poll_host_folders(context.database(config), config, _notifier(config), _our_wholesale_totals(config))
    for kind, results in report.taken_in.items():
        for result in results:
            detail = result.reason or ", ".join(f"{k} {v}" for k, v in result.summary.items())
            print(f"{kind}: {result.path.name}: {result.status} ({detail})")
    for request_id in report.overdue.resent:
        print(f"resending unanswered request {request_id}")
    for request_id in report.overdue.newly_overdue:
        print(f"request {request_id} is overdue: no answer after its last attempt")
    if report.flushed:
        print(f"wrote {len(report.flushed.request_ids)} request(s) to {report.flushed.path.name}")
    if not any(report.taken_in.values()) and not report.flushed and not report.overdue.resent:
        print("nothing to do")
    return 0


def list_pending(args) -> int:
    from engine.hostnet.provisioning import is_overdue, open_requests
    from engine.hostnet.settings import format_time, hostnet_settings

    config = context.load(args)
    settings = hostnet_settings(config)
    now = _now()
    with context.database(config).connect() as connection:
        requests = open_requests(connection)
    if not requests:
        print("no unanswered provisioning requests")
        return 0
    overdue = 0
    print(f"{'request id':<24} {'action':<11} {'msisdn':<16} {'state':<6} {'tries':>5}  last sent              note")
    for request in requests:
        late = is_overdue(request, settings, now)
        overdue += late
        sent = format_time(request.last_sent_at) if request.last_sent_at else "-"
        note = "OVERDUE" if late else ("resend queued" if request.state == "queued" and request.attempts else "")
        print(f"{request.request_id:<24} {request.action:<11} {request.msisdn:<16} {request.state:<6} {request.attempts:>5}  {sent:<22} {note}".rstrip())
    print(f"{len(requests)} unanswered, {overdue} overdue (timeout {settings.acknowledgements.timeout_minutes} min)")
    return 1 if overdue else 0


def queue_request(args) -> int:
    from engine.hostnet.provisioning import ProvisioningError, ProvisioningService, known_plans
    from engine.numbers import InvalidNumber, normalise_msisdn

    config = context.load(args)
    try:
        msisdn = normalise_msisdn(args.msisdn, config.engine.operator.default_region)
    except InvalidNumber as error:
        return _fail(str(error))
    service = ProvisioningService(known_plans(config))
    try:
        with context.database(config).begin() as connection:
            request = service.request(connection, args.request_action, msisdn, args.plan, _now())
    except ProvisioningError as error:
        return _fail(str(error))
    print(f"request {request.request_id}: {request.action} {request.msisdn} {request.state} (sent at the next poll)"
          if request.state == "queued" else f"request {request.request_id} for this is already {request.state}")
    return 0


def print_reconciliation(args) -> int:
    from engine.hostnet.settings import FileRefused, check_period, hostnet_settings
    from engine.hostnet.statements import format_report, read_our_totals_file, reconcile_period

    config = context.load(args)
    operator = config.engine.operator
    try:
        period = check_period(args.period)
    except ValueError as error:
        return _fail(f"--period: {error}")
    if args.our_totals is not None:
        try:
            ours = read_our_totals_file(args.our_totals, period, operator.currency)
        except (FileRefused, OSError) as error:
            return _fail(f"--our-totals {args.our_totals}: {error}")
    else:
        ours = _our_wholesale_totals(config)
    with context.database(config).connect() as connection:
        report = reconcile_period(connection, period, ours, hostnet_settings(config).reconciliation)
    for line in format_report(report, operator.currency, operator.currency_minor_unit):
        print(line)
    return 0 if report.within else 1


def store_adjustment(args) -> int:
    from engine.hostnet.settings import check_period
    from engine.hostnet.statements import adjustments_total, format_amount, parse_amount, record_adjustment

    config = context.load(args)
    operator = config.engine.operator
    try:
        period = check_period(args.period)
        amount_minor = parse_amount(args.amount, operator.currency_minor_unit)
        if not args.note.strip():
            raise ValueError("--note is empty (expected what was agreed, with whom)")
    except ValueError as error:
        return _fail(str(error))
    with context.database(config).begin() as connection:
        adjustment = record_adjustment(connection, period, amount_minor, args.note, _now())
        total = adjustments_total(connection, period)
    unit = operator.currency_minor_unit
    print(f"adjustment {adjustment.adjustment_id} for {period}: {format_amount(amount_minor, unit)} {operator.currency} stored; "
          f"the period's agreed adjustment is now {format_amount(total, unit)} {operator.currency}")
    return 0


# -- the simulator --------------------------------------------------------------------------


def _simulator(config):
    from engine.hostnet.simulator import HostSimulator

    return HostSimulator.from_config(config)


def _number(text: str, config) -> str:
    from engine.numbers import normalise_msisdn

    return normalise_msisdn(text, config.engine.operator.default_region)


def simulate_answers(args) -> int:
    from engine.hostnet.simulator import AnswerPlan
    from engine.numbers import InvalidNumber

    config = context.load(args)
    for name in ("reject_ratio", "silent_ratio"):
        value = getattr(args, name)
        if not 0 <= value <= 1:
            return _fail(f"--{name.replace('_', '-')}: {value} is not a ratio (expected 0 to 1)")
    try:
        reject = {}
        for item in args.reject:
            number, _, reason = item.partition("=")
            reject[_number(number, config)] = reason
        silent = frozenset(_number(number, config) for number in args.silent)
    except InvalidNumber as error:
        return _fail(str(error))
    plan = AnswerPlan(reject=reject, silent=silent, reject_ratio=args.reject_ratio, silent_ratio=args.silent_ratio, seed=args.seed)
    result = _simulator(config).answer_requests(plan, announce_activations=args.announce_activations)
    print(f"host simulator: {len(result.request_files)} request file(s); accepted {len(result.accepted)}, "
          f"rejected {len(result.rejected)}, silent {len(result.silent)}")
    for path in result.acknowledgement_files:
        print(f"wrote {path}")
    if result.events_file:
        print(f"wrote {result.events_file}")
    return 0


def simulate_event(args) -> int:
    from engine.numbers import InvalidNumber

    config = context.load(args)
    simulator = _simulator(config)
    try:
        msisdn = _number(args.msisdn, config)
        if args.event_type == "activation":
            if not args.plan:
                return _fail("activation needs --plan")
            event = simulator.activation(msisdn, args.plan, args.iccid, args.imsi, event_id=args.event_id)
        elif args.event_type == "swap":
            event = simulator.sim_swap(msisdn, args.iccid, args.imsi, event_id=args.event_id)
        elif args.event_type == "msisdn-change":
            if not args.new_msisdn:
                return _fail("msisdn-change needs --new-msisdn")
            event = simulator.msisdn_change(msisdn, _number(args.new_msisdn, config), event_id=args.event_id)
        elif args.event_type == "port-out":
            event = simulator.port_out(msisdn, event_id=args.event_id)
        else:
            event = simulator.termination(msisdn, event_id=args.event_id)
    except InvalidNumber as error:
        return _fail(str(error))
    path = simulator.write_events([event])
    print(f"wrote {event['event_type']} {event['event_id']} for {msisdn} to {path}")
    return 0


def simulate_statement(args) -> int:
    from engine.hostnet.settings import check_period

    config = context.load(args)
    try:
        period = check_period(args.period)
    except ValueError as error:
        return _fail(f"--period: {error}")
    totals = {}
    for service in ("voice", "sms", "data"):
        text = getattr(args, service)
        if text is None:
            continue
        parts = text.split(",")
        if len(parts) != 3 or not all(part.strip().lstrip("-").isdigit() for part in parts):
            return _fail(f"--{service}: {text!r} is not RECORDS,VOLUME,AMOUNT_MINOR (expected three integers like 120,7200,1500)")
        totals[service] = tuple(int(part) for part in parts)
    if not totals:
        return _fail("no totals (expected at least one of --voice, --sms, --data)")
    path = _simulator(config).write_statement(period, totals, config.engine.operator.currency)
    print(f"wrote statement for {period} to {path}")
    return 0
