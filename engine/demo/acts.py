"""The demo's acts, in the order they are played: a month of the operator, with real processes.

Each act takes the `DemoStage`, does what a person or the host network would do, and returns the
lines it tells the audience. The bill run and the donation split will be further acts in `ACTS`.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import func, select

from engine.demo.processes import run_tpo, start_engine, start_simulator
from engine.demo.stage import DemoFailed, DemoStage, Phone, demo_config, wait_until
from engine.hostnet.simulator import HostSimulator
from engine.rating.generator import generate_usage, write_usage_csv
from engine.smpp.simulator_control import SimulatorControlClient
from engine.store import migrate
from engine.store.database import make_engine
from engine.store.schema import inbound_files, mo_messages, mt_messages, subscribers, usage_records

SMS_JOINERS = 30
USSD_JOINERS = 20
NAMES = ["amara", "ben", "chloe", "dev", "elif", "femi", "grace", "hugo", "ines", "jack", "kemi", "liam",
         "maya", "noah", "olu", "priya", "quinn", "rosa", "sami", "tara", "uma", "vik", "wren", "xena", "yusuf",
         "zoe", "ada", "bo", "cleo", "dan"]
# Which cause each handset picks, in turn: a few causes are more popular than others.
CAUSE_PICKS = ["water", "water", "foodbank", "climate", "water", "schools", "foodbank", "water", "climate", "foodbank"]


def check_config(stage: DemoStage) -> list[str]:
    """Validate the project's config folder, as `tpo config check` does."""
    config = stage.load_config(stage.project_config)
    operator = config.engine.operator
    return [
        f"Config {stage.project_config}/ is valid: {', '.join(sorted(config.files))}.",
        f"Operator {operator.name!r}, short code {operator.short_code}, time zone {operator.time_zone}, "
        f"currency {operator.currency}.",
    ]


def start_network(stage: DemoStage) -> list[str]:
    """Start the SMSC simulator and `tpo run` as real processes on a fresh SQLite database."""
    if stage.folder.exists():
        shutil.rmtree(stage.folder)
    stage.folder.mkdir(parents=True)
    stage.simulator = start_simulator(stage.folder)
    config_dir = demo_config(stage.project_config, stage.folder, stage.simulator.smpp_port)
    config = stage.load_config(config_dir)
    stage.database = make_engine(config.engine.database.url)
    _before, revision = migrate.upgrade(stage.database)
    stage.engine = start_engine(stage.folder, config_dir)
    stage.control = SimulatorControlClient("127.0.0.1", stage.simulator.control_port)
    try:
        wait_until(lambda: stage.control.request("binds")["binds"], 20, "the engine's SMPP bind")
    except DemoFailed:
        raise DemoFailed(f"the engine did not bind to the simulator; its log says:\n{stage.engine.log_tail()}")
    return [
        f"SMSC simulator on 127.0.0.1:{stage.simulator.smpp_port}; engine bound over SMPP.",
        f"Database {stage.folder / 'tpo.db'} at schema {revision}; host-network folders under {stage.folder / 'hostnet'}.",
    ]


def sign_up(stage: DemoStage) -> list[str]:
    """50 handsets join: 30 by SMS (`JOIN name`), 20 by USSD (`*767*1#`)."""
    control = stage.control
    sms_phones = [Phone(control, f"+4474001000{n:02d}", NAMES[n - 1]) for n in range(1, SMS_JOINERS + 1)]
    ussd_phones = [Phone(control, f"+4474001000{n:02d}") for n in range(SMS_JOINERS + 1, SMS_JOINERS + USSD_JOINERS + 1)]
    stage.phones = sms_phones + ussd_phones
    for phone in sms_phones:
        phone.send(f"JOIN {phone.name}")
    welcomes = [phone.new_messages(2) for phone in sms_phones]
    screens = [phone.dial("*767*1#") for phone in ussd_phones]
    stage.facts["signups"] = {"sms": len(sms_phones), "ussd": len(ussd_phones)}
    return [
        f"{len(sms_phones)} phones texted JOIN with a name; {len(ussd_phones)} dialled *767*1#.",
        f"  {sms_phones[0].msisdn} got: {welcomes[0][0]}",
        f"  {sms_phones[0].msisdn} got: {welcomes[0][1]}",
        f"  {ussd_phones[0].msisdn} saw on screen: {screens[0]}",
    ]


def activate_lines(stage: DemoStage) -> list[str]:
    """The host network picks up our activation requests and acknowledges them in its folder."""
    host = HostSimulator.from_config(stage.config)
    accepted = 0
    files = 0

    def answered():
        nonlocal accepted, files
        result = host.answer_requests()
        accepted += len(result.accepted)
        files += len(result.acknowledgement_files)
        return accepted >= len(stage.phones)

    wait_until(answered, 20, "the host's acknowledgement of every activation", interval=0.2)
    notices = [phone.new_messages(1)[0] for phone in stage.phones]
    with stage.database.connect() as connection:
        active = connection.execute(
            select(func.count()).select_from(subscribers).where(subscribers.c.status == "active")).scalar_one()
    return [
        f"The host network acknowledged {accepted} activation requests in {files} file(s).",
        f"{active} lines are active; each phone was told: {notices[0]}",
    ]


def choose_causes(stage: DemoStage) -> list[str]:
    """Everyone picks the cause that gets 10% of their bill: by SMS, or in the USSD menu."""
    codes = [cause.code for cause in stage.config["causes.toml"].causes]
    example = ""
    for index, phone in enumerate(stage.phones):
        code = CAUSE_PICKS[index % len(CAUSE_PICKS)]
        if phone.name:
            reply = phone.text(f"CAUSE {code}")
        else:
            phone.dial("*767*2#")
            reply = phone.answer(str(codes.index(code) + 1))
        example = example or f"  {phone.msisdn} texted CAUSE {code}: {reply}"
    return [f"{len(stage.phones)} phones chose a cause.", example]


def follow_and_post(stage: DemoStage) -> list[str]:
    """Phones follow causes and each other; three post to their followers; a cause posts too."""
    named = [phone for phone in stage.phones if phone.name]
    for index, phone in enumerate(named):
        friend = named[(index + 1) % len(named)]
        phone.text(f"FOLLOW {CAUSE_PICKS[index % len(CAUSE_PICKS)]}")
        phone.text(f"FOLLOW {friend.name}")
    for phone in stage.phones:
        if not phone.name:
            phone.text("FOLLOW water")
    posters = named[:3]
    for phone in posters:
        phone.text(f"POST Just joined {stage.config.engine.operator.name}: 10% of my bill goes to a good cause!")
    settle(stage)
    result = run_tpo(stage.folder, "cause", "post", "water", "Thanks to you, 3 new wells this month!",
                     "--config", str(stage.config.directory))
    if result.returncode != 0:
        raise DemoFailed(f"tpo cause post failed: {result.stderr}")
    settle(stage)
    with stage.database.connect() as connection:
        fanout = connection.execute(select(func.count()).select_from(mt_messages).where(
            mt_messages.c.message_class == "fanout")).scalar_one()
    stage.facts["fanout"] = fanout
    sample = next((p for p in named[1:] if p.read), named[1])
    latest = stage.control.inbox(sample.msisdn)[-2:]
    return [
        f"{len(named)} named members each follow a cause and a friend; USSD members follow Clean Water.",
        f"3 members posted and the water cause posted: {fanout} fan-out messages went to followers.",
        *[f"  {sample.msisdn} received: {text}" for text in latest],
    ]


def one_stops(stage: DemoStage) -> list[str]:
    """One member texts STOP: no more fan-out for them, whatever they follow."""
    quitter = stage.phones[SMS_JOINERS]  # a USSD member who follows the water cause
    reply = quitter.text("STOP")
    before = len(stage.control.inbox(quitter.msisdn))
    run_tpo(stage.folder, "cause", "post", "water", "Well number 4 is dug!", "--config", str(stage.config.directory))
    settle(stage)
    after = len(stage.control.inbox(quitter.msisdn))
    stage.facts["stopped"] = quitter.msisdn
    return [f"{quitter.msisdn} texted STOP: {reply}",
            f"The next water post reached every follower but {quitter.msisdn} ({after - before} new messages there)."]


def usage_arrives(stage: DemoStage) -> list[str]:
    """The host network drops the month's usage file in the inbox; the engine rates it."""
    period = _current_period(stage)
    numbers = [phone.msisdn for phone in stage.phones]
    rows = generate_usage(numbers, period, 5000, seed=7, time_zone=stage.config.engine.operator.time_zone)
    inbox = stage.folder / "hostnet" / "usage-in"
    inbox.mkdir(parents=True, exist_ok=True)
    temporary = inbox / f".usage-{period}.csv.tmp"
    write_usage_csv(temporary, rows, compress=False)
    os.replace(temporary, inbox / f"usage-{period}.csv")

    def imported():
        with stage.database.connect() as connection:
            return connection.execute(select(inbound_files.c.summary).where(inbound_files.c.kind == "usage")).first()

    [summary] = wait_until(imported, 30, "rating of the usage file", interval=0.2)
    with stage.database.connect() as connection:
        stored = connection.execute(select(func.count()).select_from(usage_records)).scalar_one()
    stage.facts["rated"] = stored
    counts = ", ".join(f"{key} {value}" for key, value in summary.items())
    return [f"usage-{period}.csv arrived from the host network: {counts}.",
            f"{stored} usage records are rated and stored."]


def everyone_asks_bill(stage: DemoStage) -> list[str]:
    """Every handset texts BILL and gets its charges so far and its cause's share."""
    for phone in stage.phones:
        phone.send("BILL")
    bills = {phone.msisdn: phone.new_messages(1)[0] for phone in stage.phones}
    stage.facts["bills"] = bills
    shown = list(bills.items())[:3]
    return [f"{len(bills)} phones asked BILL. For example:", *[f"  {msisdn}: {text}" for msisdn, text in shown]]


def the_account(stage: DemoStage) -> list[str]:
    """What happened, from the engine's own database."""
    with stage.database.connect() as connection:
        mo = dict(connection.execute(select(mo_messages.c.kind, func.count()).group_by(mo_messages.c.kind)).all())
        mt = dict(connection.execute(
            select(mt_messages.c.message_class, func.count()).group_by(mt_messages.c.message_class)).all())
        # USSD screens get no delivery receipt: the dialogue itself shows they arrived.
        states = Counter(dict(connection.execute(
            select(mt_messages.c.state, func.count()).where(mt_messages.c.message_class != "ussd")
            .group_by(mt_messages.c.state)).all()))
        causes = connection.execute(
            select(subscribers.c.cause_code, func.count()).where(subscribers.c.cause_code.is_not(None))
            .group_by(subscribers.c.cause_code).order_by(func.count().desc())).all()
    settle(stage)
    signups = stage.facts["signups"]
    names = {cause.code: cause.name["en"] for cause in stage.config["causes.toml"].causes}
    return [
        f"Sign-ups: {signups['sms'] + signups['ussd']} ({signups['sms']} by SMS, {signups['ussd']} by USSD), all activated.",
        f"Messages in: {mo.get('sms', 0)} SMS and {mo.get('ussd', 0)} USSD steps.",
        f"Messages out: {sum(mt.values())} SMS parts ({', '.join(f'{k} {v}' for k, v in sorted(mt.items()))}); "
        f"of the SMS, {states['delivered']} confirmed delivered by receipt, "
        f"{states['queued'] + states['sending'] + states['submitted']} awaiting a receipt, {states['failed']} failed.",
        "Top causes: " + ", ".join(f"{names.get(code, code)} ({count})" for code, count in causes[:3]) + ".",
        f"Usage records rated: {stage.facts['rated']}.",
    ]


def settle(stage: DemoStage, timeout: float = 30) -> None:
    """Wait until every MO is handled and every MT has left the outbox, then mark all as read."""
    def quiet():
        with stage.database.connect() as connection:
            waiting_mo = connection.execute(select(func.count()).select_from(mo_messages).where(
                mo_messages.c.state == "received")).scalar_one()
            waiting_mt = connection.execute(select(func.count()).select_from(mt_messages).where(
                mt_messages.c.state.in_(("queued", "sending")))).scalar_one()
        return waiting_mo == 0 and waiting_mt == 0

    wait_until(quiet, timeout, "the engine's queues to empty", interval=0.1)
    for phone in stage.phones:
        phone.read = len(stage.control.inbox(phone.msisdn))


def _current_period(stage: DemoStage) -> str:
    from zoneinfo import ZoneInfo

    return datetime.now(timezone.utc).astimezone(ZoneInfo(stage.config.engine.operator.time_zone)).strftime("%Y-%m")


ACTS = [check_config, start_network, sign_up, activate_lines, choose_causes, follow_and_post, one_stops,
        usage_arrives, everyone_asks_bill, the_account]
