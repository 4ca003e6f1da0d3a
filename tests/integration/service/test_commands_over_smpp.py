"""The engine's own rules (SMS commands, USSD menus) against the SMSC simulator over real TCP."""

import pytest_twisted
from sqlalchemy import select
from twisted.internet import threads

from engine.store.schema import subscribers
from tests.support.cli import run_tpo
from tests.support.engine_rig import Rig

ANN, BOB = "+447400700001", "+447400700002"
MORE_CAUSES = "".join(
    f'\n[[causes]]\ncode = "extra{n}"\nname = {{ en = "Extra cause number {n}", fr = "Cause en plus {n}" }}\n'
    f'description = {{ en = "Extra {n}.", fr = "En plus {n}." }}\nauthorised_numbers = []\n'
    for n in range(1, 9)
)


def add_causes(directory):
    with open(directory / "causes.toml", "a") as causes:
        causes.write(MORE_CAUSES)


def subscriber(database, msisdn):
    with database.connect() as connection:
        return connection.execute(select(subscribers).where(subscribers.c.msisdn == msisdn)).one()


@pytest_twisted.inlineCallbacks
def test_join_cause_follow_an_emoji_post_and_a_cause_post_reach_the_follower_whole(tmp_path, database):
    """The issue's whole path over real TCP: signup, cause, follow, post, fan-out; and a cause's
    post from `tpo cause post` (another process, the same database) sent by the running engine."""
    rig = Rig(tmp_path, database, real_rules=True, receipts=False)
    yield rig.start()
    try:
        ann, bob = rig.simulator.handset(ANN), rig.simulator.handset(BOB)
        yield ann.send_mo("JOIN ann")
        yield ann.wait_for_messages(2)
        yield ann.send_mo("CAUSE water")
        yield ann.wait_for_messages(3)
        assert ann.inbox[-1].startswith("Thank you! 10% of your bill now goes to Clean Water Fund")
        assert subscriber(database, ANN).cause_code == "water"
        yield bob.send_mo("join")
        yield bob.wait_for_messages(1)
        yield bob.send_mo("FOLLOW ann")
        yield bob.wait_for_messages(2)
        post = "Planted 12 trees today 🌳🌳 with the climate group, merci à tous! " * 2
        yield ann.send_mo(f"POST {post[:120]}")
        yield ann.wait_for_messages(4)
        messages = yield bob.wait_for_messages(3)
        assert bob.inbox[-1] == f"@ann: {post[:120].strip()}"
        # UCS-2 (emoji) in concatenated parts, reassembled on the handset exactly.
        submits = rig.simulator.submits_for(BOB)
        assert submits[-1].params["data_coding"] == 0x08 and len(submits) >= 4
        assert messages

        yield bob.send_mo("SUIVRE water")
        yield bob.wait_for_messages(4)
        url = database.url.render_as_string(hide_password=False)
        posted = yield threads.deferToThread(run_tpo, "cause", "post", "water", "Twelve wells dug this month",
                                             cwd=tmp_path, env={"TPO_DATABASE_URL": url})
        assert posted.returncode == 0, posted.stderr
        assert posted.stdout.startswith("Clean Water Fund: posted. Followers reached: 1.")
        yield bob.wait_for_messages(5)
        assert bob.inbox[-1] == "[Clean Water Fund] Twelve wells dug this month"
        assert len(ann.inbox) == 4  # Ann chose the cause but does not follow it
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_ussd_sign_up_two_pages_of_causes_bill_and_a_confirmed_gift(tmp_path, database):
    rig = Rig(tmp_path, database, real_rules=True, receipts=False, edit_config=add_causes)
    yield rig.start()
    try:
        phone = rig.simulator.handset(ANN)
        yield phone.dial("*767*1#")
        [joined] = yield phone.wait_for_screens(1)
        assert "Your line is being activated" in joined.text and joined.ends

        yield phone.dial("*767*2#")
        screens = yield phone.wait_for_screens(2)
        first_page = screens[-1].text
        assert "0" in first_page and "Clean Water Fund" in first_page
        yield phone.answer("0")
        screens = yield phone.wait_for_screens(3)
        second_page = screens[-1].text
        assert second_page != first_page and "Extra cause number" in second_page
        number = next(line.split(".")[0] for line in second_page.splitlines() if "Extra cause number 2" in line)
        yield phone.answer(number.strip())
        screens = yield phone.wait_for_screens(4)
        assert "Extra cause number 2" in screens[-1].text and screens[-1].ends
        assert subscriber(database, ANN).cause_code == "extra2"

        yield phone.dial("*767*3#")
        screens = yield phone.wait_for_screens(5)
        assert "Bill" in screens[-1].text or "bill" in screens[-1].text

        yield phone.dial("*767*4#")
        yield phone.wait_for_screens(6)
        yield phone.answer("5")
        screens = yield phone.wait_for_screens(7)
        assert "5.00" in screens[-1].text and not screens[-1].ends
        yield phone.answer("1")
        screens = yield phone.wait_for_screens(8)
        assert screens[-1].ends
        assert phone.ussd_session is None  # the final screen ended the dialogue
    finally:
        yield rig.stop()

