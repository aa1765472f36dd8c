"""``navarch datastore snapshot save|restore FILE --data-dir DIR``: backup and restore of the SQLite store.

``save`` copies the store consistently while the server runs (SQLite's online backup); ``restore``
writes a snapshot into a data dir that has no store yet, keeping every object's resourceVersion.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from navarch.cli.common import default_data_dir


def db_path(data_dir: Path) -> Path:
    return data_dir / "db" / "state.db"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datastore", help="manage the embedded SQLite store")
    ds = p.add_subparsers(dest="datastore_command", metavar="COMMAND")
    snap = ds.add_parser("snapshot", help="save or restore a consistent snapshot")
    actions = snap.add_subparsers(dest="snapshot_command", metavar="ACTION")
    for name, help_text in (("save", "write a consistent copy of the store to FILE (safe while the server runs)"),
                            ("restore", "restore FILE into --data-dir, which must not hold a store yet")):
        a = actions.add_parser(name, help=help_text)
        a.add_argument("file", type=Path, help="snapshot file")
        a.add_argument("--data-dir", type=Path, default=default_data_dir(),
                       help="the server's data directory (default: %(default)s)")
        a.set_defaults(func=run, action=name)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run(args: argparse.Namespace) -> int:
    from navarch.storage import StoreError
    from navarch.storage.sqlite.snapshot import restore_snapshot, save_snapshot

    path = db_path(args.data_dir)
    try:
        if args.action == "save":
            if not path.exists():
                print(f"navarch: no store at {path}")
                return 1
            save_snapshot(path, args.file)
            print(f"navarch: snapshot of {path} saved to {args.file}")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            restore_snapshot(args.file, path)
            print(f"navarch: {args.file} restored into {path}")
    except (StoreError, OSError) as e:
        print(f"navarch: {e}")
        return 1
    return 0
