"""docr-retention: the pipe's story (variables -> what exists and what runs -> the plan -> the
deletions -> garbage collection)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

from pipes_common import log as plog
from pipes_common import runner
from pipes_common.docr import DigitalOceanClient, DOApiError
from pipes_common.errors import PipeError

from . import branches, collect, gitops, policy, report
from .policy import Plan, Tag, World
from .schema import VARIABLES
from .settings import Settings

__all__ = ["VARIABLES", "Settings", "main"]


def main() -> int:
    values, ctx = runner.start(VARIABLES)
    s = Settings.from_values(values, ctx)
    log = plog.get_logger()
    client = DigitalOceanClient(s.token, s.api_url)
    with refusals(s):
        if client.registry(s.registry) is None:
            raise PipeError(f"REGISTRY_NAME: no registry '{s.registry}' in the account of "
                            "DIGITALOCEAN_ACCESS_TOKEN: check the name (registry.digitalocean.com/<name>)")
        refuse_while_collecting(client, s)
        alive = branches.existing(s.branches) if s.branches else None
        refs = gitops.read(s.gitops, s.registry) if s.gitops else gitops.References()
        if s.gitops:
            log.info("GITOPS_REPO: %d YAML files read on %s", refs.files, ", ".join(s.gitops.branches))
        plans = make_plans(client, s, alive, refs)
        for plan in plans:
            for line in report.lines(plan):
                log.info("%s", line)
        if s.dry_run:
            plog.success(f"Dry run: {report.total(plans)} (nothing deleted; set DRY_RUN: 'false' to delete)")
            return 0
        refuse_while_collecting(client, s)  # checked again right before acting
        deleted = sum(delete(client, s, plan) for plan in plans)
        if not deleted or not s.garbage_collection:
            plog.success(f"{deleted} tags deleted; {report.total(plans)}"
                         + ("" if not deleted else "; garbage collection not started (GARBAGE_COLLECTION false)"))
            return 0
        with refusals(s, "registry:create"):
            outcome = collect.run(client, s.registry, s.gc_wait)
        how = "started" if outcome.started_here else "already running, joined"
        if outcome.running:
            plog.success(f"{deleted} tags deleted; garbage collection {outcome.uuid} ({how}) is still "
                         f"{outcome.status} after GC_WAIT {values['GC_WAIT']}: the registry is read-only until it "
                         "ends (doctl registries garbage-collection get-active " + s.registry + ")")
            return 0
        if outcome.status != "succeeded":
            raise PipeError(f"Garbage collection {outcome.uuid} ended {outcome.status or 'without a status'}: "
                            f"{deleted} tags were deleted; run the pipe again to start another")
        plog.success(f"{deleted} tags deleted; garbage collection {outcome.uuid} ({how}) freed "
                     f"{report.size(outcome.freed_bytes or 0)}")
        return 0


def refuse_while_collecting(client: DigitalOceanClient, s: Settings) -> None:
    active = client.active_garbage_collection(s.registry)
    if active is None:
        return
    message = (f"Garbage collection {active.get('uuid', '')} of {s.registry} is {active.get('status')} "
               f"(since {active.get('created_at', '?')}): the registry is read-only until it ends")
    if s.dry_run:
        plog.get_logger().warning("%s; the plan below is still shown", message)
        return
    raise PipeError(f"{message}; nothing was deleted: run the pipe again when it has ended "
                    f"(doctl registries garbage-collection get-active {s.registry})")


def make_plans(client: DigitalOceanClient, s: Settings, alive: frozenset[str] | None,
               refs: gitops.References) -> list[Plan]:
    names = list(s.repositories) or sorted(str(r.get("name")) for r in client.repositories(s.registry))
    now = datetime.now(UTC)
    digests = frozenset(refs.digests)
    return [policy.plan(name, tags(client, s, name), s.policy, World(now, alive, refs.of(name), digests))
            for name in names]


def tags(client: DigitalOceanClient, s: Settings, repository: str) -> list[Tag]:
    try:
        rows = client.tags(s.registry, repository)
    except DOApiError as err:
        if err.status == 404:
            raise PipeError(f"REPOSITORIES: '{repository}' is not a repository of {s.registry}: list "
                            "existing ones, or leave REPOSITORIES unset for all") from None
        raise
    found = []
    for row in rows:
        try:
            found.append(Tag(str(row["tag"]), str(row["manifest_digest"]), int(row.get("compressed_size_bytes") or 0),
                             datetime.fromisoformat(str(row["updated_at"]).replace("Z", "+00:00"))))
        except (KeyError, ValueError, TypeError):
            raise PipeError(f"The DigitalOcean API listed a tag of {repository} without a name, digest or "
                            "update time: nothing was deleted; run the pipe again later") from None
    return found


def delete(client: DigitalOceanClient, s: Settings, plan: Plan) -> int:
    """Delete the plan's tags that still point where the plan saw them; the count deleted."""
    if not plan.deleted:
        return 0
    now = {t.name: t.digest for t in tags(client, s, plan.repository)}
    count = 0
    for d in plan.deleted:
        if now.get(d.tag.name) != d.tag.digest:
            plog.get_logger().warning("%s:%s moved or went since the plan: left alone",
                                      report.shown(plan.repository), report.shown(d.tag.name))
            continue
        with refusals(s, "registry:delete"):
            client.delete_tag(s.registry, plan.repository, d.tag.name)
        count += 1
    plog.get_logger().info("%s: %d tags deleted", report.shown(plan.repository), count)
    return count


@contextlib.contextmanager
def refusals(s: Settings, scope: str = "registry:read") -> Iterator[None]:
    """DigitalOcean API refusals as one line naming the token and the scope it lacks (``scope``:
    what the calls inside need), or the registry's read-only state."""
    try:
        yield
    except DOApiError as err:
        if err.status == 401:
            raise PipeError("DIGITALOCEAN_ACCESS_TOKEN was refused (401): it is invalid, expired or "
                            "revoked") from None
        if err.status == 403:
            raise PipeError(f"DIGITALOCEAN_ACCESS_TOKEN lacks the {scope} scope (403): give the token "
                            "registry:read, registry:delete and registry:create") from None
        if err.status in (409, 412, 423):
            raise PipeError(f"The registry {s.registry} is read-only ({str(err)[:200]}): garbage collection "
                            "or maintenance; run the pipe again when it has ended") from None
        raise
