"""The server's join token: ``DIR/token`` (mode 0600) and the bootstrap-token Secret behind it.

``navarch server`` keeps its own token in ``DIR/token``, backed by a Secret without expiry that it
re-creates at start when missing; ``navarch token create`` adds more, with a TTL. The formats live in
``api/bootstraptoken.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from navarch.api import bootstraptoken as bt
from navarch.api.bootstraptoken import JoinToken, TokenFormatError
from navarch.server.pki import write_private


def load_or_create_server_token(data_dir: Path, ca_pem: bytes) -> JoinToken:
    """The server's own token from ``DIR/token``, or a new one written there (mode 0600). A token
    file whose hash is not this CA's (the data dir's PKI was replaced) is rewritten with the right
    hash and the same bootstrap token."""
    path = data_dir / "token"
    digest = bt.ca_hash(ca_pem)
    try:
        token = bt.parse_join_token(path.read_text())
    except (OSError, TokenFormatError):
        token = JoinToken(digest, bt.generate_bootstrap_token())
        write_private(path, f"{token}\n".encode())
        return token
    if token.ca_hash != digest:
        token = JoinToken(digest, token.bootstrap)
        write_private(path, f"{token}\n".encode())
    return token


async def ensure_token_secret(client: Any, token: bt.BootstrapToken, *, ttl: dt.timedelta | None = None,
                              description: str = "") -> bool:
    """Create the token's Secret unless it exists; True when created."""
    from navarch.client.errors import is_already_exists

    try:
        await client.create("v1/secrets", bt.token_secret(token, ttl=ttl, description=description), bt.NAMESPACE)
        return True
    except Exception as e:
        if is_already_exists(e):
            return False
        raise


async def ensure_server_token(data_dir: Path, ca_pem: bytes, client: Any) -> JoinToken:
    """``DIR/token`` and its Secret (no expiry), as ``navarch server`` keeps them."""
    token = load_or_create_server_token(data_dir, ca_pem)
    await ensure_token_secret(client, token.bootstrap, description="the join token of navarch server (DIR/token)")
    return token
