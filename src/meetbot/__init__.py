"""meetbot: a self-hostable meeting-bot API."""

__version__ = "0.1.0"
