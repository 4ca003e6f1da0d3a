"""Registers messages.toml, social.toml and causes.toml with the loader, and checks them together.

Per-file models catch types and ranges; the checks here need more than one file or the code's list
of replies: every language has every reply and keyword, placeholders agree across languages, and
every reply fits one SMS with the operator's real name and the longest cause name filled in.
"""

from __future__ import annotations

from engine.config.loader import register_cross_check, register_file
from engine.config.problems import ConfigProblem
from engine.social_sms.catalogue import (
    COMMANDS,
    PLACEHOLDER_WIDTHS,
    REPLIES,
    USSD_REPLIES,
    MessagesFile,
    normalise_keyword,
    template_fields,
    _KEYWORD,
)
from engine.smpp.encoding import (
    USSD_PAGE_GSM_SEPTETS,
    USSD_PAGE_UCS2_UNITS,
    first_non_gsm_character,
    fits_ussd_page,
    ussd_units,
)
from engine.smpp.segmentation import single_sms_room
from engine.social_sms.money import to_minor
from engine.social_sms.settings import CausesFile, SocialFile

MESSAGES = "messages.toml"
SOCIAL = "social.toml"
CAUSES = "causes.toml"


def catalogue_problems(messages: MessagesFile, label: str, sample_values: dict[str, dict[str, str]] | None = None,
                       ussd_page: tuple[int, int] = (USSD_PAGE_GSM_SEPTETS, USSD_PAGE_UCS2_UNITS)) -> list[ConfigProblem]:
    """Everything wrong with a catalogue. `sample_values[language]` gives config-known placeholder
    values (operator name, cause names) for the one-SMS check; other placeholders take their
    widest width from PLACEHOLDER_WIDTHS. The USSD wordings (`ussd_replies`) are held to the same
    rules, but must fit one USSD page (`ussd_page`: GSM septets, UCS-2 units) instead of one SMS."""
    problems: list[ConfigProblem] = []

    def problem(key: str, message: str) -> None:
        problems.append(ConfigProblem(label, key, message))

    if not messages.languages:
        problem("languages", "no languages (expected at least [languages.en])")
        return problems
    if messages.default_language not in messages.languages:
        problem("default_language", f"{messages.default_language!r} has no [languages.{messages.default_language}] "
                f"(expected one of {', '.join(messages.languages)})")
    owners: dict[str, tuple[str, str]] = {}  # keyword -> (command, where)
    fields_by_key: dict[tuple[str, str], dict[str, set[str]]] = {}  # (table, key) -> language -> names
    ussd_expected = {key: REPLIES[key] for key in USSD_REPLIES}

    def ussd_fit(label: str, where: str, key: str, template: str, known: dict[str, str]) -> list[ConfigProblem]:
        return _ussd_fit_problems(label, where, key, template, known, ussd_page)

    for language, pack in messages.languages.items():
        base = f"languages.{language}"
        for command in pack.keywords:
            if command not in COMMANDS:
                problem(f"{base}.keywords.{command}", f"unknown command (expected one of {', '.join(COMMANDS)})")
        for command in COMMANDS:
            words = pack.keywords.get(command, ())
            if not words:
                problem(f"{base}.keywords.{command}", "missing (expected at least one keyword)")
            for word in words:
                key = normalise_keyword(word)
                if not _KEYWORD.match(key) or len(word.split()) != 1:
                    problem(f"{base}.keywords.{command}",
                            f"{word!r} is not a keyword (expected one word of A-Z and 0-9, like \"SUIVRE\")")
                    continue
                owner = owners.get(key)
                if owner and owner[0] != command:
                    problem(f"{base}.keywords.{command}", f"{word!r} is already the keyword of {owner[1]} "
                            "(expected each keyword to mean one command)")
                if owner is None:
                    owners[key] = (command, f"{base}.keywords.{command}")
        tables = (
            ("replies", pack.replies, REPLIES, _fit_problems, "unknown reply (expected only the replies listed in docs)",
             "missing (expected this reply in every language)"),
            ("ussd_replies", pack.ussd_replies, ussd_expected, ussd_fit,
             f"unknown reply (expected one of {', '.join(USSD_REPLIES)}: the replies with USSD wording)",
             "missing (expected this reply's USSD wording in every language)"),
        )
        for table, templates, expected, fit, unknown_reply, missing_reply in tables:
            problems.extend(ConfigProblem(label, f"{base}.{table}.{key}", unknown_reply)
                            for key in templates if key not in expected)
            for key, allowed in expected.items():
                where = f"{base}.{table}.{key}"
                template = templates.get(key)
                if template is None:
                    problem(where, missing_reply)
                    continue
                names = _template_names(problem, where, template, allowed)
                if names is None:
                    continue
                fields_by_key.setdefault((table, key), {})[language] = names
                problems.extend(fit(label, where, key, template, (sample_values or {}).get(language, {})))
    default = messages.default_language
    for (table, key), by_language in fields_by_key.items():
        reference = by_language.get(default)
        if reference is None:
            continue
        for language, names in by_language.items():
            if names != reference:
                problem(f"languages.{language}.{table}.{key}",
                        f"placeholders {_braces(names)} differ from {default}'s {_braces(reference)} "
                        "(expected the same placeholders in every language)")
    return problems


def _template_names(problem, where: str, template: str, allowed: frozenset[str]) -> set[str] | None:
    """The placeholders of a valid template, or None after reporting what is wrong with it."""
    if not template.strip():
        problem(where, "empty (expected a message)")
        return None
    try:
        names = set(template_fields(template))
    except ValueError as error:
        problem(where, f"not a valid template: {error}")
        return None
    unknown = sorted(names - allowed)
    if unknown:
        expected = ", ".join("{" + n + "}" for n in sorted(allowed)) or "no placeholders"
        problem(where, f"unknown placeholder {', '.join('{' + n + '}' for n in unknown)} (expected {expected})")
        return None
    return names


def _braces(names: set[str]) -> str:
    return ", ".join("{" + n + "}" for n in sorted(names)) or "none"


def _fit_problems(label: str, where: str, key: str, template: str, known: dict[str, str]) -> list[ConfigProblem]:
    values = {name: known.get(name, "x" * PLACEHOLDER_WIDTHS.get(name, 10)) for name in REPLIES[key]}
    text = template.format(**values)
    used, room = single_sms_room(text)
    if used <= room:
        return []
    reason = f"{used} characters at the longest (expected at most {room}, one SMS)"
    odd = first_non_gsm_character(template)
    if odd:
        reason += f"; {odd!r} is not in the GSM alphabet, so the reply goes as UCS-2 (70 per SMS)"
    return [ConfigProblem(label, where, reason)]


def _ussd_fit_problems(label: str, where: str, key: str, template: str, known: dict[str, str],
                       page: tuple[int, int]) -> list[ConfigProblem]:
    gsm_septets, ucs2_units = page
    values = {name: known.get(name, "x" * PLACEHOLDER_WIDTHS.get(name, 10)) for name in REPLIES[key]}
    text = template.format(**values)
    if fits_ussd_page(text, gsm_septets=gsm_septets, ucs2_units=ucs2_units):
        return []
    _coding, size = ussd_units(text)
    odd = first_non_gsm_character(text)
    if odd:
        reason = (f"{size} UCS-2 characters at the longest (expected at most {ucs2_units}, one USSD page; "
                  f"{odd!r} is not in the GSM alphabet, so the screen goes as UCS-2)")
    else:
        reason = f"{size} GSM characters at the longest (expected at most {gsm_septets}, one USSD page)"
    return [ConfigProblem(label, where, reason)]


def _sample_values(config, messages: MessagesFile) -> list[dict[str, dict[str, str]]]:
    """Values to fill the replies with, per language: one set per cause, and one with the longest
    name and description. Not the longest alone: a shorter name with a letter outside the GSM
    alphabet (û) makes the whole reply UCS-2, 70 characters an SMS instead of 160."""
    operator = config.engine.operator
    social: SocialFile = config.files.get(SOCIAL) or SocialFile()
    causes: CausesFile = config.files.get(CAUSES) or CausesFile()

    def sample(pack, name: str, description: str) -> dict[str, str]:
        return {
            "program": operator.name, "short_code": operator.short_code, "help_url": operator.help_url,
            "care_number": operator.care_number, "rates": pack.rates_line,
            "cause_name": name, "description": description, "text": "x" * social.post_max_chars,
        }

    default = messages.default_language
    longest = {}
    for language, pack in messages.languages.items():
        names = [c.name_in(language, default) for c in causes.causes] or ["x" * 30]
        descriptions = [c.description_in(language, default) for c in causes.causes] or [""]
        longest[language] = sample(pack, max(names, key=len), max(descriptions, key=len))
    return [longest] + [
        {language: sample(pack, cause.name_in(language, default), cause.description_in(language, default))
         for language, pack in messages.languages.items()}
        for cause in causes.causes]


def check_social_config(config) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    messages: MessagesFile | None = config.files.get(MESSAGES)
    has_catalogue = (config.directory / MESSAGES).exists()
    if messages is not None and has_catalogue:
        ussd = config.files.get("ussd.toml")  # its [page] limits, when the engine has a USSD menu
        page = (ussd.page.gsm_characters, ussd.page.ucs2_characters) if ussd is not None else \
            (USSD_PAGE_GSM_SEPTETS, USSD_PAGE_UCS2_UNITS)
        found: dict[str, ConfigProblem] = {}
        for samples in _sample_values(config, messages):
            for problem in catalogue_problems(messages, config.label(MESSAGES), samples, page):
                found.setdefault(problem.key, problem)  # a reply too long for several causes: once
        problems.extend(found.values())
    causes: CausesFile | None = config.files.get(CAUSES)
    if causes is not None and messages is not None and messages.languages:
        for index, cause in enumerate(causes.causes):
            for language in messages.languages:
                if language not in cause.name:
                    problems.append(ConfigProblem(config.label(CAUSES), f"causes[{index}].name.{language}",
                                                  "missing (expected the cause's name in every catalogue language)"))
    social: SocialFile | None = config.files.get(SOCIAL)
    if social is not None:
        minor = config.engine.operator.currency_minor_unit
        for key in ("min_amount", "max_per_month"):
            try:
                to_minor(getattr(social.give, key), minor)
            except ValueError:
                problems.append(ConfigProblem(config.label(SOCIAL), f"give.{key}",
                                              f"more decimals than the currency has (expected at most {minor})"))
    return problems


register_file(MESSAGES, MessagesFile, required=True)
register_file(SOCIAL, SocialFile)
register_file(CAUSES, CausesFile)
register_cross_check(check_social_config)
