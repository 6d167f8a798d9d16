"""The matters a caller settles in a call: the service catalog, its forms and their
validators, and the session document that carries forms, identity, materials and screens.

Pure and I/O-free like ``signaling.routing``: the hub feeds it and delivers what it returns.
"""

from __future__ import annotations

from pathlib import Path

#: the service catalog shipped with the server (TOML files, one per category)
SHIPPED_CATALOG = Path(__file__).resolve().parent / "catalog"
