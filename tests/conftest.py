import sys
from pathlib import Path

# tests/ helpers (clients, navarch_process, etcd_cluster) import as ``tests.<module>``.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
