"""The server's heap after startup is frozen out of the garbage collector's full passes.

A full (generation 2) collection walks every tracked object, and after startup most of them
are the imported modules, classes and functions (FastAPI, SQLAlchemy, pydantic models, the
transcription code), none of which will ever be garbage: about 160,000 objects, and a full pass
over them stopped the event loop for 60-70 ms (measured with ``gc.callbacks`` on ``meetbot
serve``). ``gc.freeze`` (after a last collection, so nothing collectable is kept) moves them to
the permanent generation: the full passes of a running server walk only what it allocated
since (8-15 ms measured, under the ``bench/api_create.py --overload 3`` flood), and no object
is freed any later than it would have been.
"""

from __future__ import annotations

import gc


async def freeze_startup_heap() -> None:
    """Run last in the server's startup: collect once, then freeze what is left."""
    gc.collect()
    gc.freeze()
