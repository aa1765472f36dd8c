from __future__ import annotations

import asyncio
import base64
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from navarch.storage import RevisionConflict
from navarch.storage.encryption import (
    EncryptingStore,
    EncryptionConfigError,
    TransformError,
    ensure_default_config,
    load_config,
    parse_config,
    resource_prefix,
)
from navarch.storage.memory import MemoryStore

KEY1 = bytes(range(32))
KEY2 = bytes(range(32, 64))
SECRET_KEY = "/registry/core/secrets/default/s1"
SECRET = b'{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}'


def b64(k: bytes) -> str:
    return base64.b64encode(k).decode()


def config(*providers: dict[str, Any], resources: tuple[str, ...] = ("secrets",)) -> dict[str, Any]:
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
            "resources": [{"resources": list(resources), "providers": list(providers)}]}


def gcm(*keys: tuple[str, bytes]) -> dict[str, Any]:
    return {"aesgcm": {"keys": [{"name": n, "secret": b64(k)} for n, k in keys]}}


def cbc(*keys: tuple[str, bytes]) -> dict[str, Any]:
    return {"aescbc": {"keys": [{"name": n, "secret": b64(k)} for n, k in keys]}}


IDENTITY: dict[str, Any] = {"identity": {}}


async def encrypting(doc: dict[str, Any], inner: MemoryStore | None = None) -> tuple[EncryptingStore, MemoryStore]:
    inner = inner or MemoryStore()
    store = EncryptingStore(inner, parse_config(doc))
    await store.start()
    return store, inner


@pytest.mark.parametrize("providers,prefix", [
    ((gcm(("key1", KEY1)),), b"k8s:enc:aesgcm:v1:key1:"),
    ((cbc(("k", KEY1)),), b"k8s:enc:aescbc:v1:k:"),
], ids=["aesgcm", "aescbc"])
async def test_round_trip_stores_ciphertext_with_the_provider_prefix(providers, prefix) -> None:
    store, inner = await encrypting(config(*providers))
    kv = await store.create(SECRET_KEY, SECRET)
    assert kv.value == SECRET
    raw = (await inner.get(SECRET_KEY)).value
    assert raw.startswith(prefix)
    assert b"aHVudGVyMg" not in raw and b"hunter2" not in raw
    assert (await store.get(SECRET_KEY)).value == SECRET
    assert [i.value for i in (await store.list("/registry/core/secrets/")).items] == [SECRET]


async def test_aesgcm_layout_is_upstreams_nonce_then_sealed_data_bound_to_the_key() -> None:
    store, inner = await encrypting(config(gcm(("key1", KEY1))))
    await store.create(SECRET_KEY, SECRET)
    raw = (await inner.get(SECRET_KEY)).value
    body = raw[len(b"k8s:enc:aesgcm:v1:key1:"):]
    # Decrypts with a plain AES-GCM using the storage key as associated data, as kube-apiserver does.
    assert AESGCM(KEY1).decrypt(body[:12], body[12:], SECRET_KEY.encode()) == SECRET


async def test_value_moved_under_another_key_does_not_decrypt() -> None:
    store, inner = await encrypting(config(gcm(("key1", KEY1))))
    await store.create(SECRET_KEY, SECRET)
    raw = (await inner.get(SECRET_KEY)).value
    await inner.create("/registry/core/secrets/default/stolen", raw)
    with pytest.raises(TransformError, match="stolen.*message authentication failed"):
        await store.get("/registry/core/secrets/default/stolen")


async def test_other_resources_pass_through_in_clear() -> None:
    store, inner = await encrypting(config(gcm(("key1", KEY1))))
    await store.create("/registry/core/configmaps/default/c", b'{"data":{"a":"b"}}')
    await store.create("/registry/core/secretsfoo/default/x", b"{}")  # a different resource
    assert (await inner.get("/registry/core/configmaps/default/c")).value == b'{"data":{"a":"b"}}'
    assert (await inner.get("/registry/core/secretsfoo/default/x")).value == b"{}"


async def test_rotation_new_key_first_reads_old_values_and_rewrites_with_new() -> None:
    old, inner = await encrypting(config(gcm(("key1", KEY1))))
    await old.create(SECRET_KEY, SECRET)
    rotated, _ = await encrypting(config(gcm(("key2", KEY2), ("key1", KEY1))), inner)
    kv = await rotated.get(SECRET_KEY)
    assert kv.value == SECRET
    await rotated.update(SECRET_KEY, SECRET, kv.mod_revision)
    assert (await inner.get(SECRET_KEY)).value.startswith(b"k8s:enc:aesgcm:v1:key2:")
    # Once every object is re-written, the old key can go.
    only_new, _ = await encrypting(config(gcm(("key2", KEY2))), inner)
    assert (await only_new.get(SECRET_KEY)).value == SECRET


async def test_identity_fallback_reads_clear_values_and_encrypts_them_on_next_write() -> None:
    inner = MemoryStore()
    await inner.start()
    await inner.create(SECRET_KEY, SECRET)
    store, _ = await encrypting(config(gcm(("key1", KEY1)), IDENTITY), inner)
    kv = await store.get(SECRET_KEY)
    assert kv.value == SECRET
    assert store.config.chain_for(SECRET_KEY).stale((await inner.get(SECRET_KEY)).value)
    await store.update(SECRET_KEY, SECRET, kv.mod_revision)
    assert (await inner.get(SECRET_KEY)).value.startswith(b"k8s:enc:aesgcm:v1:key1:")


async def test_identity_first_writes_clear_but_still_reads_encrypted_values() -> None:
    enc, inner = await encrypting(config(gcm(("key1", KEY1))))
    await enc.create(SECRET_KEY, SECRET)
    plain, _ = await encrypting(config(IDENTITY, gcm(("key1", KEY1))), inner)
    kv = await plain.get(SECRET_KEY)
    assert kv.value == SECRET
    await plain.update(SECRET_KEY, SECRET, kv.mod_revision)
    assert (await inner.get(SECRET_KEY)).value == SECRET


async def test_without_identity_clear_values_are_an_error_naming_the_key() -> None:
    inner = MemoryStore()
    await inner.start()
    await inner.create(SECRET_KEY, SECRET)
    store, _ = await encrypting(config(gcm(("key1", KEY1))), inner)
    with pytest.raises(TransformError) as e:
        await store.get(SECRET_KEY)
    assert SECRET_KEY in str(e.value) and "no matching prefix found" in str(e.value)


async def test_identity_refuses_to_hand_out_encrypted_bytes() -> None:
    enc, inner = await encrypting(config(gcm(("key1", KEY1))))
    await enc.create(SECRET_KEY, SECRET)
    plain, _ = await encrypting(config(IDENTITY), inner)
    with pytest.raises(TransformError, match="identity transformer tried to read encrypted data"):
        await plain.get(SECRET_KEY)


async def test_list_and_watch_leave_out_only_the_bad_object() -> None:
    store, inner = await encrypting(config(gcm(("key1", KEY1))))
    await inner.create("/registry/core/secrets/default/a-bad", b"k8s:enc:aesgcm:v1:key1:garbage-bytes")
    await store.create("/registry/core/secrets/default/b-good", SECRET)
    await inner.create("/registry/core/secrets/default/c-bad", b"k8s:enc:aesgcm:v1:gone:xxxxxxxxxxxxxxxxxx")
    await store.create("/registry/core/secrets/default/d-good", SECRET)
    full = await store.list("/registry/")
    assert [kv.key.rsplit("/", 1)[1] for kv in full.items] == ["b-good", "d-good"]
    # A page whose last key is left out reads on, so "continue after the last key" stays right.
    page = await store.list("/registry/", limit=3)
    assert [kv.key.rsplit("/", 1)[1] for kv in page.items] == ["b-good", "d-good"]
    assert not page.more

    events = []
    it = store.watch("/registry/", 0)
    async def collect() -> None:
        async for batch in it:
            events.extend(batch)
            if len(events) >= 2:
                return
    await asyncio.wait_for(collect(), 5)
    assert [(e.type, e.kv.value) for e in events] == [("PUT", SECRET), ("PUT", SECRET)]


async def test_watch_decrypts_values_and_previous_values() -> None:
    store, _ = await encrypting(config(gcm(("key1", KEY1))))
    kv = await store.create(SECRET_KEY, SECRET)
    await store.update(SECRET_KEY, SECRET + b" ", kv.mod_revision)
    await store.delete(SECRET_KEY)
    events = []
    async def collect() -> None:
        async for batch in store.watch("/registry/core/secrets/", 0):
            events.extend(batch)
            if len(events) >= 3:
                return
    await asyncio.wait_for(collect(), 5)
    assert [(e.type, e.kv.value, e.prev.value if e.prev else None) for e in events] == [
        ("PUT", SECRET, None), ("PUT", SECRET + b" ", SECRET), ("DELETE", SECRET + b" ", SECRET + b" ")]


async def test_conflict_carries_the_decrypted_current_value() -> None:
    store, _ = await encrypting(config(gcm(("key1", KEY1))))
    await store.create(SECRET_KEY, SECRET)
    with pytest.raises(RevisionConflict) as e:
        await store.update(SECRET_KEY, b"{}", 999)
    assert e.value.current.value == SECRET


@pytest.mark.parametrize("resource,prefix", [
    ("secrets", "/registry/core/secrets/"),
    ("deployments.apps", "/registry/apps/deployments/"),
    ("*.apps", "/registry/apps/"),
    ("*.", "/registry/core/"),
    ("*.*", "/registry/"),
], ids=["core", "grouped", "group-wildcard", "core-wildcard", "all"])
def test_resource_prefixes(resource: str, prefix: str) -> None:
    assert resource_prefix(resource) == prefix


def test_first_matching_entry_applies() -> None:
    doc = config(IDENTITY)
    doc["resources"].insert(0, {"resources": ["secrets"], "providers": [gcm(("k", KEY1))]})
    doc["resources"][1]["resources"] = ["*.*"]
    cfg = parse_config(doc)
    assert cfg.chain_for(SECRET_KEY).encrypts
    assert not cfg.chain_for("/registry/core/configmaps/default/c").encrypts


@pytest.mark.parametrize("doc,message", [
    ({"kind": "EncryptionConfig", "apiVersion": "v1"}, "want apiVersion"),
    (config(gcm(("k", b"short"))), "16, 24 or 32 bytes"),
    (config(cbc(("k", bytes(16)))), "must be 32 bytes"),
    (config({"aesgcm": {"keys": [{"name": "k", "secret": "not base64!"}]}}), "not valid base64"),
    (config(gcm(("k", KEY1), ("k", KEY2))), "must be unique"),
    (config({"secretbox": {"keys": []}}), "not supported by navarch"),
    (config({"kms": {}}), "not supported by navarch"),
    (config({"rot13": {}}), "unknown provider"),
    (config(), "at least one provider"),
], ids=["kind", "gcm-key-size", "cbc-key-size", "base64", "duplicate-name", "secretbox", "kms", "unknown", "empty"])
def test_invalid_configs_are_refused_with_the_reason(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(EncryptionConfigError, match=message):
        parse_config(doc)


def test_default_config_is_private_aesgcm_with_identity_fallback_and_kept(tmp_path: Path) -> None:
    path = ensure_default_config(tmp_path)
    assert path == tmp_path / "encryption-config.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = yaml.safe_load(path.read_text())
    providers = doc["resources"][0]["providers"]
    assert doc["resources"][0]["resources"] == ["secrets"]
    assert len(base64.b64decode(providers[0]["aesgcm"]["keys"][0]["secret"])) == 32
    assert providers[1] == {"identity": {}}
    before = path.read_bytes()
    assert ensure_default_config(tmp_path).read_bytes() == before  # never re-keyed
    assert load_config(path).chain_for(SECRET_KEY).encrypts


def test_unreadable_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EncryptionConfigError, match="cannot read encryption provider config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("resources: [")
    with pytest.raises(EncryptionConfigError, match="not valid YAML"):
        load_config(bad)
