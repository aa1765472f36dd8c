"""The server's join token file and its Secret."""

import stat

from navarch.api import bootstraptoken as bt
from navarch.client.errors import ApiError
from navarch.server import join
from tests.unit.api.test_bootstraptoken import make_ca_pem


def test_token_file_is_created_private_and_then_kept(tmp_path):
    ca, _ = make_ca_pem()
    first = join.load_or_create_server_token(tmp_path, ca)
    assert first.ca_hash == bt.ca_hash(ca)
    path = tmp_path / "token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert bt.parse_join_token(path.read_text()) == first
    assert join.load_or_create_server_token(tmp_path, ca) == first


def test_a_new_ca_rewrites_the_hash_and_keeps_the_credentials(tmp_path):
    ca, _ = make_ca_pem()
    other, _ = make_ca_pem()
    first = join.load_or_create_server_token(tmp_path, ca)
    second = join.load_or_create_server_token(tmp_path, other)
    assert second.bootstrap == first.bootstrap and second.ca_hash == bt.ca_hash(other)
    assert bt.parse_join_token((tmp_path / "token").read_text()) == second


class FakeClient:
    def __init__(self, exists=False):
        self.exists = exists
        self.created = []

    async def create(self, res, body, namespace=None, **kw):
        if self.exists:
            raise ApiError({"code": 409, "reason": "AlreadyExists", "message": "exists"})
        self.created.append((res, body, namespace))
        return body


async def test_server_token_secret_is_created_without_expiry(tmp_path):
    ca, _ = make_ca_pem()
    client = FakeClient()
    token = await join.ensure_server_token(tmp_path, ca, client)
    [(res, body, ns)] = client.created
    assert res == "v1/secrets" and ns == "kube-system"
    assert body["metadata"]["name"] == token.bootstrap.secret_name
    assert "expiration" not in bt.secret_data(body)


async def test_existing_secret_is_left_alone():
    client = FakeClient(exists=True)
    assert await join.ensure_token_secret(client, bt.generate_bootstrap_token()) is False
