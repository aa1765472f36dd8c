"""``navarch apiserver``: the API server alone, on SQLite or a real etcd cluster."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path

from navarch.cli.common import add_logging_flags, default_data_dir, run_async, setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("apiserver", help="run the Kubernetes API server",
                       description="Run the API server. Certificates and an admin kubeconfig are created "
                                   "under --data-dir on first start.")
    add_apiserver_flags(p)
    add_logging_flags(p)
    p.set_defaults(func=run)


def add_apiserver_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=default_data_dir(),
                   help="directory for the store, certificates and kubeconfig (default: %(default)s)")
    p.add_argument("--port", "--secure-port", dest="port", type=int, default=6443,
                   help="HTTPS port to serve on (default: %(default)s)")
    p.add_argument("--bind-address", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--datastore", default="",
                   help="store: sqlite:PATH or memory: (default: sqlite under --data-dir)")
    p.add_argument("--etcd-servers", default="",
                   help="comma-separated etcd v3 client URLs; uses etcd instead of SQLite")
    p.add_argument("--service-cluster-ip-range", default="10.96.0.0/12",
                   help="CIDR from which Service cluster IPs are allocated (default: %(default)s)")
    p.add_argument("--token-auth-file", type=Path, default=None,
                   help="static bearer tokens, one 'token,user,uid,\"group1,group2\"' per line")
    p.add_argument("--tls-san", action="append", default=[],
                   help="extra DNS name or IP for the serving certificate (repeatable)")
    p.add_argument("--write-kubeconfig", type=Path, default=None,
                   help="also write the admin kubeconfig to this path (mode 0600)")
    p.add_argument("--compaction-interval", type=float, default=60.0,
                   help="seconds between store compactions; 0 disables (default: %(default)s)")
    p.add_argument("--compaction-retention", type=float, default=300.0,
                   help="seconds of store history kept for watches and paginated lists (default: %(default)s)")
    p.add_argument("--kubelet-client-certificate", type=Path, default=None,
                   help="client certificate the API server presents to kubelets (default: one generated "
                        "in the data dir's PKI)")
    p.add_argument("--kubelet-client-key", type=Path, default=None,
                   help="key of --kubelet-client-certificate")
    p.add_argument("--kubelet-certificate-authority", type=Path, default=None,
                   help="CA bundle to verify kubelets' serving certificates with (default: not verified, "
                        "as upstream)")
    p.add_argument("--authorization-mode", default="Node,RBAC", type=_authorization_modes,
                   help="comma-separated authorizers, asked in order: Node (kubelets limited to their node's "
                        "objects), RBAC, AlwaysAllow, AlwaysDeny (default: %(default)s)")
    p.add_argument("--watch-cache-history", type=float, default=300.0,
                   help="seconds of changes the watch cache can replay to watchers (default: %(default)s)")
    add_service_account_flags(p)
    p.add_argument("--encryption-provider-config", type=Path, default=None,
                   help="EncryptionConfiguration file (apiserver.config.k8s.io/v1) naming how to encrypt "
                        "resources such as secrets at rest (aesgcm, aescbc, identity); navarch server "
                        "defaults to DIR/encryption-config.yaml, created with a random AES-GCM key")


def add_service_account_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--service-account-signing-key-file", type=Path, default=None,
                   help="PEM private key (RSA or ECDSA) that signs service-account tokens issued through "
                        "TokenRequest (default: DIR/tls/service-account.key, created on first start)")
    p.add_argument("--service-account-key-file", type=Path, action="append", default=[],
                   help="PEM file of public keys (or private keys, or certificates) that verify service-account "
                        "tokens (repeatable; default: the signing key)")
    p.add_argument("--service-account-issuer", action="append", default=[],
                   help="issuer ('iss') of service-account tokens; the first one signs, all are accepted "
                        "(repeatable; default: https://kubernetes.default.svc.cluster.local)")
    p.add_argument("--api-audiences", default="",
                   help="comma-separated audiences the API accepts in tokens, and gives tokens that ask for "
                        "none (default: the first --service-account-issuer)")
    p.add_argument("--service-account-max-token-expiration", type=int, default=0,
                   help="seconds: the longest validity a TokenRequest may get; longer requests are shortened "
                        "(default: no limit)")
    p.add_argument("--service-account-extend-token-expiration", default=True,
                   action=argparse.BooleanOptionalAction,
                   help="give the tokens the kubelet mounts into pods (3607 s asked) a year of validity, "
                        "warning after the hour, as upstream (default: on)")
    p.add_argument("--disable-admission-plugins", default="",
                   help="comma-separated admission plugins to switch off, e.g. ServiceAccount for an API "
                        "server without controllers (no 'default' service accounts)")


def service_account_config(args: argparse.Namespace) -> dict:
    """The APIServerConfig fields of the service-account flags (the data dir's signing key unless
    one is given)."""
    from navarch.server.pki import ensure_service_account_key

    signing = args.service_account_signing_key_file or ensure_service_account_key(args.data_dir)
    return {
        "service_account_signing_key_file": signing,
        "service_account_key_files": tuple(args.service_account_key_file),
        "service_account_issuers": tuple(args.service_account_issuer)
        or ("https://kubernetes.default.svc.cluster.local",),
        "api_audiences": tuple(a.strip() for a in args.api_audiences.split(",") if a.strip()),
        "service_account_max_token_expiration": args.service_account_max_token_expiration,
        "service_account_extend_token_expiration": args.service_account_extend_token_expiration,
        "disable_admission_plugins": tuple(a.strip() for a in args.disable_admission_plugins.split(",")
                                           if a.strip()),
    }


def store_spec(args: argparse.Namespace) -> str:
    if args.etcd_servers:
        return "etcd:" + args.etcd_servers
    if args.datastore:
        return args.datastore
    return "sqlite:" + str(args.data_dir / "db" / "state.db")


def open_store_from_args(args: argparse.Namespace):
    """The store, with the compaction policy of the flags (SQLite compacts itself; etcd is compacted
    by the API server, as upstream does), wrapped in encryption at rest when configured."""
    return _with_encryption(_open_compacted_store(args), args)


def _open_compacted_store(args: argparse.Namespace):
    from navarch.storage.factory import open_store

    spec = store_spec(args)
    interval = args.compaction_interval or None
    if spec.startswith("sqlite:"):
        from navarch.storage.sqlite import SqliteStore

        return SqliteStore(spec[len("sqlite:"):], compact_interval=interval,
                           compact_retention=args.compaction_retention)
    store = open_store(spec)
    if spec.startswith("etcd:") and interval:
        store = _CompactedStore(store, interval, args.compaction_retention)
    return store


def encryption_config_path(args: argparse.Namespace) -> Path | None:
    """The flag's file; else, for ``navarch server`` only, ``DIR/encryption-config.yaml`` (created on
    first start). ``navarch apiserver`` encrypts only when told, as kube-apiserver: API servers sharing
    one etcd must share one key, which a per-data-dir default cannot give them."""
    if args.encryption_provider_config:
        return args.encryption_provider_config
    if getattr(args, "default_encryption_config", False):
        from navarch.storage.encryption import ensure_default_config

        return ensure_default_config(args.data_dir)
    return None


def _with_encryption(store, args: argparse.Namespace):
    path = encryption_config_path(args)
    if path is None:
        return store
    from navarch.storage.encryption import EncryptingStore, load_config

    logging.getLogger("navarch.server").info("encrypting at rest as configured in %s", path)
    return EncryptingStore(store, load_config(path))


class _CompactedStore:
    """Runs a Compactor alongside a store that does not compact itself."""

    def __init__(self, store, interval: float, retention: float) -> None:
        from navarch.storage.compactor import Compactor

        self._store = store
        self._compactor = Compactor(store, interval=interval, retention=retention)

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    async def start(self) -> None:
        await self._store.start()
        self._compactor.start()

    async def close(self) -> None:
        await self._compactor.stop()
        await self._store.close()

    def watch(self, prefix: str, after_revision: int):
        return self._store.watch(prefix, after_revision)


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    return run_async(serve(args))


async def serve(args: argparse.Namespace, on_ready=None) -> int:
    """Run the API server until SIGTERM/SIGINT. ``on_ready(data_dir, pki, server_url)`` may start more
    components once the API answers; it returns an async ``stop()`` called before the API stops."""
    from navarch.apiserver.app import APIServer, APIServerConfig
    from navarch.server.pki import ensure_pki, write_kubeconfig
    log = logging.getLogger("navarch.server")
    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "db").mkdir(exist_ok=True)
    # The address components and pods dial (the kubeconfigs' server) must be in the serving certificate.
    bound = [args.bind_address] if args.bind_address not in ("0.0.0.0", "::", "") else []
    pki = ensure_pki(data_dir, extra_sans=[*args.tls_san, *bound],
                     service_ip=_first_ip(args.service_cluster_ip_range))
    host = args.bind_address if args.bind_address not in ("0.0.0.0", "::") else "127.0.0.1"
    server_url = f"https://{host}:{args.port}"
    kubeconfig = data_dir / "kubeconfig"
    write_kubeconfig(kubeconfig, server_url, pki.ca.cert, pki.admin)
    if args.write_kubeconfig:
        write_kubeconfig(args.write_kubeconfig, server_url, pki.ca.cert, pki.admin)
    config = APIServerConfig(bind_address=args.bind_address, port=args.port, tls_cert=pki.serving.cert,
                             tls_key=pki.serving.key, client_ca=pki.ca.cert,
                             token_auth_file=args.token_auth_file,
                             service_cidr=args.service_cluster_ip_range,
                             watch_cache_history=args.watch_cache_history,
                             authorization_mode=args.authorization_mode,
                             kubelet_client_cert=args.kubelet_client_certificate or pki.kubelet_client.cert,
                             kubelet_client_key=(args.kubelet_client_key if args.kubelet_client_certificate
                                                 else pki.kubelet_client.key),
                             kubelet_certificate_authority=args.kubelet_certificate_authority,
                             **service_account_config(args))
    from navarch.storage.encryption import EncryptionConfigError

    try:
        store = open_store_from_args(args)
    except EncryptionConfigError as e:
        log.error("%s", e)
        print(f"navarch: {e}", flush=True)
        return 1
    server = APIServer(config, store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    from navarch.lifecycle import gctuning

    gctuning.freeze_startup_heap()
    stop_extra = await on_ready(data_dir, pki, server_url) if on_ready else None
    log.info("cluster ready: export KUBECONFIG=%s  (then: kubectl get ns)", kubeconfig)
    print(f"navarch: API server ready at {server_url}\nnavarch: kubeconfig: {kubeconfig}\n"
          f"navarch: try: KUBECONFIG={kubeconfig} kubectl get namespaces", flush=True)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        if stop_extra is not None:
            await stop_extra()
        await server.stop()
    return 0


def _authorization_modes(spec: str) -> str:
    """Checked while parsing flags, so a typo is a usage error naming the flag, not a traceback."""
    from navarch.apiserver.authz.authorizer import parse_modes

    try:
        parse_modes(spec)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return spec


def _first_ip(cidr: str) -> str:
    import ipaddress

    return str(ipaddress.ip_network(cidr).network_address + 1)


del os
