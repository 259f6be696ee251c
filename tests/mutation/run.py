"""A mutation check you can rerun: each patch below breaks one behaviour the tests must guard; the
tests chosen for it run against a copy of the repository with only that patch applied, and the
patch is *killed* (some test failed) or *survives* (every test passed: a hole in the suite).

    ./dev mutate                 # every patch, then a table (markdown)
    ./dev mutate -k claim -k ttl # only the patches whose name contains one of these words
    ./dev mutate --list          # the patches and their tests

A patch is a short snippet of the current code and its replacement; a snippet that is not found
exactly once stops the run loudly (the code moved: update the patch).  The working tree is never
touched: the repository is copied once, each patch applied to the copy and undone after its tests.
The tests run with an interpreter of a small virtualenv beside the copy whose path puts the copy's
packages (shared library, pipes, test bed) first and then the development virtualenv's
dependencies, so the pipe processes the integration tests start run the patched code too.
Before the patches, the union of their tests runs once unpatched and must pass (``--no-baseline``
skips that).  The test bed is shared, so set ``DO_PIPES_TESTBED_CACHE`` as for ``./dev test``.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parents[2]
IGNORE = shutil.ignore_patterns(".venv", ".git", "__pycache__", ".pytest_cache", ".mypy_cache",
                                ".ruff_cache", "*.pyc")
BP, TF, FB = "pipes/build-push/build_push", "pipes/tf-apply/tf_apply", "pipes/flux-bump/flux_bump"
IT_BP, IT_TF, IT_FB = "tests/integration/build_push", "tests/integration/tf_apply", "tests/integration/flux_bump"
DR, IT_DR = "pipes/docr-retention/docr_retention", "tests/integration/docr_retention"


@dataclass(frozen=True)
class Patch:
    name: str
    path: str
    find: str
    replace: str
    tests: tuple[str, ...]
    pending: str = ""  # why it may survive here (its tests are on another branch)


PATCHES = (
    # -- the four of issue 15's table ---------------------------------------------------------
    Patch("build-push _sync_tags leaves a tag that points elsewhere", f"{BP}/pipe.py",
          "if current is None or current.digest != digest:", "if current is None:",
          ("tests/unit/build_push", f"{IT_BP}/test_skip.py")),
    Patch("tf-apply planstore.claim without If-None-Match", f"{TF}/planstore.py",
          "self.spaces.put(self.claim_key(plan_id, generation), body, if_none_match=exclusive,",
          "self.spaces.put(self.claim_key(plan_id, generation), body, if_none_match=False,",
          ("tests/unit/tf_apply", f"{IT_TF}/test_claim.py")),
    Patch("flux-bump yamldoc.apply without the exactly-the-intended-change comparison",
          f"{FB}/yamldoc.py", "    if _flatten(after, None) != _flatten(docs, plan):", "    if False:",
          ("tests/unit/flux_bump",)),
    Patch("tf-apply applies a plan made by another Terraform version", f"{TF}/applying.py",
          "    if record.terraform_version != tf.version():", "    if False:",
          (f"{IT_TF}/test_claim.py::test_a_plan_made_by_another_terraform_version_is_refused",)),
    # -- more, in the modules issue 15 names ------------------------------------------------------
    Patch("httpclient: no exponential backoff", "shared/pipes_common/httpclient.py",
          "        return self.get_backoff_time()\n", "        return 0.0\n",
          ("tests/integration/shared/test_httpclient.py",)),
    Patch("httpclient: Retry-After ignored", "shared/pipes_common/httpclient.py",
          "            if after:\n                return after\n", "",
          ("tests/integration/shared/test_httpclient.py",)),
    Patch("httpclient: a refused connection is retried", "shared/pipes_common/httpclient.py",
          "        connect=0,\n", "        connect=retries,\n",
          ("tests/integration/shared/test_httpclient.py", "tests/integration/shared/test_api_clients.py")),
    Patch("httpclient: retries wait past the budget", "shared/pipes_common/httpclient.py",
          "if nxt.waited + nxt.delay(response) > nxt.budget:", "if False:",
          ("tests/integration/shared/test_httpclient.py",)),
    Patch("registry: image_labels reads an index's attestation manifest", "shared/pipes_common/registry.py",
          'if (m.get("platform") or {}).get("os") != "unknown"]', "]",
          ("tests/integration/shared/test_registry_labels.py",)),
    Patch("release: the docker CLI's answer for an absent version not read as absent", ".ci/release.py",
          'for absent in ("no such manifest", "manifest unknown",', 'for absent in ("manifest unknown",',
          ("tests/integration/ci/test_release.py::test_exists_reads_the_real_docker_cli_answers",)),
    Patch("bbapi: a next link to another host is followed with the token", "shared/pipes_common/bbapi.py",
          'if not nxt.startswith(self.api_url + "/"):', "if not nxt:",
          ("tests/integration/shared/test_api_clients.py",)),
    Patch("build-push: push credentials for 20 minutes, not the documented 30",
          f"{BP}/preflight.py", "CREDENTIALS_EXPIRY_SECONDS = 1800", "CREDENTIALS_EXPIRY_SECONDS = 1200",
          ("tests/unit/build_push", f"{IT_BP}/test_push.py::test_first_push_then_skip")),
    Patch("build-push: an empty CACHE_FROM falls back to the default sources", f"{BP}/pipe.py",
          "    if s.cache_from is not None:", "    if s.cache_from:",
          ("tests/unit/build_push", f"{IT_BP}/test_push.py::test_cache_from_explicit_and_empty")),
    Patch("build-push: CACHE_FROM ignored", f"{BP}/pipe.py",
          "        return list(s.cache_from)", "        return []",
          (f"{IT_BP}/test_push.py::test_a_cache_source_that_does_not_exist_is_passed_over",)),
    Patch("build-push: TARGET not passed to the build", f"{BP}/pipe.py",
          "        target=s.target, build_args=", "        target=None, build_args=",
          ("tests/unit/build_push", f"{IT_BP}/test_push.py::test_target_stops_at_the_stage")),
    Patch("build-push: a hotfix release moves latest and X backwards", f"{BP}/tags.py",
          "        if tag in plan_.tags and newest is not None and newest > release:",
          "        if False:",
          ("tests/unit/build_push",
           f"{IT_BP}/test_skip.py::test_a_hotfix_release_moves_only_its_own_minor_and_a_rerun_is_a_no_op")),
    Patch("build-push: the skip ignores the build's inputs", f"{BP}/pipe.py",
          "        if labels.get(inputs.LABEL) == s.inputs:", "        if True:",
          ("tests/unit/build_push", f"{IT_BP}/test_skip.py::test_a_tag_build_with_other_build_args_does_not_skip")),
    Patch("build-push: errors in the push stream ignored", f"{BP}/pusher.py",
          'if "error" in chunk or "errorDetail" in chunk:', "if False:",
          (f"{IT_BP}/test_failures.py::test_error_in_the_push_stream_fails_the_push",)),
    Patch("build-push: cache sources read from the registry where the engine drops cache records",
          f"{BP}/strategy.py",
          "return Strategy(PULL_INLINE, why, pull_cache=True, registry_cache=False)",
          "return Strategy(PULL_INLINE, why, pull_cache=False, registry_cache=False)",
          ("tests/unit/build_push/test_orchestration.py", "tests/unit/build_push/test_buildkit.py")),
    Patch("build-push: a Dockerfile step fetched from the registry cache counted as run",
          f"{BP}/buildkit.py", "            if vertex in self.fetched and vertex not in self.ran:",
          "            if False:", ("tests/unit/build_push/test_buildkit.py",)),
    Patch("build-push: SKIP_IF_EXISTS ignored", f"{BP}/pipe.py",
          "already_built(registry, s) if s.skip_if_exists else None",
          "already_built(registry, s)",
          ("tests/unit/build_push", f"{IT_BP}/test_push.py::test_skip_if_exists_false_builds_and_pushes_again")),
    Patch("tf-apply: LOCKING lockfile no longer passes use_lockfile", f"{TF}/backend.py",
          'if s.locking != "off":', 'if s.locking == "auto":',
          ("tests/unit/tf_apply", f"{IT_TF}/test_locking.py::test_lockfile_mode_skips_probe")),
    Patch("tf-apply: Terraform not told it runs in automation", f"{TF}/backend.py",
          '"TF_IN_AUTOMATION": "1",', "",
          ("tests/unit/tf_apply", f"{IT_TF}/test_lifecycle.py::test_terraform_runs_in_automation_mode")),
    Patch("tf-apply: Terraform not told to wait LOCK_TIMEOUT for a held lock", f"{TF}/run.py",
          'args = ["-input=false", "-no-color", f"-lock-timeout={s.lock_timeout}"]',
          'args = ["-input=false", "-no-color"]',
          (f"{IT_TF}/test_lock_wait.py",)),
    Patch("tf-apply: a saved plan's freshness ignores the lineage", f"{TF}/planstore.py",
          "    if record.state == current:\n",
          "    if (record.state.serial, record.state.etag) == (current.serial, current.etag):\n",
          ("tests/unit/tf_apply",)),
    Patch("tf-apply applies a plan that differs from the reviewed one", f"{TF}/changes.py",
          "    return lines\n", "    return []\n",
          ("tests/unit/tf_apply/test_changes.py",
           "tests/e2e/test_tf_apply_reviewed_e2e.py::test_apply_after_merge_matches_then_another_merge_changes_the_plan")),
    Patch("tf-apply: a failed apply that wrote nothing keeps the claim", f"{TF}/applying.py",
          "            store.release(s.plan_id, generation)  # nothing was written",
          "            pass  # nothing was written",
          ("tests/unit/tf_apply",)),
    Patch("flux-bump: the target branch is force-pushed", f"{FB}/deliver.py",
          "ok, retryable, text = git.push(commit, branch)",
          "ok, retryable, text = git.push(commit, branch, force=True)",
          ("tests/unit/flux_bump",)),
    Patch("flux-bump: an open pull request is not reused", f"{FB}/pipe.py",
          "return PrReady(client, branch, client.find_open(pr.workspace, pr.slug, branch))",
          "return PrReady(client, branch, None)",
          (f"{IT_FB}/test_modes.py::test_pull_request_created_then_reused",)),
    Patch("flux-bump: the token wins over GIT_USERNAME/GIT_PASSWORD for git", f"{FB}/auth.py",
          "    if password:\n        secrets.register(password)",
          "    if password and not token:\n        secrets.register(password)",
          (f"{IT_FB}/test_modes.py::test_git_credentials_with_the_token_for_the_api",)),
    Patch("flux-bump: the work folder with the SSH key file is left behind", f"{FB}/workspace.py",
          "shutil.rmtree(workdir, ignore_errors=True)", "pass",
          (f"{IT_FB}/test_secrets.py::test_password_and_ssh_key_canaries",)),
    Patch("flux-bump: a rejected push is not retried", f"{FB}/deliver.py",
          "        if not retryable:\n", "        if True:\n",
          ("tests/unit/flux_bump", f"{IT_FB}/test_modes.py::test_rejected_push_is_retried_never_forced")),
    # -- issue 23: flux-bump's signature gate ---------------------------------------------------------
    Patch("flux-bump: only the first signature layer is read", f"{FB}/signatures.py",
          "    for descriptor in layers[:max(0, MAX_LAYERS - len(already))]:",
          "    for descriptor in layers[:1]:",
          (f"{IT_FB}/test_signed_images.py::test_the_second_signature_layer_counts",)),
    Patch("flux-bump: a signature of another digest is accepted", f"{FB}/signatures.py",
          "    if claim.digest != digest:", "    if False:",
          (f"{IT_FB}/test_signed_images.py::test_a_signature_of_another_digest_is_refused",)),
    Patch("flux-bump: a signature layer's blob is not checked against its descriptor",
          f"{FB}/signatures.py",
          "    if len(blob) != size or digest_of(blob) != digest:",
          "    if False:",
          (f"{IT_FB}/test_signed_images.py::test_a_modified_signature_manifest_is_refused",)),
    Patch("flux-bump: a promotion is not gated", f"{FB}/pipe.py",
          "registrycheck.verify_deployed(targets, s.registry, s.verify)", "pass",
          (f"{IT_FB}/test_signed_images.py::test_a_promotion_of_an_unsigned_image_is_refused",)),
    Patch("flux-bump: a promotion checks the tag's digest now, not the digest deployed",
          f"{FB}/registrycheck.py", "ref = t.digest or t.tag", "ref = t.tag",
          (f"{IT_FB}/test_signed_images.py::test_a_promotion_checks_the_digest_deployed_not_the_tag_now",)),
    Patch("flux-bump: the OCI 1.1 referrers are not read", f"{FB}/signatures.py",
          "    for ref in _referrers(client, repo, digest):", "    for ref in []:",
          (f"{IT_FB}/test_signed_images.py::test_a_signature_among_the_referrers_counts",)),
    # -- issue 20: the security promises -----------------------------------------------------------
    Patch("tf-apply: a saved plan is applied by a step that did not make it", f"{TF}/planstore.py",
          "    if (record.commit, record.branch, record.pr_id) == (commit, branch, pr_id):\n        return\n",
          "    return\n",
          ("tests/unit/tf_apply", f"{IT_TF}/test_plan_binding.py")),
    Patch("tf-apply: a record not signed with PLAN_SIGNING_KEY is applied", f"{TF}/planstore.py",
          "    if not hmac.compare_digest(record.signature, _signature(record, key)):",
          "    if False:",
          ("tests/unit/tf_apply", f"{IT_TF}/test_plan_binding.py")),
    Patch("tf-apply: Terraform gets the pipe's whole environment", f"{TF}/backend.py",
          "    return proc.child_env(settings, ALLOW, source=base)",
          "    return {**(proc.os.environ if base is None else base), **settings}",
          ("tests/unit/tf_apply", f"{IT_TF}/test_lifecycle.py")),
    Patch("build-push: the push credentials go to a CACHE_FROM on another registry", f"{BP}/pipe.py",
          "        elif engine.pull(ref, auth if own else None):", "        elif engine.pull(ref, auth):",
          (f"{IT_BP}/test_push.py::test_classic_cache_from_on_another_registry_gets_no_credentials",)),
    # -- issue 22: the registry cache does less work ----------------------------------------------------
    Patch("build-push: the default registry cache export uploads every stage", f"{BP}/pipe.py",
          'return f"type=registry,ref={s.image}:{cache_refs(s)[0]},mode=min"',
          'return f"type=registry,ref={s.image}:{cache_refs(s)[0]},mode=max"',
          ("tests/e2e/test_build_push_buildkit.py::"
           "test_the_default_cache_export_uploads_no_layer_outside_the_image",)),
    Patch("build-push: a registry cache found, the branch image and latest read too", f"{BP}/pipe.py",
          "                return [f\"type=registry,ref={s.image}:{ref}\"]\n",
          "                return [f\"type=registry,ref={s.image}:{ref}\", f\"{s.image}:latest\"]\n",
          ("tests/unit/build_push/test_orchestration.py::test_a_registry_cache_found_is_the_only_cache_source",)),
    Patch("flux-bump: a hand-off file git tracks is trusted", "shared/pipes_common/handoff.py",
          "    state = None if linked else tracked(root, resolved)\n    if state is False:\n        return\n",
          "    return\n",
          ("tests/unit/shared", f"{IT_FB}/test_handoff_trust.py")),
    # -- issue 11: the door every variable passes ----------------------------------------------------
    Patch("validate: encoding, control characters and lengths not checked", "shared/pipes_common/variables.py",
          "        for var in self.declared:\n            _check_raw(var, source)\n", "", ("tests/unit/hostile",)),
    Patch("validate: grammars, URLs, paths, keys and cross-checks not checked",
          "shared/pipes_common/runner.py",
          "    declared.check(values, ctx.clone_dir)\n", "", ("tests/unit/hostile",)),
    Patch("tf-apply: an unreachable store found only by terraform init", f"{TF}/oneroot.py",
          "    reach.check(s.endpoint, backend.endpoint_variable(s))\n", "",
          ("tests/unit/hostile/test_corpus.py::test_hostile_input[tf-endpoint-refused-plain]",)),
    # -- issue 28: flux-bump on real GitOps repositories --------------------------------------
    Patch("imageref.same_image compares spellings exactly", "shared/pipes_common/imageref.py",
          "    return a == b or canonical(a) == canonical(b)", "    return a == b",
          ("tests/unit/flux_bump/test_realworld.py",)),
    Patch("flux-bump: an edit writes IMAGE's spelling, not the file's", f"{FB}/references.py",
          "        return ref.name if ref is not None and self.names(ref.name) else self.image",
          "        return self.image", ("tests/unit/flux_bump/test_realworld.py",)),
    Patch("flux-bump: several policies on one image not refused", f"{FB}/engine.py",
          "        if target.policies or len(res.policy_files) < 2:",
          "        if True:", ("tests/unit/flux_bump/test_realworld.py",
                             f"{IT_FB}/test_realworld.py")),
    Patch("flux-bump: a semver downgrade goes through", f"{FB}/guard.py",
          "        if new is None or not versions or allow_downgrade:", "        if True:",
          ("tests/unit/flux_bump/test_realworld.py", f"{IT_FB}/test_realworld.py")),
    Patch("flux-bump: the Receiver's body signed with another key", f"{FB}/receiver.py",
          'hmac.new(token.encode("utf-8"), body,', 'hmac.new(b"", body,',
          ("tests/unit/flux_bump/test_receiver_signature.py", f"{IT_FB}/test_receiver.py")),
    Patch("flux-bump: a failed Receiver call fails the bump", f"{FB}/receiver.py",
          "        return False\n    if 200 <= response.status_code < 300:",
          "        raise\n    if 200 <= response.status_code < 300:",
          (f"{IT_FB}/test_receiver.py",)),
    Patch("build-push: a second key's signature replaces the first", f"{BP}/signatures.py",
          "_manifest(store, repo, [*layers, layer])", "_manifest(store, repo, [layer])",
          (f"{IT_BP}/test_signing.py",)),
    Patch("build-push: a re-run signs again what this key signed", f"{BP}/signatures.py",
          "        if any(mine(existing) for existing in layers):\n            return False\n", "",
          ("tests/unit/build_push/test_orchestration.py", f"{IT_BP}/test_signing.py")),
    Patch("build-push: a signature by another key counts as this key's", f"{BP}/signatures.py",
          "                and key.verifies(signature, blob))", ")",
          (f"{IT_BP}/test_signing.py",)),
    Patch("build-push: a platform of an index is left unsigned", f"{BP}/signatures.py",
          "    return [digest, *dict.fromkeys(images)]", "    return [digest]",
          (f"{IT_BP}/test_signing.py",)),
    # -- docr-retention's promises -------------------------------------------------------------------
    Patch("docr-retention: a signature kept without its image", f"{DR}/policy.py",
          "        if subject in kept_by or subject in world.digests:", "        if True:",
          ("tests/unit/docr_retention",)),
    Patch("docr-retention: an image named by digest in the GitOps repository deleted", f"{DR}/policy.py",
          '    if t.digest in world.digests:\n        return "its digest is named in GITOPS_REPO"\n', "",
          ("tests/unit/docr_retention",)),
    Patch("docr-retention: deletes while a garbage collection runs", f"{DR}/pipe.py",
          "    if active is None:\n        return\n", "    return\n",
          (f"{IT_DR}/test_retention.py::test_a_running_garbage_collection_is_refused_and_nothing_deleted",)),
    Patch("docr-retention: a tag moved since the plan deleted anyway", f"{DR}/pipe.py",
          "        if now.get(d.tag.name) != d.tag.digest:", "        if False:",
          (f"{IT_DR}/test_retention.py::test_a_tag_moved_since_the_plan_is_left_alone",)),
)


def interpreter(root: Path, where: Path) -> Path:
    """A virtualenv in ``where`` that imports the copy ``root``'s packages first, then the
    dependencies of the virtualenv running this script (not its editable installs, which point at
    the working tree); its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    ours = sysconfig.get_path("purelib")
    pipes = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["do-pipes"]["pipes"]
    entries = [root / "shared", *(root / "pipes" / pipe for pipe in pipes), root / "tests", root, Path(ours)]
    (Path(site) / "mutation-copy.pth").write_text("".join(f"{entry}\n" for entry in entries))
    return python


@dataclass(frozen=True)
class Outcome:
    """One pytest run: its exit code, how many tests failed in their own code (a kill) and how many
    errored in setup or teardown (the test bed, not the patch: never a kill), its last line."""
    code: int
    failed: int
    errors: int
    last: str

    @property
    def verdict(self) -> str:
        if self.code == 0:
            return "SURVIVED"
        if self.failed:
            return "killed"
        return f"error ({self.code}: {self.errors} setup/teardown errors, no test failed)"


def _count(report: Path) -> tuple[int, int]:
    """Tests that failed and tests that errored, from pytest's JUnit XML report."""
    try:
        suites = ElementTree.parse(report).getroot()
    except (OSError, ElementTree.ParseError):
        return 0, 0
    cases = list(suites.iter("testcase"))
    failed = sum(1 for case in cases if case.find("failure") is not None)
    errors = sum(1 for case in cases if case.find("error") is not None)
    return failed, errors


def pytest(python: Path, root: Path, tests: tuple[str, ...], timeout: float) -> Outcome:
    report = root.parent / "junit.xml"
    report.unlink(missing_ok=True)
    try:
        proc = subprocess.run([str(python), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                               f"--junitxml={report}", *tests], cwd=root, capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Outcome(-1, 0, 0, "timed out")
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    failed, errors = _count(report)
    return Outcome(proc.returncode, failed, errors, lines[-1] if lines else proc.stderr.strip()[-300:])


def apply(root: Path, patch: Patch) -> str:
    """Apply ``patch`` in ``root``; return the original text. A snippet not found exactly once
    raises: the code moved and the patch must follow it."""
    path = root / patch.path
    text = path.read_text(encoding="utf-8")
    count = text.count(patch.find)
    if count != 1:
        raise SystemExit(f"mutation '{patch.name}': the snippet {patch.find!r} occurs {count} times "
                         f"in {patch.path} (expected once): update the patch in {__file__}")
    path.write_text(text.replace(patch.find, patch.replace), encoding="utf-8")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", action="append", default=[], help="run the patches whose name has this")
    parser.add_argument("--list", action="store_true", help="list the patches and their tests")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unpatched run")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per pytest run")
    args = parser.parse_args()
    chosen = [p for p in PATCHES if not args.k or any(k.lower() in p.name.lower() for k in args.k)]
    if args.list:
        for p in chosen:
            print(f"{p.name}\n  {p.path}: {p.find!r} -> {p.replace!r}\n  tests: {' '.join(p.tests)}")
        return 0
    if not chosen:
        raise SystemExit("no patch matches")
    with tempfile.TemporaryDirectory(prefix="dopipes-mutate-") as tmp:
        root = Path(tmp) / "repo"
        shutil.copytree(ROOT, root, ignore=IGNORE)
        python = interpreter(root, Path(tmp) / "venv")
        for p in chosen:  # every snippet must be there before anything runs
            (root / p.path).write_text(apply(root, p), encoding="utf-8")
        if not args.no_baseline:
            union = tuple(dict.fromkeys(t for p in chosen for t in p.tests))
            base = pytest(python, root, union, args.timeout)
            if base.code != 0:
                raise SystemExit(f"the tests fail without any patch ({base.last}): fix them first")
            print(f"baseline: {base.last}", flush=True)
        rows = []
        for p in chosen:
            original = apply(root, p)
            started = time.monotonic()
            try:
                outcome = pytest(python, root, p.tests, args.timeout)
            finally:
                (root / p.path).write_text(original, encoding="utf-8")
            verdict = outcome.verdict
            rows.append((p, verdict, time.monotonic() - started, outcome.last))
            print(f"{verdict:9} {p.name} ({time.monotonic() - started:.0f}s): {outcome.last}", flush=True)
    print("\n| Mutation | File | Result |\n| --- | --- | --- |")
    for p, verdict, _, _ in rows:
        note = f" (expected until {p.pending})" if verdict == "SURVIVED" and p.pending else ""
        print(f"| {p.name} | `{p.path}` | {verdict}{note} |")
    killed = sum(1 for _, v, _, _ in rows if v == "killed")
    print(f"\n{killed} of {len(rows)} killed.")
    unexpected = [p for p, v, _, _ in rows if v != "killed" and not p.pending]
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
