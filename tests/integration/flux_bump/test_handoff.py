"""flux-bump reading build-push's hand-off: a file it cannot use stops it with one line."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from testbed.pipes import SHARED_STORAGE, run_local

from .conftest import GitopsRepo


@pytest.mark.parametrize(("name", "text", "needles"), [
    ("do-pipes/build-push.json", json.dumps({"image": "registry.example.com/acme/web",
                                             "tags": ["sha-1234567"], "digest": "", "skipped": False}),
     ("build-push 0.1.0", "update build-push", "or set IMAGE and TAG")),
    ("acme/build-push/outputs.json", "{half a file", ("cannot be read", "run build-push again",
                                                      "or set IMAGE and TAG")),
])
def test_an_unusable_build_push_handoff_is_one_clear_line(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path, name: str, text: str, needles: tuple[str, ...]) -> None:
    repo = make_repo()
    head = repo.head()
    path = build_dir / SHARED_STORAGE / name
    path.parent.mkdir(parents=True)
    path.write_text(text)
    run = run_local("flux-bump", flux_env(repo.http_url, IMAGE="<unset>", TAG="<unset>"), build_dir)
    assert run.code == 1, run.output
    assert "Traceback" not in run.output
    fails = [line for line in run.output.splitlines() if "✖" in line]
    assert fails == [run.last_line()], run.output
    for needle in needles:
        assert needle in fails[0], run.output
    assert repo.head() == head

    # with IMAGE and TAG set, the hand-off is not needed and not read
    again = run_local("flux-bump", flux_env(repo.http_url), build_dir)
    assert again.code == 0, again.output


def test_no_build_push_in_the_step_names_what_to_set(
        make_repo: Callable[..., GitopsRepo], flux_env: Callable[..., dict[str, str]],
        build_dir: Path) -> None:
    run = run_local("flux-bump", flux_env(make_repo().http_url, IMAGE="<unset>", TAG="<unset>"),
                    build_dir)
    assert run.code == 1, run.output
    assert "IMAGE is required: no build-push outputs in this step" in run.last_line()
    assert "run build-push earlier in the step, or set IMAGE" in run.last_line()
