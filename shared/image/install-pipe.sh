#!/bin/sh
# Install a pipe as its image ships it: the build stage of every pipe's Dockerfile runs this.
#   sh shared/image/install-pipe.sh <pipe folder> <virtualenv>      (PYTHON: the interpreter, python3)
# The virtualenv gets exactly the pipe's pinned runtime dependencies (requirements.txt, --no-deps:
# no resolver), the shared library beside this script and the pipe's own package; then pip and
# setuptools and their start-up hooks are removed, and what the pipe declares it never uses
# (prune.py: botocore's other services), so the image holds only what the pipe runs.
set -eu
pipe=$1
venv=$2
shared=$(cd "$(dirname "$0")/.." && pwd)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore

"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/pip" install --no-deps -r "$pipe/requirements.txt"
"$venv/bin/pip" install --no-deps "$shared" "$pipe"
"$venv/bin/pip" uninstall -y pip setuptools
"$venv/bin/python" "$shared/image/prune.py" "$pipe" "$venv"
find "$venv" -name '*.dist-info' -type d -prune -exec sh -c 'rm -f "$1"/RECORD' _ {} \;
rm -rf "$venv"/lib/python3*/site-packages/_distutils_hack "$venv"/lib/python3*/site-packages/distutils-precedence.pth
