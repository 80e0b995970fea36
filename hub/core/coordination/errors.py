"""The coordination's one error, importable without redis-py."""

from __future__ import annotations


class CoordinationUnavailable(Exception):
    """Redis cannot be reached (or took longer than the deadline)."""
