"""Catalogue and stock tables (filled in by the catalogue work)."""

from __future__ import annotations
