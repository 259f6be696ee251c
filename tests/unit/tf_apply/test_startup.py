"""What the pipe imports before ``terraform init`` starts is paid in every step it runs in."""
from __future__ import annotations

import json
import subprocess
import sys

from testbed.pipes import REPO_ROOT

SLOW = ("boto3", "botocore", "s3transfer", "requests", "urllib3", "bitbucket_pipes_toolkit", "yaml",
        "colorlog", "tf_apply.s3", "tf_apply.probe", "tf_apply.insights", "tf_apply.planstore")

SCRIPT = """
import json, os, sys
from pipes_common import runner
from tf_apply.pipe import VARIABLES, Settings
values, ctx = runner.start(VARIABLES)
Settings.from_values(values, ctx)
print(json.dumps(sorted(m for m in {slow!r} if m in sys.modules)))
"""


def test_nothing_slow_is_imported_before_init() -> None:
    env = {"PATH": "/usr/bin:/bin",
           "SPACES_ACCESS_KEY_ID": "AKIAEXAMPLE0000", "SPACES_SECRET_ACCESS_KEY": "not-a-real-secret",
           "SPACES_BUCKET": "states", "CODE_INSIGHTS": "false", "DEBUG": "false",
           "BITBUCKET_CLONE_DIR": str(REPO_ROOT), "BITBUCKET_REPO_SLUG": "app",
           "VARS_COUNT": "2", "VARS_0": "region=nyc3", "VARS_1": "size=s-1vcpu-1gb"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(slow=SLOW)], capture_output=True,
                          text=True, env=env, cwd=REPO_ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_a_plain_apply_imports_no_s3_client() -> None:
    """``LOCKING: lockfile`` or ``off`` with no saved plan and no Bitbucket token never talks to
    Spaces itself: the modules of the apply must not import botocore for it."""
    script = ("import json, sys\nfrom tf_apply import applying, reviewed\n"
              "print(json.dumps(sorted(m for m in ('botocore', 'boto3', 'tf_apply.s3', "
              "'tf_apply.planstore') if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO_ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
