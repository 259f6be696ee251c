"""The claim that applies a saved plan once: a conditional create where the store honours it,
and nothing silent where it does not (the proxy stripping If-None-Match plays such a store)."""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from pipes_common.errors import PipeError
from testbed.s3 import HeaderStrippingProxy, MotoS3
from tf_apply import planstore, probe
from tf_apply.s3 import Spaces
from tf_apply.settings import Settings

from .conftest import Stack, assert_failed_cleanly

KEY = "web/infra/terraform.tfstate"
PLANS = f"{KEY}.plans/default"


def spaces_at(endpoint: str, bucket: str, tmp_path: Path) -> Spaces:
    return Spaces(Settings(
        access_key="testbed-key", secret_key="testbed-secret", bucket=bucket, region="nyc3",
        endpoint=endpoint, path_style=True, state_key=KEY, clone_dir=tmp_path,
        working_dir=tmp_path, working_dir_rel=".", mode="apply", plan_id="p", workspace="default",
        var_files=[], tf_vars={}, targets=[], locking="auto", lock_timeout="300s", do_token=None,
        extra_args=[], code_insights=False, api_proxy="http://127.0.0.2:29418",
        debug=False, comment=True, refresh_only=False, fail_on_drift=True,
        bb_api_url="https://api.bitbucket.org", require_reviewed=False))


def race(store: planstore.PlanStore, runs: int) -> tuple[list[str], list[str]]:
    """``runs`` threads claim the same plan at the same moment: (winners, refusal messages)."""
    start = threading.Barrier(runs)
    won: list[str] = []
    refused: list[str] = []

    def claim(build: str) -> None:
        start.wait()
        try:
            store.claim("p", build)
            won.append(build)
        except PipeError as err:
            refused.append(err.message)

    threads = [threading.Thread(target=claim, args=(str(i),)) for i in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return won, refused


def test_one_run_wins_the_claim_of_a_plan(moto_s3: MotoS3, tmp_path: Path) -> None:
    bucket = moto_s3.create_bucket("claims-honoured")
    store = planstore.PlanStore(spaces_at(moto_s3.url, bucket, tmp_path), f"{PLANS}/")
    won, refused = race(store, 6)
    assert len(won) == 1, won
    assert len(refused) == 5 and all("is being applied or was applied by another run" in m
                                     for m in refused), refused
    applied = json.loads(moto_s3.objects(bucket)[f"{PLANS}/p/applied.json"])
    assert applied["status"] == "applying" and applied["build"] == won[0]
    # and a claim after the race, sequential, is refused the same way
    with pytest.raises(PipeError, match="being applied or was applied"):
        store.claim("p", "late")


def test_the_claim_is_not_trusted_where_the_store_ignores_conditional_writes(
        moto_s3: MotoS3, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bucket = moto_s3.create_bucket("claims-ignored")
    with HeaderStrippingProxy(moto_s3.url) as proxy:
        spaces = spaces_at(proxy.url, bucket, tmp_path)
        store = planstore.PlanStore(spaces, f"{PLANS}/")
        won, _ = race(store, 3)
        assert len(won) == 3  # what a conditional claim is worth on such a store: nothing
        assert not probe.conditional_writes_work(spaces, KEY)  # the probe tells
        for locking in ("auto", "lockfile"):
            with pytest.raises(PipeError) as refused:
                planstore.claim_mode(False, locking, spaces.endpoint, "p")
            assert "\n" not in refused.value.message
            for needle in ("PLAN_ID", "ignores conditional writes", "use a store that honours them",
                           "LOCKING: 'off' only if"):
                assert needle in refused.value.message
        assert planstore.claim_mode(False, "off", spaces.endpoint, "p") is False
        assert "holds only because, with LOCKING off" in capsys.readouterr().out
    assert planstore.claim_mode(True, "lockfile", "https://x", "p") is True


def test_saved_plan_on_a_store_without_conditional_writes(make_stack: Callable[..., Stack],
                                                          moto_s3: MotoS3) -> None:
    with HeaderStrippingProxy(moto_s3.url) as proxy:
        stack = make_stack(endpoint=proxy.url)
        assert stack.run(MODE="plan", PLAN_ID="p1", LOCKING="lockfile").code == 0

        # LOCKING lockfile: neither the claim nor the lock file would hold: refused, nothing done
        refused = stack.run(MODE="apply", PLAN_ID="p1", LOCKING="lockfile")
        assert_failed_cleanly(refused, "PLAN_ID", "ignores conditional writes",
                              "use a store that honours them")
        assert stack.state(KEY) is None
        assert not [k for k in stack.objects() if k.endswith("applied.json") or "lockprobe" in k]

        # LOCKING off: the user serialises the runs; the claim is a plain write, said so
        applied = stack.run(MODE="apply", PLAN_ID="p1", LOCKING="off")
        assert applied.code == 0, applied.output
        assert "the claim of the saved plan 'p1' is a plain write" in applied.output
        assert json.loads(stack.objects()[f"{PLANS}/p1/applied.json"])["status"] == "applied"
        etag = stack.state_etag(KEY)
        again = stack.run(MODE="apply", PLAN_ID="p1", LOCKING="off")
        assert again.code == 0 and "already applied" in again.last_line(), again.output
        assert stack.state_etag(KEY) == etag  # not applied twice
        stack.assert_no_leaks()


def test_lockfile_mode_on_a_store_with_conditional_writes_claims_conditionally(stack: Stack) -> None:
    assert stack.run(MODE="plan", PLAN_ID="p2", LOCKING="lockfile").code == 0
    applied = stack.run(MODE="apply", PLAN_ID="p2", LOCKING="lockfile")
    assert applied.code == 0, applied.output
    assert "plain write" not in applied.output
    assert not [k for k in stack.objects() if "lockprobe" in k]


def test_a_plan_made_by_another_terraform_version_is_refused(stack: Stack) -> None:
    assert stack.run(MODE="plan", PLAN_ID="old").code == 0
    key = f"{PLANS}/old/record.json"
    record = json.loads(stack.objects()[key])
    bundled = record["terraform_version"]
    record["terraform_version"] = "1.0.0"  # as a tf-apply bundling another Terraform made it
    stack.s3.client.put_object(Bucket=stack.bucket, Key=key, Body=json.dumps(record).encode())

    run = stack.run(MODE="apply", PLAN_ID="old")
    assert_failed_cleanly(run, "PLAN_ID", "made with Terraform 1.0.0", f"bundles {bundled}",
                          "same tf-apply version")
    assert stack.state(KEY) is None
    assert f"{PLANS}/old/applied.json" not in stack.objects()
