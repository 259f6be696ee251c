#!/bin/sh
# Install a pipe as its image ships it: the build stage of every pipe's Dockerfile runs this.
#   sh shared/image/install-pipe.sh --deps <requirements.txt> <virtualenv>   the pinned dependencies only
#   sh shared/image/install-pipe.sh <pipe folder> <virtualenv>               the whole pipe
# (PYTHON: the interpreter, python3.) The Dockerfiles run --deps first, in a layer of its own made
# from requirements.txt alone, so a change of the code rebuilds only the second step.
# The virtualenv gets exactly the pipe's pinned runtime dependencies (requirements.txt, --no-deps:
# no resolver), the shared library beside this script and the pipe's own package; then pip and
# setuptools and their start-up hooks are removed, and what the pipe declares it never uses
# (prune.py: botocore's other services), so the image holds only what the pipe runs.
set -eu
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore

# the virtualenv $2 with exactly the pins of $1 (a copy of them kept in it, to know what it holds)
deps() {
  "${PYTHON:-python3}" -m venv "$2"
  "$2/bin/pip" install --no-deps -r "$1"
  cp "$1" "$2/.requirements.txt"
}

if [ "$1" = "--deps" ]; then
  deps "$2" "$3"
  exit 0
fi
pipe=$1
venv=$2
shared=$(cd "$(dirname "$0")/.." && pwd)

# the dependency layer, unless it was made from these very pins
if ! cmp -s "$pipe/requirements.txt" "$venv/.requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  deps "$pipe/requirements.txt" "$venv"
fi
rm -f "$venv/.requirements.txt"
"$venv/bin/pip" install --no-deps "$shared" "$pipe"
"$venv/bin/pip" uninstall -y pip setuptools
"$venv/bin/python" "$shared/image/prune.py" "$pipe" "$venv"
find "$venv" -name '*.dist-info' -type d -prune -exec sh -c 'rm -f "$1"/RECORD' _ {} \;
rm -rf "$venv"/lib/python3*/site-packages/_distutils_hack "$venv"/lib/python3*/site-packages/distutils-precedence.pth
