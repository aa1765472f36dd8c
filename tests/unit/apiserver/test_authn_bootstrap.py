"""Bootstrap-token authentication: which Secrets make a token valid, and the user it becomes."""

import base64
import datetime as dt

import pytest

from navarch.api import bootstraptoken as bt
from navarch.apiserver.authn_bootstrap import BootstrapTokenAuthenticator, cache_lookup

TOKEN = "abcdef.0123456789abcdef"
NOW = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)


def secret(**overrides):
    obj = bt.token_secret(bt.BootstrapToken("abcdef", "0123456789abcdef"), ttl=dt.timedelta(hours=1),
                          now=NOW - dt.timedelta(minutes=30))
    for k, v in overrides.items():
        if k == "type":
            obj["type"] = v
        elif k == "deleting":
            obj["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
        else:
            obj["data"][k.replace("_", "-")] = base64.b64encode(v.encode()).decode()
    return obj


def authenticator(obj):
    store = {("kube-system", "bootstrap-token-abcdef"): obj} if obj else {}
    return BootstrapTokenAuthenticator(lambda ns, name: store.get((ns, name)), now=lambda: NOW)


def test_valid_token_is_the_bootstrap_user_in_bootstrappers():
    user = authenticator(secret()).authenticate_token(TOKEN)
    assert user == {"username": "system:bootstrap:abcdef",
                    "groups": ["system:bootstrappers", "system:bootstrappers:navarch:default-node-token",
                               "system:authenticated"]}


@pytest.mark.parametrize("obj,token", [
    (None, TOKEN),
    (secret(), "abcdef.0123456789abcdee"),
    (secret(), "abcdef.0123456789abcde"),
    (secret(type="Opaque"), TOKEN),
    (secret(deleting=True), TOKEN),
    (secret(expiration="2025-01-01T11:59:59Z"), TOKEN),
    (secret(expiration="tomorrow"), TOKEN),
    (secret(usage_bootstrap_authentication="false"), TOKEN),
    (secret(token_id="zzzzzz"), TOKEN),
    (secret(auth_extra_groups="system:masters"), TOKEN),
], ids=["no-secret", "wrong-secret", "malformed", "wrong-type", "deleting", "expired", "bad-expiration",
        "usage-off", "id-mismatch", "extra-group-outside-bootstrappers"])
def test_refused(obj, token):
    assert authenticator(obj).authenticate_token(token) is None


def test_no_expiration_never_expires():
    obj = bt.token_secret(bt.BootstrapToken("abcdef", "0123456789abcdef"), extra_groups=())
    user = authenticator(obj).authenticate_token(TOKEN)
    assert user is not None and user["groups"] == ["system:bootstrappers", "system:authenticated"]


def test_cache_lookup_reads_the_watch_cache_entry():
    class Entry:
        def __init__(self, obj):
            self.obj = obj

    entry = Entry({"metadata": {"name": "bootstrap-token-abcdef"}})

    class Cache:
        def __init__(self):
            self.items = {"/registry/core/secrets/kube-system/bootstrap-token-abcdef": entry}

    class WatchCache:
        def cache_for(self, prefix):
            assert prefix == "/registry/core/secrets/"
            return Cache()

    lookup = cache_lookup(WatchCache())
    assert lookup("kube-system", "bootstrap-token-abcdef") is entry.obj
    assert lookup("kube-system", "other") is None
