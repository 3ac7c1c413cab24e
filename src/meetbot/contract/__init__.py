"""The contract between the control plane and a runner: what both processes import.

Nothing here imports :mod:`meetbot.control` or :mod:`meetbot.runner` (an import-linter contract
in ``pyproject.toml`` keeps it so). ``models`` (domain values), ``lifecycle`` (the status
transition table), ``policies`` (the rules on bots both sides apply), ``reports`` (what a runner
tells the control plane), ``assignment`` (what the control plane tells a runner),
``media_format`` and ``storage_keys`` (what a runner writes to media storage), ``platforms``
and ``meeting_urls`` (which meetings exist and how their URLs look).
"""
