"""SHA-256 of small texts (content hashes, cache keys) without loading OpenSSL.

``hashlib`` loads OpenSSL's bindings when it is imported: 2 ms of every cold start, a fifth of a bare
interpreter's. CPython's own SHA-256 module gives the same digest without them. Files go through
``hashlib`` (:mod:`promptyard.core.hashing`), whose OpenSSL code is faster per byte on large inputs.
"""

from __future__ import annotations

try:
    from _sha2 import sha256  # CPython 3.12 and later
except ImportError:
    try:
        from _sha256 import sha256  # CPython 3.11
    except ImportError:  # another interpreter
        from hashlib import sha256


def sha256_hex(text: str, errors: str = "strict") -> str:
    """The sha256 (hex) of ``text`` as UTF-8 (``errors="surrogateescape"`` for file names)."""
    return sha256(text.encode("utf-8", errors)).hexdigest()


__all__ = ["sha256", "sha256_hex"]
