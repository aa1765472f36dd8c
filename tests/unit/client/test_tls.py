import ssl

import pytest

from navarch.client.kubeconfig import ClientConfig, ConfigError
from navarch.client.tls import ssl_context


def test_plain_http_needs_no_context():
    assert ssl_context(ClientConfig("http://127.0.0.1:8080")) is False


def test_insecure_skips_verification():
    ctx = ssl_context(ClientConfig("https://x", insecure_skip_tls_verify=True))
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname


def test_default_verifies():
    ctx = ssl_context(ClientConfig("https://x"))
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize("config,message", [
    (ClientConfig("https://x", ca_data=b"not pem"), "certificate authority"),
    (ClientConfig("https://x", cert_data=b"c"), "both"),
    (ClientConfig("https://x", cert_data=b"c", key_data=b"k"), "not valid"),
], ids=["bad-ca", "cert-without-key", "bad-cert"])
def test_bad_material_is_a_config_error(config, message):
    with pytest.raises(ConfigError, match=message):
        ssl_context(config)
