"""Encryption at rest: the store file, its snapshot and etcd never hold a Secret's value in clear,
while kubectl reads it back as usual."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import etcd_cluster
from tests.clients import kubectl_path
from tests.navarch_process import API_ONLY, Kubectl, NavarchServer, free_port

pytestmark = pytest.mark.skipif(kubectl_path("1.33") is None, reason="kubectl 1.33 is not installed")


@pytest.fixture
def root() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="navarch-enc-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def start(data_dir: Path, *args: str, command: str = "server") -> tuple[NavarchServer, Kubectl]:
    extra = [*API_ONLY, "--disable-cloud-controller-manager"] if command == "server" else []
    srv = NavarchServer(data_dir, free_port(), [*extra, *args], command=command).start()
    return srv, Kubectl("1.33", srv.kubeconfig)


def store_bytes(data_dir: Path) -> bytes:
    """The SQLite database with its write-ahead log: recent commits live in the WAL until checkpointed."""
    db = data_dir / "db"
    return b"".join(p.read_bytes() for p in sorted(db.glob("state.db*")))


def create_secret(k: Kubectl, name: str, value: str) -> None:
    k("create", "secret", "generic", name, f"--from-literal=password={value}", "-n", "default")


def secret_value(k: Kubectl, name: str) -> str:
    obj = json.loads(k("get", "secret", name, "-n", "default", "-o", "json"))
    return base64.b64decode(obj["data"]["password"]).decode()


def test_server_encrypts_secrets_with_a_key_in_the_data_dir(root: Path) -> None:
    data = root / "data"
    value, marker = "s3cr3t-" + uuid.uuid4().hex, "visible-" + uuid.uuid4().hex
    srv, k = start(data)
    try:
        create_secret(k, "db-pass", value)
        k("create", "configmap", "plain", f"--from-literal=note={marker}", "-n", "default")
        out = k("get", "secret", "db-pass", "-n", "default", "-o", "yaml")
        assert base64.b64encode(value.encode()).decode() in out
        raw = store_bytes(data)
        assert marker.encode() in raw  # the file read is the one the server writes
        assert value.encode() not in raw
        assert base64.b64encode(value.encode()) not in raw
        assert b"k8s:enc:aesgcm:v1:key1:" in raw

        snap = root / "snap.db"
        res = subprocess.run([sys.executable, "-m", "navarch", "datastore", "snapshot", "save", str(snap),
                              "--data-dir", str(data)], capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 0, res.stdout + res.stderr
        snap_bytes = snap.read_bytes()
        assert marker.encode() in snap_bytes
        assert value.encode() not in snap_bytes and base64.b64encode(value.encode()) not in snap_bytes
    finally:
        srv.stop()
    config = data / "encryption-config.yaml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    key = config.read_bytes()
    # Same data dir, same key: the cluster resumes with its secrets readable.
    srv, k = start(data)
    try:
        assert secret_value(k, "db-pass") == value
        assert config.read_bytes() == key
    finally:
        srv.stop()


def test_provider_config_flag_rotation_and_clear_secrets_from_before(root: Path) -> None:
    data = root / "data"
    old_value, new_value = "before-" + uuid.uuid4().hex, "after-" + uuid.uuid4().hex
    cbc_key = base64.b64encode(bytes(range(32))).decode()
    gcm_key = base64.b64encode(bytes(range(100, 132))).decode()
    config = root / "enc.yaml"

    def write(*providers: str) -> None:
        config.write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
                          "- resources: [secrets]\n  providers:\n" + "".join(f"  - {p}\n" for p in providers))

    identity = "identity: {}"
    cbc = f"aescbc: {{keys: [{{name: old, secret: {cbc_key}}}]}}"
    gcm = f"aesgcm: {{keys: [{{name: new, secret: {gcm_key}}}]}}"

    write(identity)  # encryption off: the secret goes to the store in clear
    srv, k = start(data, "--encryption-provider-config", str(config))
    try:
        create_secret(k, "legacy", old_value)
    finally:
        srv.stop()
    assert base64.b64encode(old_value.encode()) in store_bytes(data)

    write(cbc, identity)  # switched on: the old secret still reads, a new one is sealed with aescbc
    srv, k = start(data, "--encryption-provider-config", str(config))
    try:
        assert secret_value(k, "legacy") == old_value
        create_secret(k, "fresh", new_value)
        assert b"k8s:enc:aescbc:v1:old:" in store_bytes(data)
    finally:
        srv.stop()

    write(gcm, cbc)  # rotated: both read; a re-write moves a secret to the new key
    srv, k = start(data, "--encryption-provider-config", str(config))
    try:
        assert secret_value(k, "fresh") == new_value
        k("label", "secret", "fresh", "-n", "default", "rotated=yes")
        assert b"k8s:enc:aesgcm:v1:new:" in store_bytes(data)
        # Without identity the clear secret written first is an error for that object only.
        res = k.run("get", "secret", "legacy", "-n", "default", check=False)
        assert res.returncode != 0
        assert 'unable to transform key "/registry/core/secrets/default/legacy": no matching prefix found' \
            in srv.log()
        assert secret_value(k, "fresh") == new_value
    finally:
        srv.stop()


def test_bad_provider_config_stops_the_server_with_a_clear_message(root: Path) -> None:
    config = root / "enc.yaml"
    config.write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
                      "- resources: [secrets]\n  providers:\n  - aesgcm: {keys: [{name: k, secret: c2hvcnQ=}]}\n")
    srv = NavarchServer(root / "data", free_port(), [*API_ONLY, "--disable-cloud-controller-manager",
                                                     "--encryption-provider-config", str(config)])
    with pytest.raises(RuntimeError, match="must be 16, 24 or 32 bytes"):
        srv.start(timeout=20)


@pytest.mark.slow
@pytest.mark.etcd
@pytest.mark.skipif(not etcd_cluster.etcd_available(), reason="etcd binary not installed")
def test_etcd_values_are_encrypted(root: Path) -> None:
    from navarch.storage.etcd import EtcdStore

    value = "etcd-" + uuid.uuid4().hex
    config = root / "enc.yaml"
    key = base64.b64encode(bytes(range(32))).decode()
    config.write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
                      f"- resources: [secrets]\n  providers:\n  - aesgcm: {{keys: [{{name: k1, secret: {key}}}]}}\n")
    with etcd_cluster.EtcdCluster(size=1) as cluster:
        srv, k = start(root / "data", "--etcd-servers", ",".join(cluster.endpoints),
                       "--encryption-provider-config", str(config), command="apiserver")
        try:
            create_secret(k, "in-etcd", value)
            assert secret_value(k, "in-etcd") == value
        finally:
            srv.stop()

        async def raw() -> bytes:
            store = EtcdStore(cluster.endpoints)
            await store.start()
            try:
                kv = await store.get("/registry/core/secrets/default/in-etcd")
                assert kv is not None
                return kv.value
            finally:
                await store.close()

        stored = asyncio.run(raw())
    assert stored.startswith(b"k8s:enc:aesgcm:v1:k1:")
    assert value.encode() not in stored and base64.b64encode(value.encode()) not in stored
