import base64
from pathlib import Path

import pytest
import yaml

from navarch.client.kubeconfig import ConfigError, in_cluster_config, load_kubeconfig


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write(path: Path, doc: dict) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


def config_doc(server: str = "https://a:6443", current: str = "a", **user: str) -> dict:
    return {
        "clusters": [{"name": "a", "cluster": {"server": server, "certificate-authority-data": b64(b"CA")}}],
        "users": [{"name": "u", "user": user or {"client-certificate-data": b64(b"CERT"),
                                                 "client-key-data": b64(b"KEY")}}],
        "contexts": [{"name": "a", "context": {"cluster": "a", "user": "u", "namespace": "team"}},
                     {"name": "b", "context": {"cluster": "a", "user": "u"}}],
        "current-context": current,
    }


def test_current_context_with_embedded_credentials(tmp_path):
    cfg = load_kubeconfig(write(tmp_path / "k", config_doc()))
    assert cfg.server == "https://a:6443"
    assert (cfg.ca_data, cfg.cert_data, cfg.key_data) == (b"CA", b"CERT", b"KEY")
    assert cfg.namespace == "team"
    assert "KEY" not in repr(cfg)


def test_named_context_and_token(tmp_path):
    cfg = load_kubeconfig(write(tmp_path / "k", config_doc(token="secret")), context="b")
    assert cfg.token == "secret" and cfg.namespace == "default"


def test_file_references_are_relative_to_the_kubeconfig(tmp_path):
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.crt").write_bytes(b"FILECA")
    (tmp_path / "tok").write_text("t0k\n")
    doc = config_doc(tokenFile="tok")
    doc["clusters"][0]["cluster"] = {"server": "https://a:6443", "certificate-authority": "certs/ca.crt",
                                     "insecure-skip-tls-verify": True, "tls-server-name": "api"}
    cfg = load_kubeconfig(write(tmp_path / "k", doc))
    assert cfg.ca_data == b"FILECA"
    assert cfg.token_file == str(tmp_path / "tok")
    assert cfg.insecure_skip_tls_verify and cfg.tls_server_name == "api"


def test_kubeconfig_env_merges_first_wins(tmp_path, monkeypatch):
    first = write(tmp_path / "one", {"current-context": "b", "contexts": [], "clusters": [], "users": []})
    second = write(tmp_path / "two", config_doc(server="https://second:1"))
    monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'missing'}:{second}")
    cfg = load_kubeconfig()
    assert cfg.server == "https://second:1" and cfg.namespace == "default"  # context "b" from the first file


@pytest.mark.parametrize("doc,context,message", [
    (config_doc(current=""), None, "no context"),
    (config_doc(), "zzz", 'context "zzz" not found'),
    (config_doc(exec="x"), None, "not supported"),
    (config_doc(username="u", password="p"), None, "basic-auth"),
], ids=["no-current", "unknown-context", "exec-plugin", "basic-auth"])
def test_errors(tmp_path, doc, context, message):
    with pytest.raises(ConfigError, match=message):
        load_kubeconfig(write(tmp_path / "k", doc), context)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_kubeconfig(tmp_path / "nope")


def test_in_cluster(tmp_path):
    (tmp_path / "token").write_text("t")
    (tmp_path / "ca.crt").write_bytes(b"CA")
    (tmp_path / "namespace").write_text("kube-system\n")
    cfg = in_cluster_config(tmp_path, {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"})
    assert cfg.server == "https://[fd00::1]:443"
    assert cfg.token_file == str(tmp_path / "token") and cfg.ca_data == b"CA" and cfg.namespace == "kube-system"
    with pytest.raises(ConfigError):
        in_cluster_config(tmp_path, {})
