"""One module per Slack input (or family of inputs), each declaring itself with the decorators of
teambot.core.registry. Every module here is imported by load_handlers() below: adding one is all
the wiring a new input needs (plus its line in slack_manifest.yaml and its test).

Top-level imports stay light (this package is loaded on the ack path to parse payloads); the
heavy half is imported inside the handler functions."""

from __future__ import annotations

import importlib
import pkgutil
import threading

from teambot.core.registry import REGISTRY, Registry

_loaded = False
_load_lock = threading.Lock()


def load_handlers() -> Registry:
    """Import every module of this package once, so their declarations are in REGISTRY."""
    global _loaded
    with _load_lock:
        if not _loaded:
            for module in pkgutil.iter_modules(__path__):
                if not module.name.startswith("_"):
                    importlib.import_module(f"{__name__}.{module.name}")
            _loaded = True
    return REGISTRY
