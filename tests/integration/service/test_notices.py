"""The host network's notices (a line activated or refused) as the subscriber gets them: in their
language, kept from a number that texted STOP unless essential, and held for their quiet hours."""

from datetime import datetime, timezone

from sqlalchemy import select

from engine.service.notices import CatalogueNotifier
from engine.smpp.outbox import Outbox
from engine.social_sms.ports import Subscriber
from engine.social_sms.settings import OptOutSection, QuietHoursSection
from engine.social_sms.sql_repository import SqlSocialRepository
from engine.social_sms.testing import make_context, sample_social
from engine.store.schema import mt_messages

UTC = timezone.utc
NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ANN, CAT = "+447400000001", "+33612345678"


def sent(database) -> list[tuple]:
    with database.connect() as connection:
        return connection.execute(select(mt_messages.c.destination_addr, mt_messages.c.text, mt_messages.c.message_class,
                                         mt_messages.c.not_before).order_by(mt_messages.c.id)).all()


def members(database, *subscribers: Subscriber) -> None:
    with database.begin() as connection:
        repo = SqlSocialRepository(connection, NOON, "Europe/London")
        for subscriber in subscribers:
            repo.save_subscriber(subscriber)


def notify(database, notifier, msisdn, key, at, **values):
    with database.begin() as connection:
        notifier.notify(connection, msisdn, key, {"msisdn": msisdn, "plan_code": "basic", **values}, at)


def test_a_notice_is_in_the_subscribers_language_and_waits_for_the_end_of_their_quiet_hours(database):
    members(database, Subscriber(ANN, "line", "active", "en", "Europe/London", NOON),
            Subscriber(CAT, "line", "active", "fr", "Europe/Paris", NOON))
    notifier = CatalogueNotifier(make_context(), Outbox("767"))
    notify(database, notifier, ANN, "line_active", NOON)
    three_am = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    notify(database, notifier, ANN, "line_activation_failed", three_am, reason="SIM not found")
    notify(database, notifier, CAT, "line_active", three_am)
    [active, failed, french] = sent(database)
    assert active == (ANN, "People's Mobile: your line is now active. Text CAUSES to choose the cause that gets 10% "
                           "of your bill.", "notice", NOON)
    assert failed[1] == "People's Mobile: sorry, your line could not be activated (SIM not found). Call +443001234567 for help."
    assert failed[3] == datetime(2026, 11, 28, 8, 0, tzinfo=UTC)  # 08:00 in London
    assert french[1].startswith("People's Mobile : votre ligne est active")
    assert french[3] == datetime(2026, 11, 28, 7, 0, tzinfo=UTC)  # 08:00 in Paris


def test_without_notice_among_the_held_classes_a_notice_goes_at_once(database):
    members(database, Subscriber(ANN, "line", "active", "en", "Europe/London", NOON))
    social = sample_social(quiet_hours=QuietHoursSection(held_classes=("fanout", "dm")))
    notify(database, CatalogueNotifier(make_context(social=social), Outbox("767")), ANN, "line_active",
           datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    [(_to, _text, _class, not_before)] = sent(database)
    assert not_before == datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def test_after_stop_only_an_essential_notice_is_sent(database):
    members(database, Subscriber(ANN, "line", "active", "en", "Europe/London", NOON, opted_out=True))
    notify(database, CatalogueNotifier(make_context(), Outbox("767")), ANN, "line_active", NOON)
    assert len(sent(database)) == 1  # activation is an essential topic by default
    not_essential = sample_social(opt_out=OptOutSection(essential_topics=("bill",)))
    notify(database, CatalogueNotifier(make_context(social=not_essential), Outbox("767")), ANN, "line_active", NOON)
    assert len(sent(database)) == 1
