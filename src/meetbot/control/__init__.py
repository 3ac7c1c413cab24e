"""The control plane: the process ``meetbot serve`` runs.

``api`` (HTTP) calls ``service`` (use cases: the only code that changes state), which uses
``store`` (SQL), ``launchers`` (starting runners), ``webhooks`` (the outbox and its delivery)
and ``media`` (recordings and transcripts after a call); ``scheduler`` dispatches scheduled
bots; ``server`` wires them together from settings. It talks to runners only through
:mod:`meetbot.contract` (assignments out, reports in).
"""
