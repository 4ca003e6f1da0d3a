"""Imports every subsystem's config module so that each registers its file with the loader.

A subsystem that adds a config file adds one import line here.
"""
import engine.rating.tariffs  # noqa: F401
import engine.social_sms.config_files  # noqa: F401  (messages.toml, social.toml, causes.toml)
import engine.hostnet.settings  # noqa: F401
import engine.social_sms.ussd_menu  # noqa: F401  (ussd.toml)
