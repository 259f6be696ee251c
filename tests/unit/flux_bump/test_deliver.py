"""Delivery (push with retry, pull request) against a fake of the pipe's git port: the order of
commits, pushes, waits and rescans, in milliseconds (the real git servers are the integration
tests' job)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flux_bump import deliver, engine
from flux_bump.auth import Remote
from flux_bump.bbapi import PullRequest
from flux_bump.references import Target
from pipes_common.errors import PipeError

TARGET = Target("reg.io/web", "2.0.0")


@dataclass
class FakeGit:
    """Answers push attempts from a script: ``(ok, retryable)`` per push, then success."""

    script: list[tuple[bool, bool]] = field(default_factory=list)
    replay: bool = True  # whether reapply can replay the commit onto the new tip
    calls: list[tuple[object, ...]] = field(default_factory=list)
    commits: int = 0

    def head(self) -> str:
        return f"base{self.commits}"

    def commit(self, files: list[str], message: str) -> str:
        self.commits += 1
        self.calls.append(("commit", tuple(files), message))
        return f"c{self.commits}"

    def push(self, local: str, branch: str, force: bool = False) -> tuple[bool, bool, str]:
        self.calls.append(("push", local, branch, force))
        ok, retryable = self.script.pop(0) if self.script else (True, False)
        return ok, retryable, "" if ok else "! [rejected] main -> main (fetch first)"

    def fetch_tip(self, branch: str) -> str:
        self.calls.append(("fetch_tip", branch))
        return f"tip{len(self.calls)}"

    def reapply(self, base: str, ours: str, tip: str, branch: str, selected: Callable[[str], bool],
                needles: Sequence[str]) -> str | None:
        self.calls.append(("reapply", ours, tip))
        return f"{ours}-on-{tip}" if self.replay else None

    def explain(self, stderr: str, branch: str) -> PipeError:
        return PipeError(f"explained: {stderr}")

    existing: str | None = None  # the pull-request branch's tip on the server, if it exists
    owner: list[str] = field(default_factory=list)  # its tip's Flux-Bump-Branch trailer values
    remote: Remote = field(default_factory=lambda: Remote("https://h/acme/gitops.git", "https", "h",
                                                          "/acme/gitops.git"))

    def fetch_branch(self, branch: str) -> None:
        self.calls.append(("fetch_branch", branch))

    def trailer(self, commit: str, key: str) -> list[str]:
        assert key == "Flux-Bump-Branch"
        return self.owner

    def remote_tip(self, branch: str) -> str | None:
        self.calls.append(("remote_tip", branch))
        return self.existing

    def onto_branch(self, commit: str, branch: str, tip: str) -> str | None:
        self.calls.append(("onto_branch", commit, tip))
        return f"{commit}-after-{tip}"

    deleted: list[str] = field(default_factory=list)

    def delete_branch(self, branch: str, pushed: str) -> bool:
        self.calls.append(("delete_branch", branch, pushed))
        self.deleted.append(branch)
        return True


@pytest.fixture()
def repo(tmp_path: Path) -> tuple[Path, engine.Result]:
    (tmp_path / "a.yaml").write_text("image: reg.io/web:1.0.0\n")
    return tmp_path, engine.scan(tmp_path, TARGET)


@pytest.fixture()
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("flux_bump.deliver.time.sleep", slept.append)
    return slept


def push(git: FakeGit, repo: tuple[Path, engine.Result], retries: int = 5,
         refresh: Callable[[], engine.Result] | None = None) -> deliver.Delivered:
    root, result = repo

    def no_refresh() -> engine.Result:
        raise AssertionError("no rescan expected")

    return deliver.push_with_retry(git, root, "main", result, refresh or no_refresh,  # type: ignore[arg-type]
                                   lambda res: "Bump", retries, lambda p: True, ["web"])


def pushes(git: FakeGit) -> list[tuple[object, ...]]:
    return [c[1:] for c in git.calls if c[0] == "push"]


def test_first_push_lands(repo: tuple[Path, engine.Result], waits: list[float]) -> None:
    git = FakeGit()
    done = push(git, repo)
    assert (done.commit, done.attempts) == ("c1", 1)
    assert git.calls == [("commit", ("a.yaml",), "Bump"), ("push", "c1", "main", False)]
    assert (repo[0] / "a.yaml").read_text() == "image: reg.io/web:2.0.0\n"  # written before the commit
    assert waits == []


def test_moved_branch_is_retried_with_backoff_never_forced(repo: tuple[Path, engine.Result],
                                                           waits: list[float]) -> None:
    git = FakeGit(script=[(False, True), (False, True)])
    done = push(git, repo)
    assert done.attempts == 3 and done.commit == "c1-on-tip3-on-tip6"
    assert pushes(git) == [("c1", "main", False), ("c1-on-tip3", "main", False),
                           ("c1-on-tip3-on-tip6", "main", False)]
    assert [c[0] for c in git.calls].count("commit") == 1  # replayed, not committed again
    # short exponential backoff with full jitter: retry n waits up to 0.25 * 2^(n-1) s
    assert len(waits) == 2 and 0 <= waits[0] <= 0.25 and 0 <= waits[1] <= 0.5


def test_backoff_window_grows_and_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("flux_bump.deliver.random.uniform", lambda low, high: high)  # the top of the window
    assert [deliver.backoff(n) for n in (1, 2, 3, 4, 6, 20)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


def test_not_retryable_rejection_is_explained(repo: tuple[Path, engine.Result],
                                              waits: list[float]) -> None:
    git = FakeGit(script=[(False, False)])
    with pytest.raises(PipeError, match="explained"):
        push(git, repo)
    assert len(pushes(git)) == 1 and waits == []


def test_retries_run_out(repo: tuple[Path, engine.Result], waits: list[float]) -> None:
    git = FakeGit(script=[(False, True)] * 3)
    with pytest.raises(PipeError, match="rejected 3 times because the branch kept moving"):
        push(git, repo, retries=2)
    assert len(pushes(git)) == 3 and len(waits) == 2
    assert all(force is False for *_, force in pushes(git))


def test_new_tip_is_rescanned_when_the_commit_cannot_be_replayed(repo: tuple[Path, engine.Result],
                                                                 waits: list[float]) -> None:
    root, _ = repo
    git = FakeGit(script=[(False, True)], replay=False)
    rescans: list[int] = []

    def refresh() -> engine.Result:  # the new tip already holds the change
        rescans.append(1)
        (root / "a.yaml").write_text("image: reg.io/web:2.0.0\n")
        return engine.scan(root, TARGET)

    done = push(git, repo, refresh=refresh)
    assert done.commit is None and rescans == [1]
    assert len(pushes(git)) == 1


class Client:
    """The pull-request API: answers create/update, or fails with ``fail``."""

    def __init__(self, fail: str | None = None) -> None:
        self.fail = fail
        self.calls: list[tuple[object, ...]] = []

    def create(self, *args: object) -> PullRequest:
        self.calls.append(("create", *args))
        if self.fail:
            raise PipeError(self.fail)
        return PullRequest(7, "https://bitbucket.org/acme/gitops/pull-requests/7", created=True)

    def update(self, *args: object) -> PullRequest:
        self.calls.append(("update", *args))
        if self.fail:
            raise PipeError(self.fail)
        return PullRequest(7, "https://bitbucket.org/acme/gitops/pull-requests/7", created=False)


def open_pr(git: FakeGit, repo: tuple[Path, engine.Result], client: Client,
            existing: PullRequest | None = None, message: str = "Bump web\n\nbody",
            branch: str | None = None) -> deliver.Delivered:
    root, result = repo
    return deliver.pull_request(git, root, "main", branch or deliver.pr_branch("reg.io/web", "2.0.0"),  # type: ignore[arg-type]
                                result, message, client, "acme", "gitops", existing=existing,  # type: ignore[arg-type]
                                named=branch is not None)


@pytest.mark.parametrize("existing", [None, "old-tip"])
def test_pull_request_uses_its_own_branch_never_forced(repo: tuple[Path, engine.Result],
                                                       existing: str | None) -> None:
    git = FakeGit(existing=existing)
    client = Client()
    branch = deliver.pr_branch("reg.io/web", "2.0.0")
    done = open_pr(git, repo, client)
    # a new branch gets the commit; an existing one is moved forward from its tip: never forced
    pushed = "c1" if existing is None else "c1-after-old-tip"
    assert pushes(git) == [(pushed, branch, False)]
    assert client.calls == [("create", "acme", "gitops", branch, "main", "Bump web", "body", (), True)]
    assert (done.branch, done.commit, done.pr) == (
        branch, pushed, PullRequest(7, "https://bitbucket.org/acme/gitops/pull-requests/7", True))


def test_the_open_pull_request_is_updated(repo: tuple[Path, engine.Result]) -> None:
    client = Client()
    open_pr(FakeGit(existing="old-tip"), repo, client,
            existing=PullRequest(3, "https://bitbucket.org/acme/gitops/pull-requests/3", False))
    assert client.calls == [("update", "acme", "gitops", 3, "Bump web", "body", (), True)]


def test_a_pull_request_that_cannot_be_opened_deletes_the_branch_it_pushed(
        repo: tuple[Path, engine.Result]) -> None:
    git = FakeGit()
    branch = deliver.pr_branch("reg.io/web", "2.0.0")
    with pytest.raises(PipeError, match=f"refused \\(403\\); the branch {branch} pushed for it "
                                        "was deleted again"):
        open_pr(git, repo, Client(fail="refused (403)"))
    assert [c[0] for c in git.calls] == ["remote_tip", "commit", "push", "delete_branch"]
    assert git.deleted == [branch]
    # a lease on the commit pushed: a branch someone moved since is left alone
    assert git.calls[-1] == ("delete_branch", branch, "c1")


def test_a_branch_that_was_there_before_is_not_deleted(repo: tuple[Path, engine.Result]) -> None:
    git = FakeGit(existing="old-tip")
    with pytest.raises(PipeError, match=r"^refused \(403\)$"):
        open_pr(git, repo, Client(fail="refused (403)"))
    assert git.deleted == []


def test_an_empty_title_stops_before_the_commit(repo: tuple[Path, engine.Result]) -> None:
    git = FakeGit()
    with pytest.raises(PipeError, match="COMMIT_MESSAGE gives an empty first line"):
        open_pr(git, repo, Client(), message="\n\nonly a body")
    assert git.calls == []


def test_every_pull_request_commit_says_which_branch_it_was_made_for(
        repo: tuple[Path, engine.Result]) -> None:
    git = FakeGit()
    open_pr(git, repo, Client())
    branch = deliver.pr_branch("reg.io/web", "2.0.0")
    assert git.calls[1] == ("commit", ("a.yaml",), f"Bump web\n\nbody\n\nFlux-Bump-Branch: {branch}\n")


@pytest.mark.parametrize(("owner", "named"), [
    ([], True),                         # production: someone else's branch, no trailer
    (["flux-bump/web-1"], True),        # made by the pipe for another branch, then merged there
    (["flux-bump/web-1"], False),
])
def test_branch_name_naming_a_branch_someone_else_owns_is_refused(
        repo: tuple[Path, engine.Result], owner: list[str], named: bool) -> None:
    git = FakeGit(existing="their-tip", owner=owner)
    branch = "production" if named else None
    client = Client()
    with pytest.raises(PipeError, match=r"'(production|flux-bump/web-2\.0\.0-[0-9a-f]{8})', a "
                                        r"branch that exists in .* that flux-bump did not make"):
        open_pr(git, repo, client, branch=branch)
    assert [c[0] for c in git.calls] == ["remote_tip", "fetch_branch"]  # nothing committed or pushed
    assert client.calls == []


@pytest.mark.parametrize(("owner", "named"), [(["production"], True), ([], False)])
def test_a_branch_the_pipe_made_is_moved_forward(repo: tuple[Path, engine.Result],
                                                 owner: list[str], named: bool) -> None:
    """Its own trailer, or (default name only) a branch of an earlier release without one."""
    git = FakeGit(existing="old-tip", owner=owner)
    done = open_pr(git, repo, Client(), branch="production" if named else None)
    assert done.commit == "c1-after-old-tip"
