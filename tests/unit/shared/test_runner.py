from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def run_main(tmp_path: Path, body: str, *env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "entry.py"
    header = ("from pipes_common import secrets\n"
              "from pipes_common.errors import PipeError\n"
              "from pipes_common.runner import main_exit\n"
              "def main():\n")
    script.write_text(header + textwrap.indent(textwrap.dedent(body).strip(), "    ")
                      + "\nmain_exit(main)\n")
    environ = {"PATH": "/usr/bin:/bin"}
    environ.update(dict(e.split("=", 1) for e in env))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env=environ, check=False)


def test_pipe_error_is_one_cross_line_with_its_code(tmp_path: Path) -> None:
    proc = run_main(tmp_path, "raise PipeError('MODE must be one of: plan, apply', exit_code=3)")
    assert proc.returncode == 3
    assert proc.stdout.strip().endswith("✖ MODE must be one of: plan, apply\x1b[0m")
    assert "Traceback" not in proc.stdout + proc.stderr


def test_unexpected_error_has_no_traceback_and_is_masked(tmp_path: Path) -> None:
    proc = run_main(tmp_path, "secrets.register('hunter2-secret')\nraise ValueError('boom hunter2-secret')")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "hunter2-secret" not in proc.stdout + proc.stderr
    assert "✖ Unexpected error (ValueError): boom ********" in proc.stdout


def test_print_and_stderr_are_masked(tmp_path: Path) -> None:
    body = """
    import sys
    secrets.register('hunter2-secret')
    print('out hunter2-secret')
    print('err hunter2-secret', file=sys.stderr)
    """
    proc = run_main(tmp_path, body)
    assert proc.returncode == 0
    assert "hunter2-secret" not in proc.stdout + proc.stderr
    assert "out ********" in proc.stdout and "err ********" in proc.stderr


def test_output_written_just_before_the_exit_is_not_lost(tmp_path: Path) -> None:
    body = """
    import sys
    from pipes_common.log import get_logger
    secrets.register('hunter2-secret')
    get_logger().info('logged')
    sys.stdout.write('partial line without newline hunter2-secret')
    sys.stderr.write('err tail')
    return 4
    """
    proc = run_main(tmp_path, body)
    assert proc.returncode == 4
    assert "INFO: logged" in proc.stdout
    assert proc.stdout.endswith("partial line without newline ********")
    assert proc.stderr == "err tail"
