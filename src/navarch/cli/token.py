"""``navarch token``: join tokens for more agents (as ``kubeadm token create/list``).

A token is a bootstrap-token Secret in kube-system, created through the API with the admin
kubeconfig; what is printed is the full join token ``K10<CA hash>::<id>.<secret>``, the hash taken
from the kubeconfig's CA, which is the cluster CA the agent will check.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from navarch.cli.common import (
    add_logging_flags,
    default_data_dir,
    run_async,
    setup_logging,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("token", help="create and list join tokens",
                       description="Manage the bootstrap tokens agents join with (navarch agent --token).")
    tsub = p.add_subparsers(dest="token_command", metavar="COMMAND")
    create = tsub.add_parser("create", help="create a join token and print it",
                             description="Create a bootstrap token Secret and print the join token.")
    _add_cluster_flags(create)
    create.add_argument("--ttl", default="24h",
                        help="how long the token is valid, e.g. 24h, 30m; 0 never expires (default: %(default)s)")
    create.add_argument("--description", default="", help="a human-readable note stored with the token")
    create.set_defaults(func=run_create)
    lst = tsub.add_parser("list", help="list join tokens", description="List the bootstrap tokens.")
    _add_cluster_flags(lst)
    lst.set_defaults(func=run_list)
    add_logging_flags(p)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _add_cluster_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--kubeconfig", type=Path, default=None, help="admin kubeconfig of the cluster")
    g.add_argument("--data-dir", type=Path, default=None,
                   help=f"data dir of the navarch server; uses DATA_DIR/kubeconfig (default: {default_data_dir()})")
    add_logging_flags(p)


def _kubeconfig(args: argparse.Namespace) -> Path:
    if args.kubeconfig:
        return args.kubeconfig
    return (args.data_dir or default_data_dir()) / "kubeconfig"


def run_create(args: argparse.Namespace) -> int:
    from navarch.api import bootstraptoken as bt

    setup_logging(args)
    try:
        ttl = bt.parse_ttl(args.ttl)
    except ValueError as e:
        print(f"navarch token create: {e}", file=sys.stderr)
        return 2
    return run_async(_create(_kubeconfig(args), ttl, args.description))


async def _create(kubeconfig: Path, ttl: dt.timedelta | None, description: str) -> int:
    from navarch.api import bootstraptoken as bt
    from navarch.client.rest import Client
    from navarch.server.join import ensure_token_secret

    async with Client.from_kubeconfig(str(kubeconfig)) as client:
        ca = client.config.ca_data
        if not ca:
            print(f"navarch token create: {kubeconfig} names no certificate authority", file=sys.stderr)
            return 1
        token = bt.JoinToken(bt.ca_hash(ca), bt.generate_bootstrap_token())
        await ensure_token_secret(client, token.bootstrap, ttl=ttl, description=description)
    print(token)
    return 0


def run_list(args: argparse.Namespace) -> int:
    setup_logging(args)
    return run_async(_list(_kubeconfig(args)))


async def _list(kubeconfig: Path) -> int:
    from navarch.api import bootstraptoken as bt
    from navarch.client.rest import Client

    async with Client.from_kubeconfig(str(kubeconfig)) as client:
        digest = bt.ca_hash(client.config.ca_data) if client.config.ca_data else ""
        items = (await client.list("v1/secrets", bt.NAMESPACE)).get("items") or []
    rows = [("TOKEN", "EXPIRES", "USAGES", "DESCRIPTION")]
    for s in items:
        if s.get("type") != bt.SECRET_TYPE:
            continue
        data = bt.secret_data(s)
        if not data.get("token-id") or not data.get("token-secret"):
            continue
        token = bt.JoinToken(digest, bt.BootstrapToken(data["token-id"], data["token-secret"]))
        usages = ",".join(k[len("usage-bootstrap-"):] for k, v in sorted(data.items())
                          if k.startswith("usage-bootstrap-") and v == "true")
        rows.append((str(token), data.get("expiration") or "<forever>", usages or "<none>",
                     data.get("description", "")))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("   ".join(r[i].ljust(widths[i]) for i in range(3)) + "   " + r[3])
    return 0
