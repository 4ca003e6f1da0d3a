"""Every command, in English and in French, from the first text to the reply."""

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from engine.social_sms.ports import BillPreview
from engine.social_sms.testing import World

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
OURS = "+447400123456"  # in our range
OURS_2 = "+447400123457"
ELSEWHERE = "+33612345678"  # another network


@pytest.fixture
def world():
    return World()


def member(world, number, handle, language="en", cause=None):
    world.sms(number, f"JOIN {handle}", NOON)
    if language != "en":
        world.sms(number, f"LANG {language}", NOON)
    if cause:
        world.sms(number, f"CAUSE {cause}", NOON)
    return number


def test_join_from_our_range_activates_the_line(world):
    result = world.sms(OURS, "JOIN", NOON)
    assert result.replies == ["Welcome to People's Mobile! Your line is being activated. 10% of your bill goes to a "
                              "cause you choose: text CAUSES. HELP for help, STOP to end."]
    assert world.provisioning.requests == [(OURS, "basic")]
    subscriber = world.repo.get_subscriber(OURS)
    assert (subscriber.kind, subscriber.status, subscriber.plan, subscriber.language) == ("line", "activating", "basic", "en")


def test_join_from_another_network_is_social_only(world):
    assert world.sms(ELSEWHERE, "start", NOON).replies[0].startswith("Welcome to People's Mobile! Text NAME")
    assert world.provisioning.requests == []
    assert world.repo.get_subscriber(ELSEWHERE).kind == "social"


def test_inscription_answers_in_french_and_takes_a_handle(world):
    replies = world.sms("07400123456", "INSCRIPTION Zoé_2", NOON).replies  # national format from the SMSC
    assert replies[0].startswith("Bienvenue chez People's Mobile ! Votre ligne est en cours d'activation.")
    assert replies[1] == "Un nom a 3 à 15 signes parmi a-z, 0-9 et _, ex. NOM sam_k"
    assert world.repo.get_subscriber(OURS).language == "fr"
    assert world.reply(OURS, "NOM zoe_2", NOON) == "Votre nom est maintenant @zoe_2."


def test_join_twice(world):
    world.sms(OURS, "JOIN", NOON)
    assert world.reply(OURS, "JOIN", NOON) == "You are already a member of People's Mobile. Text HELP for commands."
    assert world.provisioning.requests == [(OURS, "basic")]


def test_join_after_the_line_ended_asks_the_host_again_and_keeps_the_member(world):
    member(world, OURS, "zoe", language="fr", cause="water")
    world.sms(OURS, "STOP", NOON)
    ended = world.repo.get_subscriber(OURS)
    world.repo.save_subscriber(replace(ended, status="terminated"))  # the host refused the activation
    assert world.reply(OURS, "ADHERER", NOON).startswith("Bienvenue chez People's Mobile ! Votre ligne est en cours d'activation.")
    again = world.repo.get_subscriber(OURS)
    assert (again.kind, again.status, again.plan, again.opted_out) == ("line", "activating", "basic", False)
    assert (again.handle, again.cause, again.language, again.joined_at) == ("zoe", "water", "fr", ended.joined_at)
    assert world.provisioning.requests == [(OURS, "basic"), (OURS, "basic")]


def test_join_from_an_ended_line_outside_our_ranges_makes_a_social_member(world):
    member(world, ELSEWHERE, "cat")
    world.repo.save_subscriber(replace(world.repo.get_subscriber(ELSEWHERE), kind="line", status="terminated",
                                       plan="basic"))  # a line of ours once, its number since taken out of our ranges
    assert world.reply(ELSEWHERE, "JOIN", NOON).startswith("Welcome to People's Mobile! Text NAME")
    again = world.repo.get_subscriber(ELSEWHERE)
    assert (again.kind, again.status, again.plan) == ("social", "active", None)
    assert world.provisioning.requests == []


def test_punctuation_around_the_arguments_is_forgiven(world):
    member(world, OURS, "zoe")
    member(world, OURS_2, "sam")
    assert world.reply(OURS, "FOLLOW sam.", NOON) == "You now follow @sam."
    assert world.reply(OURS, "OFF.", NOON) == "Notifications are paused. Text ON to get them again."
    assert world.repo.get_subscriber(OURS).notifications_on is False
    assert world.reply(OURS, "ON!", NOON) == "Notifications are on. Text OFF to pause them."
    assert world.reply(OURS, "CAUSE water.", NOON).startswith("Thank you! 10% of your bill now goes to Clean Water Fund")
    assert world.reply(OURS, "HELP 2.", NOON).startswith("Commands 2/")
    assert world.sms(OURS, "D @sam: see you at 8!", NOON).messages[1].text == "DM @zoe: see you at 8!"
    assert world.sms(OURS_2, "join!", NOON).replies == ["You are already a member of People's Mobile. Text HELP for commands."]


def test_commands_need_join_first_but_help_and_stop_do_not(world):
    assert world.reply(OURS, "BILL", NOON) == "You are not a member of People's Mobile yet. Text JOIN to sign up, or HELP."
    assert world.reply(OURS, "FACTURE", NOON).startswith("Vous n'avez pas encore de compte")
    assert world.reply(OURS, "HELP", NOON).startswith("People's Mobile: CAUSES, BILL")
    assert world.reply(OURS, "AIDE", NOON).startswith("People's Mobile: CAUSES, FACTURE")
    assert world.reply(OURS, "STOP", NOON).startswith("People's Mobile: you are unsubscribed")
    assert world.repo.get_subscriber(OURS) is None


def test_help_has_program_help_rates_and_stop(world):
    text = world.reply(OURS, "help", NOON)
    for part in ("People's Mobile", "peoples.example/help", "+443001234567", "Msg&data rates may apply.", "STOP"):
        assert part in text
    french = world.reply(OURS, "aide", NOON)
    for part in ("ARRET", "SUIVRE", "DON", "Cout d'un SMS"):
        assert part in french


def test_lang(world):
    member(world, OURS, "alice")
    assert world.reply(OURS, "LANG FR", NOON) == "Langue choisie : FR. LANG EN for English."
    assert world.reply(OURS, "BILL", NOON).startswith("Facture")  # English keyword, French reply
    assert world.reply(OURS, "langue english", NOON) == "Language set to English. LANG FR pour le francais."
    assert world.reply(OURS, "LANG DE", NOON) == "Languages: EN, FR. Text LANG and one of them."


def test_causes_choose_and_mycause(world):
    member(world, OURS, "alice")
    assert world.reply(OURS, "CAUSES", NOON) == ("Causes 1/1: water=Clean Water Fund, foodbank=Local Food Banks, "
                                                 "climate=Climate Action. Text CAUSE code to choose.")
    assert world.reply(OURS, "MYCAUSE", NOON) == "You have not chosen a cause yet. Text CAUSES to see them."
    assert world.reply(OURS, "CAUSE Water", NOON) == "Thank you! 10% of your bill now goes to Clean Water Fund. Text MYCAUSE to check."
    assert world.reply(OURS, "MYCAUSE", NOON) == "Your cause: Clean Water Fund. Wells and pumps for villages."
    assert world.reply(OURS, "CAUSE nope", NOON) == "There is no cause nope. Text CAUSES for the list."
    assert world.reply(OURS, "CAUSE", NOON).startswith("Text CAUSE and a code")
    world.sms(OURS, "LANG FR", NOON)
    assert world.reply(OURS, "MACAUSE", NOON) == "Votre cause : Fonds Eau Potable. Puits et pompes."
    assert world.reply(OURS, "choisir climate", NOON).startswith("Merci ! 10% de votre facture va maintenant à Action Climat.")


def test_causes_are_paged_to_one_sms_each():
    from engine.smpp.segmentation import fits_one_sms
    from engine.social_sms.settings import Cause, CausesFile
    from engine.social_sms.testing import make_context

    causes = CausesFile(causes=tuple(Cause(code=f"cause{i:02d}", name={"en": f"Cause number {i}", "fr": f"Cause {i}"})
                                     for i in range(20)))
    world = World(ctx=make_context(causes=causes))
    member(world, OURS, "alice")
    first = world.reply(OURS, "CAUSES", NOON)
    assert first.startswith("Causes 1/") and first.endswith("CAUSES 2 for more.")
    pages = int(first.split("/")[1].split(":")[0])
    seen = []
    for page in range(1, pages + 1):
        text = world.reply(OURS, f"CAUSES {page}", NOON)
        assert fits_one_sms(text)
        seen += [part.split("=")[0] for part in text.split(": ", 1)[1].split(". Text")[0].split(", ")]
    assert seen == [f"cause{i:02d}" for i in range(20)]
    assert world.reply(OURS, "CAUSES 99", NOON).startswith(f"Causes {pages}/{pages}")


def test_bill_with_and_without_cause(world):
    member(world, OURS, "alice")
    world.billing.previews[OURS] = BillPreview("2026-03", charges_minor=1239, voice_seconds=61, sms_count=4,
                                                data_bytes=12_345_678)
    assert world.reply(OURS, "BILL", NOON) == ("Bill 2026-03 so far: £12.39 (2 min, 4 texts, 12.3 MB). Gifts: £0.00. "
                                               "Choose a cause: text CAUSES.")
    world.sms(OURS, "CAUSE water", NOON)
    world.sms(OURS, "GIVE 5 foodbank", NOON)
    world.sms(OURS, "YES", NOON)
    assert world.reply(OURS, "bill", NOON) == ("Bill 2026-03 so far: £12.39 (2 min, 4 texts, 12.3 MB). Gifts: £5.00. "
                                               "£1.23 of it goes to Clean Water Fund.")
    world.sms(OURS, "LANG FR", NOON)
    assert world.reply(OURS, "FACTURE", NOON) == ("Facture 2026-03 à ce jour : 12,39 £ (2 min, 4 SMS, 12,3 Mo). "
                                                  "Dons : 5,00 £. 1,23 £ va à Fonds Eau Potable.")


def test_bill_for_a_social_member(world):
    world.sms(ELSEWHERE, "JOIN bob", NOON)
    assert world.reply(ELSEWHERE, "BILL", NOON) == "Your line is on another network, so you have no bill with People's Mobile."


def test_name_and_whois(world):
    member(world, OURS, "alice")
    member(world, OURS_2, "bob")
    assert world.reply(OURS_2, "NAME Alice", NOON) == "@alice is taken. Try another: NAME yourname"
    assert world.reply(OURS_2, "NAME @Bobby", NOON) == "Your name is now @bobby."
    assert world.repo.find_by_handle("bob") is None  # the old handle is free again
    world.sms(OURS_2, "FOLLOW alice", NOON)
    assert world.reply(OURS_2, "WHOIS @alice", NOON) == "@alice: followers 1, following 0. Text FOLLOW alice to follow."
    assert world.reply(OURS_2, "WHOIS nobody", NOON) == "Nobody is called @nobody. Check the name and try again."
    assert world.reply(OURS_2, "QUI alice", NOON).startswith("@alice: followers 1")
    assert world.reply(OURS_2, "NAME", NOON) == "A name is 3-15 of a-z, 0-9 and _, e.g. NAME sam_k"


@pytest.mark.parametrize("handle", ["ab", "a" * 16, "bad-name", "émile", "help", "stop", "water", "admin", "d"])
def test_handle_rules(world, handle):
    member(world, OURS, "alice")
    assert world.reply(OURS, f"NAME {handle}", NOON) == "A name is 3-15 of a-z, 0-9 and _, e.g. NAME sam_k"


@pytest.mark.parametrize("handle", ["abc", "a" * 15, "sam_k", "2pac", "___"])
def test_valid_handles(world, handle):
    member(world, OURS, "alice")
    assert world.reply(OURS, f"NAME {handle}", NOON) == f"Your name is now @{handle}."


def test_follow_unfollow_following_followers(world):
    member(world, OURS, "alice")
    member(world, OURS_2, "bob")
    assert world.reply(OURS_2, "FOLLOW alice", NOON) == "You now follow @alice."
    assert world.reply(OURS_2, "follow @ALICE", NOON) == "You already follow @alice."
    assert world.reply(OURS_2, "FOLLOW water", NOON) == "You now follow Clean Water Fund."
    assert world.reply(OURS_2, "FOLLOW bob", NOON) == "You cannot follow yourself."
    assert world.reply(OURS_2, "FOLLOW ghost", NOON) == "Nobody is called @ghost. Check the name and try again."
    assert world.reply(OURS_2, "FOLLOW", NOON).startswith("Text FOLLOW and a name")
    assert world.reply(OURS_2, "FOLLOWING", NOON) == "You follow 2: Clean Water Fund, @alice"
    assert world.reply(OURS, "FOLLOWERS", NOON) == "Followers (1): @bob"
    assert world.reply(OURS_2, "FOLLOWERS", NOON) == "No followers yet. Share your name!"
    assert world.reply(OURS_2, "UNFOLLOW alice", NOON) == "You no longer follow @alice."
    assert world.reply(OURS_2, "UNFOLLOW alice", NOON) == "You do not follow @alice."
    world.sms(OURS_2, "UNFOLLOW water", NOON)
    assert world.reply(OURS_2, "FOLLOWING", NOON) == "You follow nobody yet. Text FOLLOW and a name or cause."


def test_follow_in_french(world):
    member(world, OURS, "alice")
    member(world, OURS_2, "bob", language="fr")
    assert world.reply(OURS_2, "SUIVRE alice", NOON) == "Vous suivez maintenant @alice."
    assert world.reply(OURS_2, "ABONNEMENTS", NOON) == "Vous suivez 1 : @alice"
    assert world.reply(OURS, "FOLLOWERS", NOON) == "Followers (1): @bob"
    assert world.reply(OURS_2, "PAUSE alice", NOON) == "Messages de @alice en sourdine."
    assert world.reply(OURS_2, "ACTIVER alice", NOON) == "Messages de @alice actifs."
    assert world.reply(OURS_2, "NEPLUSSUIVRE alice", NOON) == "Vous ne suivez plus @alice."


def test_on_off(world):
    member(world, OURS, "alice")
    assert world.reply(OURS, "OFF", NOON) == "Notifications are paused. Text ON to get them again."
    assert world.repo.get_subscriber(OURS).notifications_on is False
    assert world.reply(OURS, "ON", NOON) == "Notifications are on. Text OFF to pause them."
    assert world.reply(OURS, "OFF water", NOON) == "You do not follow Clean Water Fund."


def test_post_and_fanout_with_handle_prefix(world):
    member(world, OURS, "alice")
    member(world, OURS_2, "bob")
    member(world, ELSEWHERE, "chloe", language="fr")
    world.sms(OURS_2, "FOLLOW alice", NOON)
    world.sms(ELSEWHERE, "SUIVRE alice", NOON)
    result = world.sms(OURS, "POST Hello everyone", NOON)
    assert result.replies == ["Posted. Followers reached: 2."] and result.fanned_out == 2
    (batch,) = world.outbox.batches
    assert batch.text == "@alice: Hello everyone" and set(batch.recipients) == {OURS_2, ELSEWHERE}
    assert batch.message_class == "fanout" and batch.not_before is None and batch.sender == "767"
    assert world.reply(ELSEWHERE, "PUBLIER Bonjour à tous", NOON) == "Publié. Abonnés touchés : 0."


def test_post_needs_a_handle_and_text(world):
    world.sms(OURS, "JOIN", NOON)
    assert world.reply(OURS, "POST hi", NOON) == "Choose a name first: text NAME yourname"
    world.sms(OURS, "NAME alice", NOON)
    assert world.reply(OURS, "POST", NOON) == "Text POST and your message."
    assert world.reply(OURS, "POST " + "x" * 131, NOON) == "Too long: 131 characters, the most is 130."


def test_unicode_posts_are_kept_intact(world):
    member(world, OURS, "alice")
    member(world, OURS_2, "bob")
    world.sms(OURS_2, "FOLLOW alice", NOON)
    text = "Ça marche 🎉 — naïve café, 東京, «citation»  two  spaces"
    world.sms(OURS, f"POST {text}", NOON)
    assert world.outbox.batches[0].text == f"@alice: {text}"
    assert world.repo.posts[0].text == text


def test_direct_message_both_languages(world):
    member(world, OURS, "alice")
    member(world, OURS_2, "bob", language="fr")
    result = world.sms(OURS, "D bob Lunch at 1? 🍕", NOON)
    assert result.replies == ["Sent to @bob."]
    (dm,) = [m for m in result.messages if m.message_class == "dm"]
    assert (dm.recipient, dm.text, dm.not_before) == (OURS_2, "MP @alice: Lunch at 1? 🍕", None)
    result = world.sms(OURS_2, "MP alice Oui !", NOON)
    assert result.replies == ["Envoyé à @alice."]
    assert result.messages[1].text == "DM @bob: Oui !"
    assert world.reply(OURS, "D bob", NOON) == "Text D, a name and your message, e.g. D sam_k hello"
    assert world.reply(OURS, "D ghost hi", NOON) == "Nobody is called @ghost. Check the name and try again."


def test_give_in_english_and_french(world):
    member(world, OURS, "alice", cause="water")
    assert world.reply(OURS, "GIVE 5 foodbank", NOON) == ("Give £5.00 to Local Food Banks on your next bill? "
                                                          "Reply YES within 10 min, or NO.")
    assert world.reply(OURS, "YES", NOON) == "Thank you! £5.00 to Local Food Banks is on your next bill."
    world.sms(OURS, "LANG FR", NOON)
    assert world.reply(OURS, "DON 2,50", NOON) == ("Donner 2,50 £ à Fonds Eau Potable sur votre prochaine facture ? "
                                                   "Répondez OUI sous 10 min, ou NON.")
    assert world.reply(OURS, "NON", NOON) == "Don annulé. Rien ne sera facturé."
    assert world.reply(OURS, "OUI", NOON) == "Aucun don n'attend de OUI. Envoyez DON, un montant et une cause."
    assert world.reply(OURS, "DON water £3", NOON).startswith("Donner 3,00 £ à Fonds Eau Potable")
    [gift] = world.repo.gifts
    assert (gift.amount_minor, gift.cause, gift.period) == (500, "foodbank", "2026-03")


def test_unknown_command_suggests_the_closest(world):
    member(world, OURS, "alice")
    assert world.reply(OURS, "FOLOW bob", NOON) == "Sorry, that is not a command. Did you mean FOLLOW? Text HELP for all."
    assert world.reply(OURS, "qwertyuiop", NOON) == "Sorry, that is not a command. Text HELP for the list."
    world.sms(OURS, "LANG FR", NOON)
    assert world.reply(OURS, "SUIVR bob", NOON) == "Commande inconnue. Vouliez-vous dire SUIVRE ? Envoyez AIDE pour la liste."
    assert world.reply(OURS, "", NOON) == "Commande inconnue. Envoyez AIDE pour la liste."


def test_unknown_text_from_a_stranger_gets_a_suggestion(world):
    assert world.reply(OURS, "JION", NOON) == "Sorry, that is not a command. Did you mean JOIN? Text HELP for all."
