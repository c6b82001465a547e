"""JSON from the network, decoded without surprises.

``json.loads`` raises :class:`ValueError` for malformed text, but a
document nested deeper than the interpreter's recursion limit (a few KB of
``[[[[...`` or ``{"a":{"a":...``) raises :class:`RecursionError` instead,
which code that guards against bad input with ``except ValueError`` does
not expect. :func:`loads` turns every way a document can fail to decode
into a :class:`ValueError`, so bytes from a server or a peer are either a
value or malformed input, nothing else.
"""

from __future__ import annotations

import json
from typing import Any, Union


class JSONTooDeep(ValueError):
    """A JSON document nested too deeply to decode."""


def loads(data: Union[bytes, bytearray, memoryview, str]) -> Any:
    """``json.loads(data)``; :class:`ValueError` for anything that does not
    decode (bytes that are no Unicode text, malformed JSON, nesting too
    deep)."""
    try:
        if isinstance(data, memoryview):
            data = bytes(data)
        return json.loads(data)
    except RecursionError:
        raise JSONTooDeep("JSON document is nested too deeply") from None
    except TypeError as exc:  # not text at all
        raise ValueError(f"not a JSON document: {exc}") from None
