"""Decoding of ``application/vnd.kubernetes.protobuf`` request bodies (kubectl 1.32+ typed clients).

Request bodies only: responses stay JSON, which every client accepts. ``decode`` turns a body into the
same JSON-shaped dict its JSON encoding would give, driven by the OpenAPI schema plus a generated table
of upstream's field numbers (``fields``). Imports only ``navarch.api``.
"""

from navarch.apiserver.protobuf.decoder import MAGIC, PROTOBUF_CONTENT_TYPE, Decoder, decode

__all__ = ["MAGIC", "PROTOBUF_CONTENT_TYPE", "Decoder", "decode"]
