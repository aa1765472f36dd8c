"""Encryption at rest: upstream's ``EncryptionConfiguration`` applied as a wrapper around any Store.

The API server's ``--encryption-provider-config`` names, per resource, an ordered list of providers.
As upstream: the first provider encrypts every write, and any provider may decrypt a read, so a key
is rotated by adding the new key first, re-writing the objects, then dropping the old key. Each
encrypted value starts with its provider's prefix (``k8s:enc:aesgcm:v1:<key name>:``) so a read
knows which key to use without trying them all; values in clear carry no prefix and are read by
the ``identity`` provider when the configuration lists it (this is how objects written before
encryption was switched on stay readable until their next write encrypts them).

Byte layouts match upstream's ``k8s.io/apiserver/pkg/storage/value/encrypt/aes`` so a store can move
between navarch and kube-apiserver with the same configuration:
- aesgcm: prefix, 12-byte random nonce, then AES-GCM ciphertext and tag, authenticated with the
  storage key (so a value copied under another key fails to decrypt);
- aescbc: prefix, 16-byte random IV, then AES-CBC ciphertext of the PKCS#7-padded value.

Only writes and reads through the wrapper are transformed: the watch cache and everything above it
see plain JSON, while the SQLite file, its snapshots and etcd only ever hold ciphertext.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import os
import secrets
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from navarch.storage.interface import (
    Event,
    KeyValue,
    ListResult,
    RevisionConflict,
    Store,
    StoreError,
)

log = logging.getLogger("navarch.storage.encryption")

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
# Every encrypted value starts with this; the identity provider refuses to hand such bytes out as
# plain data (upstream's "identity transformer tried to read encrypted data").
ENCRYPTED_MARK = b"k8s:enc:"
GCM_NONCE_SIZE = 12
CBC_BLOCK_SIZE = 16
DEFAULT_CONFIG_NAME = "encryption-config.yaml"
Batch = list[Event]  # named outside EncryptingStore, whose ``list`` method shadows the builtin there


class EncryptionConfigError(ValueError):
    """The configuration file is missing, malformed or names something navarch cannot do."""


class TransformError(StoreError):
    """A stored value could not be decrypted (wrong or missing key, corrupt bytes).

    Raised for that one object only; the message names its key, as upstream's
    ``unable to transform key "/registry/...": ...`` internal error does.
    """

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f'unable to transform key "{key}": {reason}')
        self.key = key
        self.reason = reason


class Transformer(Protocol):
    """One provider key. ``prefix`` marks values it wrote; both methods are pure and thread-safe.

    ``open`` receives the bytes after the prefix and raises ValueError when they do not decrypt.
    ``context`` is the storage key, bound into the ciphertext where the mode allows it.
    """

    prefix: bytes

    def seal(self, data: bytes, context: bytes) -> bytes: ...

    def open(self, data: bytes, context: bytes) -> bytes: ...


class AESGCMTransformer:
    def __init__(self, name: str, key: bytes) -> None:
        if len(key) not in (16, 24, 32):
            raise EncryptionConfigError(f"aesgcm key {name!r} must be 16, 24 or 32 bytes, got {len(key)}")
        self.prefix = f"k8s:enc:aesgcm:v1:{name}:".encode()
        self._aead = AESGCM(key)

    def seal(self, data: bytes, context: bytes) -> bytes:
        # Random 96-bit nonces are safe for about 2**32 writes per key; upstream asks operators to
        # rotate keys well before that, and so do we.
        nonce = os.urandom(GCM_NONCE_SIZE)
        return self.prefix + nonce + self._aead.encrypt(nonce, data, context)

    def open(self, data: bytes, context: bytes) -> bytes:
        if len(data) < GCM_NONCE_SIZE:
            raise ValueError("the stored data was shorter than the required size")
        try:
            return self._aead.decrypt(data[:GCM_NONCE_SIZE], data[GCM_NONCE_SIZE:], context)
        except InvalidTag:
            raise ValueError("cipher: message authentication failed") from None


class AESCBCTransformer:
    def __init__(self, name: str, key: bytes) -> None:
        if len(key) != 32:
            raise EncryptionConfigError(f"aescbc key {name!r} must be 32 bytes, got {len(key)}")
        self.prefix = f"k8s:enc:aescbc:v1:{name}:".encode()
        self._key = key

    def seal(self, data: bytes, context: bytes) -> bytes:
        iv = os.urandom(CBC_BLOCK_SIZE)
        padder = padding.PKCS7(CBC_BLOCK_SIZE * 8).padder()
        padded = padder.update(data) + padder.finalize()
        enc = Cipher(algorithms.AES(self._key), modes.CBC(iv)).encryptor()
        return self.prefix + iv + enc.update(padded) + enc.finalize()

    def open(self, data: bytes, context: bytes) -> bytes:
        if len(data) < CBC_BLOCK_SIZE:
            raise ValueError("the stored data was shorter than the required size")
        body = data[CBC_BLOCK_SIZE:]
        if not body or len(body) % CBC_BLOCK_SIZE:
            raise ValueError("the stored data is not a multiple of the block size")
        dec = Cipher(algorithms.AES(self._key), modes.CBC(data[:CBC_BLOCK_SIZE])).decryptor()
        padded = dec.update(body) + dec.finalize()
        unpadder = padding.PKCS7(CBC_BLOCK_SIZE * 8).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise ValueError("invalid padding on input") from None


class IdentityTransformer:
    prefix = b""

    def seal(self, data: bytes, context: bytes) -> bytes:
        return data

    def open(self, data: bytes, context: bytes) -> bytes:
        if data.startswith(ENCRYPTED_MARK):
            raise ValueError("identity transformer tried to read encrypted data")
        return data


@dataclasses.dataclass(frozen=True)
class ProviderChain:
    """The providers of one resource entry, in configuration order: ``transformers[0]`` writes."""

    transformers: tuple[Transformer, ...]

    @property
    def encrypts(self) -> bool:
        return bool(self.transformers[0].prefix)

    def seal(self, data: bytes, key: str) -> bytes:
        return self.transformers[0].seal(data, key.encode())

    def open(self, data: bytes, key: str) -> bytes:
        """Decrypt with the provider whose prefix the value carries; raises TransformError."""
        errors: list[str] = []
        for t in self.transformers:
            if not data.startswith(t.prefix):
                continue
            try:
                return t.open(data[len(t.prefix):], key.encode())
            except ValueError as e:
                if t.prefix:
                    raise TransformError(key, str(e)) from None
                # identity matched only because its prefix is empty: give the others their turn.
                errors.append(str(e))
        raise TransformError(key, errors[0] if errors else "no matching prefix found")

    def stale(self, data: bytes) -> bool:
        """True when the value was not written by the first provider (its next write rotates it)."""
        first = self.transformers[0].prefix
        return not data.startswith(first) if first else data.startswith(ENCRYPTED_MARK)


class EncryptionConfig:
    """Resource entries in file order, each a key prefix and its providers; the first entry that
    names a key's resource applies, as upstream resolves overlapping entries."""

    def __init__(self, entries: Sequence[tuple[str, ProviderChain]]) -> None:
        self.entries = tuple(entries)
        # Resource prefix (``/registry/<group>/<plural>/``) -> chain; filled lazily: the set of
        # resources is small and each is looked up on every write and watch event.
        self._by_resource: dict[str, ProviderChain | None] = {}

    def chain_for(self, key: str) -> ProviderChain | None:
        cut = key.find("/", key.find("/", 10) + 1)
        resource = key[: cut + 1] if cut > 0 else key
        try:
            return self._by_resource[resource]
        except KeyError:
            pass
        chain = next((c for prefix, c in self.entries if resource.startswith(prefix)), None)
        self._by_resource[resource] = chain
        return chain


def resource_prefix(resource: str) -> str:
    """Upstream's resource names to storage key prefixes: ``secrets`` (core), ``deployments.apps``,
    ``*.apps`` (a whole group), ``*.`` (the core group) and ``*.*`` (everything)."""
    name, _, group = resource.partition(".")
    if resource == "*.*":
        return "/registry/"
    if name == "*":
        return f"/registry/{group or 'core'}/"
    if not name or "*" in resource:
        raise EncryptionConfigError(f"resource {resource!r} is not a valid resource name or wildcard")
    return f"/registry/{group or 'core'}/{name}/"


def parse_config(doc: Any, source: str = "<config>") -> EncryptionConfig:
    """Build the configuration from the parsed YAML; raises EncryptionConfigError naming the problem."""
    if not isinstance(doc, dict):
        raise EncryptionConfigError(f"{source}: not an {KIND} document")
    if doc.get("kind") != KIND or doc.get("apiVersion") != API_VERSION:
        raise EncryptionConfigError(f"{source}: want apiVersion {API_VERSION} and kind {KIND}, "
                                    f"got {doc.get('apiVersion')!r} {doc.get('kind')!r}")
    entries: list[tuple[str, ProviderChain]] = []
    for i, item in enumerate(doc.get("resources") or []):
        where = f"{source}: resources[{i}]"
        resources = (item or {}).get("resources") or []
        providers = (item or {}).get("providers") or []
        if not resources:
            raise EncryptionConfigError(f"{where}.resources: must name at least one resource")
        if not providers:
            raise EncryptionConfigError(f"{where}.providers: must list at least one provider")
        chain = ProviderChain(tuple(t for j, p in enumerate(providers)
                                    for t in _provider(p, f"{where}.providers[{j}]")))
        entries.extend((resource_prefix(str(r)), chain) for r in resources)
    return EncryptionConfig(entries)


def _provider(p: Any, where: str) -> list[Transformer]:
    if not isinstance(p, dict) or len(p) != 1:
        raise EncryptionConfigError(f"{where}: exactly one provider type per entry")
    kind, spec = next(iter(p.items()))
    if kind == "identity":
        return [IdentityTransformer()]
    if kind in ("aesgcm", "aescbc"):
        keys = (spec or {}).get("keys") or []
        if not keys:
            raise EncryptionConfigError(f"{where}.{kind}.keys: must list at least one key")
        out: list[Transformer] = []
        seen: set[str] = set()
        for k, key in enumerate(keys):
            name = str((key or {}).get("name") or "")
            if not name or ":" in name or name in seen:
                raise EncryptionConfigError(f"{where}.{kind}.keys[{k}].name: must be unique, non-empty and "
                                            f"free of ':'")
            seen.add(name)
            try:
                raw = base64.b64decode(str((key or {}).get("secret") or ""), validate=True)
            except (binascii.Error, ValueError):
                raise EncryptionConfigError(f"{where}.{kind}.keys[{k}].secret: not valid base64") from None
            out.append(AESGCMTransformer(name, raw) if kind == "aesgcm" else AESCBCTransformer(name, raw))
        return out
    if kind in ("secretbox", "kms"):
        raise EncryptionConfigError(f"{where}: the {kind} provider is not supported by navarch "
                                    f"(use aesgcm, aescbc or identity)")
    raise EncryptionConfigError(f"{where}: unknown provider {kind!r}")


def load_config(path: Path) -> EncryptionConfig:
    try:
        text = path.read_text()
    except OSError as e:
        raise EncryptionConfigError(f"cannot read encryption provider config {path}: {e.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise EncryptionConfigError(f"{path}: not valid YAML: {e}") from None
    return parse_config(doc, str(path))


def default_config_text(key: bytes) -> str:
    """Secrets sealed with AES-GCM under ``key``; identity last, so a store written before
    encryption was enabled stays readable and is encrypted object by object as it is written."""
    doc = {"apiVersion": API_VERSION, "kind": KIND, "resources": [{
        "resources": ["secrets"],
        "providers": [{"aesgcm": {"keys": [{"name": "key1", "secret": base64.b64encode(key).decode()}]}},
                      {"identity": {}}]}]}
    return yaml.safe_dump(doc, sort_keys=False)


def ensure_default_config(data_dir: Path) -> Path:
    """``DIR/encryption-config.yaml``, created (mode 0600, a fresh random 32-byte key) if absent.

    An existing file is kept as it is: it holds the only copy of the key the store was written with.
    """
    path = data_dir / DEFAULT_CONFIG_NAME
    if path.exists():
        return path
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(default_config_text(secrets.token_bytes(32)))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    log.info("created encryption provider config %s (aesgcm key for secrets)", path)
    return path


class EncryptingStore:
    """A Store whose values under the configured resources are encrypted on the way down and
    decrypted on the way up. Everything else passes through untouched.

    A value that does not decrypt is reported for that key only: ``get`` raises TransformError;
    ``list`` and ``watch`` log it and leave the object out, so one bad object (a key removed from
    the configuration too early, a tampered row) never stops the API server or the watch cache.
    """

    def __init__(self, store: Store, config: EncryptionConfig) -> None:
        self._store = store
        self.config = config

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def start(self) -> None:
        await self._store.start()

    async def close(self) -> None:
        await self._store.close()

    async def current_revision(self) -> int:
        return await self._store.current_revision()

    async def compacted_revision(self) -> int:
        return await self._store.compacted_revision()

    async def compact(self, revision: int) -> None:
        await self._store.compact(revision)

    async def count(self, prefix: str) -> int:
        return await self._store.count(prefix)

    # ---- writes ------------------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> KeyValue:
        chain = self.config.chain_for(key)
        if chain is None:
            return await self._store.create(key, value)
        kv = await self._store.create(key, chain.seal(value, key))
        return dataclasses.replace(kv, value=value)

    async def update(self, key: str, value: bytes, expected_revision: int) -> KeyValue:
        chain = self.config.chain_for(key)
        if chain is None:
            return await self._store.update(key, value, expected_revision)
        try:
            kv = await self._store.update(key, chain.seal(value, key), expected_revision)
        except RevisionConflict as e:
            raise RevisionConflict(self._open_or_none(e.current)) from None
        return dataclasses.replace(kv, value=value)

    async def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        try:
            kv = await self._store.delete(key, expected_revision)
        except RevisionConflict as e:
            raise RevisionConflict(self._open_or_none(e.current)) from None
        # The object is gone whatever its last value was: a value that no longer decrypts must not
        # turn a successful delete into an error, so it is reported as an empty object.
        return self._open_or_none(kv) or dataclasses.replace(kv, value=b"{}")

    # ---- reads -------------------------------------------------------------------------------

    async def get(self, key: str, revision: int | None = None) -> KeyValue | None:
        kv = await self._store.get(key, revision)
        return None if kv is None else self._open(kv)

    async def list(self, prefix: str, *, revision: int | None = None, limit: int | None = None,
                   start_after: str | None = None) -> ListResult:
        res = await self._store.list(prefix, revision=revision, limit=limit, start_after=start_after)
        items: list[KeyValue] = []
        changed = False
        while True:
            kept_last = False
            for kv in res.items:
                out = self._open_or_none(kv)
                changed = changed or out is not kv
                kept_last = out is not None
                if out is not None:
                    items.append(out)
            # Callers continue a paginated list after the last key returned: when that key was left
            # out, read on (at the same revision) until a page ends on a key that is returned.
            if kept_last or not res.more or not res.items:
                break
            res = await self._store.list(prefix, revision=res.revision, limit=1, start_after=res.items[-1].key)
        return res if not changed else ListResult(items, res.revision, res.more)

    def watch(self, prefix: str, after_revision: int) -> AsyncIterator[Batch]:
        return self._watch(prefix, after_revision)

    async def _watch(self, prefix: str, after_revision: int) -> AsyncIterator[Batch]:
        batch: Batch
        async for batch in self._store.watch(prefix, after_revision):
            out: Batch | None = None
            for i, ev in enumerate(batch):
                opened = self._open_event(ev)
                if opened is ev and out is None:
                    continue
                if out is None:
                    out = batch[:i]
                if opened is not None:
                    out.append(opened)
            yield batch if out is None else out

    # ---- helpers -----------------------------------------------------------------------------

    def _open(self, kv: KeyValue) -> KeyValue:
        chain = self.config.chain_for(kv.key)
        if chain is None:
            return kv
        return dataclasses.replace(kv, value=chain.open(kv.value, kv.key))

    def _open_or_none(self, kv: KeyValue | None) -> KeyValue | None:
        if kv is None:
            return None
        try:
            return self._open(kv)
        except TransformError as e:
            log.error("%s; the object is left out until it is re-created or the key is restored", e)
            return None

    def _open_event(self, ev: Event) -> Event | None:
        if self.config.chain_for(ev.kv.key) is None:
            return ev
        kv = self._open_or_none(ev.kv)
        if kv is None:
            return None
        prev = self._open_or_none(ev.prev) if ev.prev is not None else None
        return Event(ev.type, kv, prev)
