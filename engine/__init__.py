"""The engine of a people's mobile operator.

Pure cores (rules, rating, allocation, the SMPP session) live beside thin adapters (Twisted,
SQLAlchemy, files); see docs/architecture.md for the map.
"""

__version__ = "0.1.0"
