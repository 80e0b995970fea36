"""What the hub accepts in a JSON request body, checked once where every body is decoded.

msgspec decodes a body nested about 1,000 levels deep into a `RecursionError` (a 500), and
decodes integers of any size, which MongoDB cannot store (BSON integers have 8 bytes) and which
then failed deep inside the driver; a NUL in a key cannot be stored in BSON either. So every
body, on every route, is held to what both stores and every backend can take:

- nested at most `MAX_DEPTH` levels (MongoDB refuses documents nested deeper than 100, and a
  stored chat sits two levels down),
- integers within 64 bits (signed),
- no NUL character in object keys (NUL inside string values is fine and kept).

A body that breaks a rule is answered 400 in the route family's error shape, naming the rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar import Request
from litestar.exceptions import ClientException

MAX_DEPTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

TOO_DEEP = f"The JSON body is nested more than {MAX_DEPTH} levels deep."
TOO_BIG = "Integers in the JSON body must fit in 64 bits (-2^63 to 2^63-1)."
NUL_KEY = "Keys in the JSON body cannot contain the NUL character (\\u0000)."


def body_problem(value: Any) -> str | None:
    """Which rule `value` (a decoded JSON document) breaks, or None."""
    if type(value) is int:
        return None if INT64_MIN <= value <= INT64_MAX else TOO_BIG
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        items: Iterable[Any]
        if type(node) is dict:
            for key in node:
                if "\x00" in key:
                    return NUL_KEY
            items = node.values()
        elif type(node) is list:
            items = node
        else:
            continue
        if depth > MAX_DEPTH:
            return TOO_DEEP
        for item in items:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif kind is int and not INT64_MIN <= item <= INT64_MAX:
                return TOO_BIG
    return None


class HubRequest(Request[Any, Any, Any]):
    """Litestar's request, with the body rules above applied when the JSON body is read."""

    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError:
            raise ClientException(TOO_DEEP) from None
        problem = body_problem(value)
        if problem is not None:
            raise ClientException(problem)
        return value
