"""Imports every subsystem's config module so that each registers its file with the loader.

A subsystem that adds a config file adds one import line here.
"""
