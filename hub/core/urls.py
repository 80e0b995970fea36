"""Printable forms of configured URLs: what logs and error messages may show of them."""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit, urlunsplit


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


def http_url(value: str, *, default_port: int | None = None) -> str:
    """`value` checked as an http(s) URL with a host; raises ValueError saying what is wrong.

    With `default_port` (Ollama's 11434), a value without a scheme is read as Ollama reads
    `OLLAMA_HOST`: `127.0.0.1:11434` means `http://127.0.0.1:11434` and a bare host gets the
    default port. Without it a scheme is required.
    """
    text = value.strip()
    if "://" not in text:
        if default_port is None:
            raise ValueError(f"{text!r} has no scheme; write it as https://host/… or http://host/…")
        text = "http://" + text
        if _port(text) is None:
            host, slash, path = text.removeprefix("http://").partition("/")
            text = f"http://{host}:{default_port}{slash}{path}"
    parts = _split(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{parts.scheme}:// is not an HTTP scheme; use http:// or https://")
    if not parts.hostname:
        raise ValueError("names no host; write it as http://host:port")
    _port(text)
    return text


def check_service_url(value: str, schemes: tuple[str, ...], example_address: str) -> None:
    """Raise ValueError unless `value` has one of `schemes` and a host (`unix` needs none).

    The message never repeats the value: connection URLs carry passwords.
    """
    parts = _split(value.strip())
    example = f"{schemes[0]}://{example_address}"
    if parts.scheme not in schemes:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"must start with {allowed}, like {example}")
    if parts.scheme != "unix" and not parts.netloc.rpartition("@")[2]:
        raise ValueError(f"names no host; write it like {example}")


def _split(text: str) -> SplitResult:
    try:
        return urlsplit(text)
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from None


def _port(text: str) -> int | None:
    try:
        return urlsplit(text).port
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None
