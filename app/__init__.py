"""Driftdeck: a monitoring dashboard for models in production."""

__version__ = "0.1.0"
