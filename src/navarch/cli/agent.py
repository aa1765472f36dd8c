"""``navarch agent``: join this machine to a cluster with a token and run its kubelet."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from navarch.cli.common import (
    add_logging_flags,
    default_data_dir,
    run_async,
    setup_logging,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("agent", help="join a cluster as a worker node",
                       description="Join the cluster at --server with a join token: check the server's CA "
                                   "against the token's hash, obtain a node client certificate through a "
                                   "CertificateSigningRequest, then run this machine's kubelet with it. A "
                                   "restart reuses the certificate in --data-dir.")
    p.add_argument("--server", default=os.environ.get("NAVARCH_URL", ""),
                   help="URL of the API server, e.g. https://10.0.0.1:6443 (default: $NAVARCH_URL)")
    p.add_argument("--token", default=os.environ.get("NAVARCH_TOKEN", ""),
                   help="join token K10<ca hash>::<id>.<secret>, from the server's DATA_DIR/token or "
                        "`navarch token create` (default: $NAVARCH_TOKEN)")
    p.add_argument("--token-file", type=Path, default=None, help="read the join token from this file")
    p.add_argument("--node-name", default="", help="name of the Node (default: the host name, lowercased)")
    p.add_argument("--data-dir", type=Path, default=default_data_dir(),
                   help="directory for the node's key, certificate, kubeconfig and kubelet state, under "
                        "DATA_DIR/agent (default: %(default)s)")
    p.add_argument("--kubelet-port", type=int, default=10250,
                   help="port of the kubelet's HTTPS server (default: %(default)s)")
    p.add_argument("--kubelet-arg", action="append", default=[],
                   help="extra flag passed to the kubelet (repeatable; write it with '=', e.g. "
                        "--kubelet-arg=--node-ip=10.0.0.2; see navarch kubelet --help)")
    add_logging_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from navarch.agent.agent import AgentConfig, run_agent
    from navarch.agent.bootstrap import JoinError
    from navarch.api.bootstraptoken import TokenFormatError, parse_join_token
    from navarch.kubelet.machine import default_hostname

    setup_logging(args)
    text = args.token
    if args.token_file:
        text = args.token_file.read_text()
    if not args.server or not text:
        print("navarch agent: --server and --token (or --token-file) are required", file=sys.stderr)
        return 2
    try:
        token = parse_join_token(text)
    except TokenFormatError as e:
        print(f"navarch agent: invalid token: {e}", file=sys.stderr)
        return 2
    config = AgentConfig(server=args.server, token=token,
                         node_name=(args.node_name or default_hostname()).strip().lower(),
                         data_dir=args.data_dir, kubelet_port=args.kubelet_port, verbosity=args.verbosity,
                         kubelet_args=tuple(args.kubelet_arg))
    try:
        return run_async(run_agent(config))
    except JoinError as e:
        print(f"navarch agent: join failed: {e}", file=sys.stderr)
        return 1
