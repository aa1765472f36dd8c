"""``navarch scheduler``: kube-scheduler against any cluster, given a kubeconfig."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from navarch.cli.common import add_logging_flags, run_async, setup_logging, until_signalled

if TYPE_CHECKING:
    from navarch.scheduler.app import SchedulerConfig

__all__ = ["register", "config_from_args"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scheduler", help="run the scheduler (kube-scheduler)",
                       description="Assign pending pods to nodes through the API, as kube-scheduler does.")
    p.add_argument("--kubeconfig", type=Path, default=None,
                   help="kubeconfig of the cluster to schedule for (default: $KUBECONFIG or ~/.kube/config)")
    p.add_argument("--leader-elect", default=True, action=argparse.BooleanOptionalAction,
                   help="take Lease kube-system/kube-scheduler before scheduling, so that several copies "
                        "can run and only one acts (default: on)")
    p.add_argument("--leader-elect-lease-duration", type=float, default=15.0, metavar="SECONDS",
                   help="how long others wait after the last renewal before taking over (default: %(default)s)")
    p.add_argument("--leader-elect-renew-deadline", type=float, default=10.0, metavar="SECONDS",
                   help="how long the leader keeps trying to renew before it stops (default: %(default)s)")
    p.add_argument("--leader-elect-retry-period", type=float, default=2.0, metavar="SECONDS",
                   help="time between acquire/renew attempts (default: %(default)s)")
    p.add_argument("--percentage-of-nodes-to-score", type=int, default=0, metavar="N",
                   help="stop filtering once N%% of the nodes fit (0: adaptive, 50%% minus 1%% per 125 nodes, "
                        "at least 5%%; never fewer than 100 nodes) (default: %(default)s)")
    p.add_argument("--scheduler-name", action="append", default=None, metavar="NAME",
                   help="a profile's schedulerName (repeatable; default: default-scheduler)")
    add_logging_flags(p)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> "SchedulerConfig":
    # Imported here: every navarch command loads this module to register its flags, and the
    # scheduler (numpy, the plugins) is a large share of a kubelet's or an agent's start-up time.
    from navarch.scheduler.app import SchedulerConfig

    return SchedulerConfig(
        kubeconfig=args.kubeconfig, leader_elect=args.leader_elect,
        lease_duration=args.leader_elect_lease_duration, renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
        percentage_of_nodes_to_score=args.percentage_of_nodes_to_score,
        scheduler_names=tuple(args.scheduler_name or ("default-scheduler",)))


def run(args: argparse.Namespace) -> int:
    setup_logging(args)
    config = config_from_args(args)
    return run_async(_main(config))


async def _main(config: "SchedulerConfig") -> int:
    from navarch.scheduler.app import run_scheduler

    await until_signalled(run_scheduler(config), "scheduler", "scheduler stopped")
    return 0
