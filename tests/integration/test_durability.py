"""Durability and scale-out: SIGKILL during writes, snapshot/restore, two API servers on one etcd cluster.

These start their own servers (and etcd members), so they are marked slow and CI runs them on purpose.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.etcd_cluster import EtcdCluster, etcd_available
from tests.navarch_process import NO_SERVICE_ACCOUNTS, NavarchServer, free_port

pytestmark = pytest.mark.slow


def _client(kubeconfig: Path):
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return client.ApiClient(cfg)


def test_sigkill_loses_no_acknowledged_write(tmp_path: Path) -> None:
    from kubernetes import client

    srv = NavarchServer(tmp_path / "data", free_port()).start()
    acked: list[str] = []
    stop = threading.Event()
    try:
        api = client.CoreV1Api(_client(srv.kubeconfig))

        def writer() -> None:
            i = 0
            while not stop.is_set():
                name = f"cm-{i}"
                try:
                    api.create_namespaced_config_map("default", {"metadata": {"name": name}, "data": {"i": str(i)}},
                                                     _request_timeout=5)
                    acked.append(name)
                except Exception:
                    return
                i += 1

        threads = [threading.Thread(target=writer) for _ in range(1)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        srv.kill()
        stop.set()
        for t in threads:
            t.join(10)
        assert len(acked) > 20
        srv.start()
        api = client.CoreV1Api(_client(srv.kubeconfig))
        stored = {c.metadata.name for c in api.list_namespaced_config_map("default").items}
        missing = [n for n in acked if n not in stored]
        assert not missing, f"{len(missing)} acknowledged writes lost: {missing[:5]}"
    finally:
        stop.set()
        srv.stop()


def test_snapshot_wipe_restore_keeps_resource_versions(tmp_path: Path) -> None:
    from kubernetes import client

    data = tmp_path / "data"
    srv = NavarchServer(data, free_port()).start()
    snap = tmp_path / "snap.db"
    try:
        api = client.CoreV1Api(_client(srv.kubeconfig))
        for i in range(50):
            api.create_namespaced_config_map("default", {"metadata": {"name": f"s{i}"}, "data": {"i": str(i)}})
        before = {c.metadata.name: c.metadata.resource_version
                  for c in api.list_namespaced_config_map("default").items}
        # a consistent copy while the server runs
        subprocess.run([sys.executable, "-m", "navarch", "datastore", "snapshot", "save", str(snap),
                        "--data-dir", str(data)], check=True, timeout=60)
    finally:
        srv.stop()
    shutil.rmtree(data / "db")
    subprocess.run([sys.executable, "-m", "navarch", "datastore", "snapshot", "restore", str(snap),
                    "--data-dir", str(data)], check=True, timeout=60)
    refused = subprocess.run([sys.executable, "-m", "navarch", "datastore", "snapshot", "restore", str(snap),
                              "--data-dir", str(data)], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    srv.start()
    try:
        api = client.CoreV1Api(_client(srv.kubeconfig))
        after = {c.metadata.name: c.metadata.resource_version
                 for c in api.list_namespaced_config_map("default").items}
        assert after == before
    finally:
        srv.stop()


@pytest.mark.skipif(not etcd_available(), reason="etcd binary not installed (apt etcd-server)")
def test_two_apiservers_on_three_member_etcd(tmp_path: Path) -> None:
    from kubernetes import client, watch

    with EtcdCluster(3) as etcd:
        urls = ",".join(etcd.endpoints)
        # Both servers share one PKI (same data dir for certificates) so one kubeconfig fits both.
        a = NavarchServer(tmp_path / "a", free_port(), ["--etcd-servers", urls, NO_SERVICE_ACCOUNTS], command="apiserver").start()
        shutil.copytree(tmp_path / "a" / "tls", tmp_path / "b" / "tls")
        b = NavarchServer(tmp_path / "b", free_port(), ["--etcd-servers", urls, NO_SERVICE_ACCOUNTS], command="apiserver").start()
        try:
            api_a = client.CoreV1Api(_client(a.kubeconfig))
            api_b = client.CoreV1Api(_client(b.kubeconfig))
            rv = api_b.list_namespaced_config_map("default").metadata.resource_version
            events: list[tuple[str, str]] = []

            def watch_b() -> None:
                w = watch.Watch()
                for ev in w.stream(api_b.list_namespaced_config_map, "default", resource_version=rv,
                                   timeout_seconds=20):
                    events.append((ev["type"], ev["object"].metadata.name))
                    if len(events) >= 1:
                        w.stop()

            t = threading.Thread(target=watch_b)
            t.start()
            time.sleep(1)
            api_a.create_namespaced_config_map("default", {"metadata": {"name": "from-a"}, "data": {"x": "1"}})
            t.join(25)
            assert ("ADDED", "from-a") in events
            assert api_b.read_namespaced_config_map("from-a", "default").data == {"x": "1"}

            # One member down: every acknowledged write survives and stays readable.
            etcd.stop_member(2, kill=True)
            acked = []
            for i in range(30):
                api_a.create_namespaced_config_map("default", {"metadata": {"name": f"w{i}"}})
                acked.append(f"w{i}")
            etcd.restart_member(2)
            names = {c.metadata.name for c in api_b.list_namespaced_config_map("default").items}
            assert set(acked) <= names
        finally:
            a.stop()
            b.stop()
