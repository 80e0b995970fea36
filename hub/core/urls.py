"""Printable forms of configured URLs: what logs and error messages may show of them."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def service_address(url: str) -> str:
    """`scheme://hosts` of a connection URL (MongoDB, Redis): no user, password, path or options.

    Connection strings carry credentials and options in several places, so only the part that
    says where the service is survives.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the configured URL"
    hosts = parts.netloc.rpartition("@")[2]
    if not parts.scheme or not hosts:
        return "the configured URL"
    return f"{parts.scheme}://{hosts}"


def without_credentials(url: str) -> str:
    """An HTTP base URL without `user:password@` (the path stays: it tells backends apart)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url.rstrip("/")
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc)).rstrip("/")
