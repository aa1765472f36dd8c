"""Where the cluster is and who we are: kubeconfig files and the in-cluster service account.

Follows kubectl's rules so one file serves kubectl and navarch components alike: ``$KUBECONFIG`` may
list several files (the first to define a name wins, as clientcmd merges), file references are
relative to the file that holds them, and ``*-data`` fields win over file paths.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(Exception):
    """The kubeconfig cannot produce a usable client configuration."""


@dataclass(frozen=True)
class ClientConfig:
    """Everything a ``Client`` needs to connect; credentials kept in memory, never re-written to disk."""

    server: str
    ca_data: bytes | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    token: str | None = None
    # Re-read periodically: projected service-account tokens rotate under a running process.
    token_file: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    namespace: str = "default"

    def __repr__(self) -> str:  # keep secrets out of logs
        return (f"ClientConfig(server={self.server!r}, client_cert={self.cert_data is not None}, "
                f"token={'yes' if self.token or self.token_file else 'no'}, "
                f"insecure={self.insecure_skip_tls_verify}, namespace={self.namespace!r})")


def load_kubeconfig(path: str | os.PathLike[str] | None = None, context: str | None = None) -> ClientConfig:
    """Resolve ``context`` (default: current-context) from ``path``, ``$KUBECONFIG`` or ~/.kube/config."""
    paths = _paths(path)
    merged = _merge([(p, _read(p)) for p in paths])
    name = context or merged["current-context"]
    if not name:
        raise ConfigError(f"no context given and no current-context in {_show(paths)}")
    ctx = merged["contexts"].get(name)
    if ctx is None:
        raise ConfigError(f'context "{name}" not found in {_show(paths)}')
    cluster_entry = merged["clusters"].get(ctx.get("cluster", ""))
    if cluster_entry is None:
        raise ConfigError(f'cluster "{ctx.get("cluster")}" of context "{name}" not found')
    cluster, cluster_dir = cluster_entry
    user, user_dir = merged["users"].get(ctx.get("user", ""), ({}, Path(".")))
    if not cluster.get("server"):
        raise ConfigError(f'cluster "{ctx.get("cluster")}" has no server')
    for unsupported in ("exec", "auth-provider"):
        if user.get(unsupported):
            raise ConfigError(f"kubeconfig user {unsupported!r} credentials are not supported by navarch")
    token = user.get("token") or None
    token_file = _resolve(user_dir, user.get("tokenFile")) if not token and user.get("tokenFile") else None
    if user.get("username") or user.get("password"):
        raise ConfigError("kubeconfig basic-auth credentials are not supported by navarch")
    return ClientConfig(
        server=str(cluster["server"]).rstrip("/"),
        ca_data=_data(cluster, "certificate-authority", cluster_dir),
        cert_data=_data(user, "client-certificate", user_dir),
        key_data=_data(user, "client-key", user_dir),
        token=token,
        token_file=token_file,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name") or None,
        namespace=ctx.get("namespace") or "default",
    )


def in_cluster_config(sa_dir: Path = SERVICE_ACCOUNT_DIR, env: dict[str, str] | None = None) -> ClientConfig:
    """The pod's own identity: the API service from the environment, token and CA from the mount."""
    env = dict(os.environ) if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set")
    token_path = sa_dir / "token"
    if not token_path.exists():
        raise ConfigError(f"not running in a cluster: {token_path} does not exist")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    ns_path = sa_dir / "namespace"
    ca_path = sa_dir / "ca.crt"
    return ClientConfig(
        server=f"https://{host}:{port}",
        ca_data=ca_path.read_bytes() if ca_path.exists() else None,
        token_file=str(token_path),
        namespace=ns_path.read_text().strip() if ns_path.exists() else "default",
    )


def _paths(path: str | os.PathLike[str] | None) -> list[Path]:
    if path is not None:
        return [Path(path).expanduser()]
    env = os.environ.get("KUBECONFIG", "")
    listed = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    if listed:
        # clientcmd skips missing entries of $KUBECONFIG but needs at least one file.
        existing = [p for p in listed if p.exists()]
        if not existing:
            raise ConfigError(f"none of the files in $KUBECONFIG exist: {env}")
        return existing
    return [Path("~/.kube/config").expanduser()]


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"kubeconfig {path} does not exist") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"kubeconfig {path} is not valid YAML: {e}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"kubeconfig {path} is not a mapping")
    return doc


def _merge(docs: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """Named entries keep the first definition; each remembers its file's directory for relative paths."""
    out: dict[str, Any] = {"current-context": "", "clusters": {}, "users": {}, "contexts": {}}
    for path, doc in docs:
        base = path.resolve().parent
        if not out["current-context"]:
            out["current-context"] = doc.get("current-context") or ""
        for section, inner in (("clusters", "cluster"), ("users", "user")):
            for entry in doc.get(section) or []:
                out[section].setdefault(entry.get("name", ""), (entry.get(inner) or {}, base))
        for entry in doc.get("contexts") or []:
            out["contexts"].setdefault(entry.get("name", ""), entry.get("context") or {})
    return out


def _data(section: dict[str, Any], key: str, base: Path) -> bytes | None:
    inline = section.get(f"{key}-data")
    if inline:
        try:
            return base64.b64decode(inline, validate=True)
        except ValueError:
            raise ConfigError(f"{key}-data is not valid base64") from None
    ref = section.get(key)
    if ref:
        try:
            return Path(_resolve(base, ref)).read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read {key} {ref}: {e}") from None
    return None


def _resolve(base: Path, ref: str) -> str:
    p = Path(ref).expanduser()
    return str(p if p.is_absolute() else base / p)


def _show(paths: list[Path]) -> str:
    return os.pathsep.join(str(p) for p in paths)
