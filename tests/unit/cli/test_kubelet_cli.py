"""``navarch kubelet`` flags, and the local kubelet ``navarch server`` starts."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from navarch.cli import kubelet as kubelet_cli
from navarch.cli import server as server_cli
from navarch.kubelet.machine import Machine

GiB = 2**30


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    kubelet_cli.register(parser.add_subparsers())
    return parser.parse_args(["kubelet", "--kubeconfig", "kc", *argv])


MACHINE = Machine(cpus=4, memory_bytes=16 * GiB, storage_bytes=100 * GiB, hostname="box",
                  internal_ip="192.168.1.7", architecture="arm64",
                  hugepages={"hugepages-2Mi": 0}, node_info={"machineID": "m", "bootID": "b"})


def test_defaults_follow_upstream() -> None:
    opts = kubelet_cli.options_from_args(parse())
    assert (opts.port, opts.address, opts.runtime, opts.register_node, opts.max_pods) == \
        (10250, "0.0.0.0", "process", True, 110)
    assert opts.root_dir.name == "kubelet" and opts.eviction_hard is None
    cfg = kubelet_cli.kubelet_config(opts, MACHINE, port=10250)
    assert cfg.node_name == "box" and cfg.hostname == "box"
    assert cfg.node_ips == ("192.168.1.7",)
    assert (cfg.lease_duration, cfg.lease_renew_interval, cfg.kubelet_port) == (40, 10.0, 10250)
    assert cfg.capacity == {"cpu": "4", "memory": "16Gi", "ephemeral-storage": "100Gi", "pods": "110",
                            "hugepages-2Mi": "0"}
    assert cfg.allocatable["memory"] == "16284Mi"  # 16Gi - 100Mi
    assert cfg.allocatable["ephemeral-storage"] == "90Gi"
    assert cfg.architecture == "arm64" and cfg.node_info["machineID"] == "m"


def test_flags_become_the_config(tmp_path: Path) -> None:
    opts = kubelet_cli.options_from_args(parse(
        "--node-name", "Worker-1", "--root-dir", str(tmp_path), "--port", "0", "--node-labels", "a=b",
        "--register-with-taints", "gpu:NoSchedule", "--eviction-hard", "memory.available<1Gi",
        "--kube-reserved", "cpu=100m,memory=1Gi", "--system-reserved", "cpu=400m",
        "--node-lease-duration-seconds", "8", "--node-status-update-frequency", "1", "--sync-frequency", "5",
        "--max-pods", "20", "--no-register-node"))
    cfg = kubelet_cli.kubelet_config(opts, MACHINE, port=43210)
    assert cfg.node_name == "worker-1" and cfg.hostname == "box"
    assert (cfg.lease_duration, cfg.lease_renew_interval) == (8, 2.0)
    assert (cfg.node_status_update_frequency, cfg.pod_resync_interval, cfg.kubelet_port) == (1.0, 5.0, 43210)
    assert cfg.labels == {"a": "b"} and cfg.taints == ({"key": "gpu", "effect": "NoSchedule"},)
    assert cfg.allocatable["cpu"] == "3500m"
    assert cfg.allocatable["memory"] == "14Gi"  # 16Gi - 1Gi kube-reserved - 1Gi threshold
    assert cfg.allocatable["ephemeral-storage"] == "100Gi"  # no nodefs threshold given
    assert cfg.capacity["pods"] == "20" and cfg.register_node is False
    assert cfg.root_dir == str(tmp_path)


@pytest.mark.parametrize("argv", [
    ("--eviction-hard", "memory.available=100Mi"),
    ("--node-labels", "novalue"),
    ("--tls-cert-file", "c.pem"),
], ids=["eviction-syntax", "labels", "cert-without-key"])
def test_bad_flags_are_refused(argv: tuple[str, ...]) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        kubelet_cli.options_from_args(parse(*argv))


def test_unknown_eviction_signals_are_refused() -> None:
    opts = kubelet_cli.options_from_args(parse("--eviction-hard", "memory.free<1Mi"))
    with pytest.raises(ValueError, match="unknown eviction signal"):
        kubelet_cli.kubelet_config(opts, MACHINE, port=1)


def test_the_subcommand_is_registered() -> None:
    from navarch.cli.main import build_parser

    args = build_parser().parse_args(["kubelet", "--kubeconfig", "kc", "--runtime", "simulated"])
    assert args.func is kubelet_cli.run and args.runtime == "simulated"


@pytest.fixture
def pki(tmp_path: Path):
    from navarch.server.pki import ensure_pki

    return ensure_pki(tmp_path)


def test_server_runs_the_kubelet_with_a_node_identity(tmp_path: Path, pki) -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    argv = server_cli.kubelet_argv(tmp_path, pki, "https://127.0.0.1:6443", ["-v", "1"], ["--port=0"],
                                   node_name="box")
    assert argv[0] == "kubelet" and argv[-1] == "--port=0"
    flags = dict(zip(argv[1:-3:2], argv[2:-3:2]))
    assert flags["--node-name"] == "box"
    assert flags["--root-dir"] == str(tmp_path / "agent" / "kubelet")
    assert flags["--client-ca-file"] == str(pki.ca.cert)
    subject = x509.load_pem_x509_certificate((tmp_path / "tls" / "kubelet.crt").read_bytes()).subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:box"
    assert [a.value for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:nodes"]
    assert Path(flags["--kubeconfig"]).exists()


def test_a_node_name_in_the_kubelet_args_names_the_certificate_too(tmp_path: Path, pki) -> None:
    from cryptography import x509

    server_cli.kubelet_argv(tmp_path, pki, "https://127.0.0.1:6443", [], ["--node-name", "Other"])
    cert = x509.load_pem_x509_certificate((tmp_path / "tls" / "kubelet.crt").read_bytes())
    assert "CN=system:node:other" in cert.subject.rfc4514_string()


def test_server_flags() -> None:
    from navarch.cli.main import build_parser

    args = build_parser().parse_args(["server", "--kubelet-arg=--port=0", "--kubelet-arg=--sync-frequency=5"])
    assert args.kubelet_arg == ["--port=0", "--sync-frequency=5"] and not args.disable_agent
    assert build_parser().parse_args(["server", "--disable-agent"]).disable_agent
