"""The MongoDB database handle the Mongo stores share: collections, and driver errors turned
into the store port's errors (`StoreError`, `DuplicateError`) with credentials masked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote, urlsplit

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from hub.core.ports import DuplicateError, StoreError

Doc = dict[str, Any]
Collection = AsyncCollection[Doc]


def scrub(text: str, url: str) -> str:
    """`text` with the URL's user name and password masked, so errors can be shown and logged."""
    try:
        userinfo = urlsplit(url).netloc.rpartition("@")[0]
    except ValueError:
        return text
    for secret in userinfo.split(":") if userinfo else ():
        for form in {secret, unquote(secret)}:
            if form:
                text = text.replace(form, "***")
    return text


def short_reason(exc: BaseException) -> str:
    # Server selection errors carry the whole topology description; the first clause says it.
    text = str(exc).split(", Timeout:")[0].split(" (configured timeouts")[0]
    return text.strip() or type(exc).__name__


class MongoDb:
    """The database handle plus error translation shared by the Mongo stores."""

    def __init__(self, client: AsyncMongoClient[Doc], db: AsyncDatabase[Doc], where: str) -> None:
        self.client = client
        self.db = db
        self.where = where

    def collection(self, name: str) -> Collection:
        return self.db[name]

    @contextmanager
    def errors(self, duplicate: str | None = None) -> Iterator[None]:
        """Translate driver errors: a taken unique key → DuplicateError, others → StoreError."""
        try:
            yield
        except DuplicateKeyError as exc:
            raise DuplicateError(duplicate or "That entry already exists.") from exc
        except PyMongoError as exc:
            raise StoreError(
                f"MongoDB at {self.where} failed: {short_reason(exc)}; check that it is running."
            ) from exc
