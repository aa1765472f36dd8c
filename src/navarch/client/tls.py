"""The TLS context a client connects with, built from a ``ClientConfig``.

Python's ``ssl`` loads client certificates only from files, while kubeconfigs embed them; the PEM is
written to a private temporary directory for the duration of ``load_cert_chain`` and removed at once.
"""

from __future__ import annotations

import os
import ssl
import tempfile

from navarch.client.kubeconfig import ClientConfig, ConfigError


def ssl_context(config: ClientConfig) -> ssl.SSLContext | bool:
    """A verifying context (the config's CA, else the system store), or False for plain http."""
    if config.server.startswith("http://"):
        return False
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if config.insecure_skip_tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif config.ca_data:
        try:
            ctx.load_verify_locations(cadata=config.ca_data.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError) as e:
            raise ConfigError(f"certificate authority data is not valid PEM: {e}") from None
    if config.cert_data or config.key_data:
        if not (config.cert_data and config.key_data):
            raise ConfigError("a client certificate needs both the certificate and its key")
        _load_client_cert(ctx, config.cert_data, config.key_data)
    return ctx


def _load_client_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="navarch-tls-") as d:
        cert_path, key_path = os.path.join(d, "client.crt"), os.path.join(d, "client.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as e:
            raise ConfigError(f"client certificate or key is not valid: {e}") from None
