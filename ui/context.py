"""What a page works with, built once at its top and passed to what it calls: the settings the sidebar chose, the
store (dropped for the rest of the run when it stops answering), and who is looking. Pages pass it instead of
reading module-level names."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Settings
from core.identity import Visitor
from ui.stores import PageStore


@dataclass(frozen=True)
class PageContext:
    settings: Settings
    store: PageStore
    viewer: Visitor
