"""The sections every pipe README shares: "Why this pipe" with measured numbers only (each one in
docs/BENCHMARKS.md, which it links), one Support text, the license named, the outputs a later step needs
shown with ``artifacts:``; and the credential advice the same everywhere (no app password, one variable
for the GitOps token, a Spaces key that may delete)."""
from __future__ import annotations

import re
import typing

import pytest
import yaml
from pipes_common import contracts
from testbed.pipes import PACKAGES, REPO_ROOT

PIPES = sorted(PACKAGES)
# the pipes whose outputs a later pipe reads: those with a contract (pipes_common.contracts)
HANDING_OVER = sorted(cls.PIPE for cls in typing.get_args(contracts.Outputs))
BENCHMARKS = (REPO_ROOT / "docs" / "BENCHMARKS.md").read_text()
# the sections a pipe's numbers come from: every heading of docs/BENCHMARKS.md that names the pipe
# ("## build-push", "## build-push on the modern engine"); a pipe without one claims no numbers
SECTIONS = {pipe: [heading for heading in re.findall(r"^## .*$", BENCHMARKS, flags=re.M)
                   if re.search(rf"(?<![\w-]){re.escape(pipe)}(?![\w-])", heading)] for pipe in PIPES}
NUMBER = re.compile(r"(?<![\w.-])\d+(?:\.\d+)?(?![\w.]*\d)")


def readme(pipe: str) -> str:
    return (REPO_ROOT / "pipes" / pipe / "README.md").read_text()


def section(text: str, heading: str) -> str:
    assert f"\n{heading}\n" in text, heading
    return text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]


def numbers(text: str) -> list[str]:
    return NUMBER.findall(text)


def results(pipe: str | None = None) -> str:
    """docs/BENCHMARKS.md's results (of ``pipe``'s sections), without raw per-run lists."""
    parts = re.split(r"^(?=## )", BENCHMARKS, flags=re.M)
    wanted = [part for part in parts if pipe is None or part.splitlines()[0] in SECTIONS[pipe]]
    text = "".join(wanted)
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not re.match(r"- [AB] .*: [\d./, ]+$", line))


def measured(number: str, pipe: str | None = None, text: str | None = None) -> bool:
    """Whether ``number`` is a whole number of ``text`` (default: the results of ``pipe``)."""
    found = re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", results(pipe) if text is None else text)
    return found is not None


def test_numbers_are_read_as_numbers() -> None:
    assert numbers("0.38 s instead of 6.94 s (0.055x), 20 Mbit/s, 5000 manifests, sha-1") == [
        "0.38", "6.94", "0.055", "20", "5000"]
    row = "| (a) rerun | 4.20 s | 0.38 s | 0.091× | 0.084–0.110× |"
    assert measured("0.091", text=row) and not measured("0.09", text=row)
    assert not measured("25.12")
    assert not measured("0.091", "flux-bump")
    assert not measured("1.16", "tf-apply")  # only in a raw per-run list


def test_a_pipes_sections_are_the_headings_naming_it() -> None:
    assert {"## build-push", "## build-push on the modern engine", "## build-push signing"} <= \
        set(SECTIONS["build-push"])
    assert {"## flux-bump", "## Several images in one flux-bump"} <= set(SECTIONS["flux-bump"])
    assert {"## tf-apply", "## tf-apply over many roots"} <= set(SECTIONS["tf-apply"])
    assert SECTIONS["docr-retention"] == ["## docr-retention"]
    for pipe, headings in SECTIONS.items():  # a heading naming another pipe is not this pipe's
        assert all(other not in h for h in headings for other in SECTIONS
                   if other != pipe and other not in pipe), (pipe, headings)


@pytest.mark.parametrize("pipe", PIPES)
def test_why_this_pipe_is_near_the_top_with_measured_numbers(pipe: str) -> None:
    """A pipe with a section in docs/BENCHMARKS.md says why near the top, with its numbers only;
    a pipe without one (not measured yet) may have no "Why this pipe", and then claims no number."""
    text = readme(pipe)
    if not SECTIONS[pipe]:
        assert "## Why this pipe" not in text or numbers(section(text, "## Why this pipe")) == [], \
            f"{pipe} claims numbers docs/BENCHMARKS.md has no section for"
        return
    assert text.index("## Why this pipe") < text.index("## YAML Definition")
    why = section(text, "## Why this pipe")
    assert "(../../docs/BENCHMARKS.md)" in why
    found = numbers(why)
    assert len(found) >= 2, "a why with no measured gain"
    assert [n for n in found if not measured(n, pipe)] == [], f"numbers docs/BENCHMARKS.md has not for {pipe}"


def test_the_root_why_has_measured_numbers_only() -> None:
    why = section((REPO_ROOT / "README.md").read_text(), "## Why")
    assert "(docs/BENCHMARKS.md)" in why
    assert [n for n in numbers(why) if not measured(n)] == []


def test_one_support_text_and_the_license() -> None:
    supports = {pipe: section(readme(pipe), "## Support") for pipe in PIPES}
    assert len(set(supports.values())) == 1, "the pipes' Support sections differ"
    assert "DEBUG: 'true'" in next(iter(supports.values()))
    for pipe in PIPES:
        assert "MIT" in section(readme(pipe), "## License")
        assert "(../../LICENSE)" in section(readme(pipe), "## License")
    license_text = (REPO_ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in license_text


@pytest.mark.parametrize("pipe", HANDING_OVER)
def test_outputs_show_the_artifacts_a_later_step_needs(pipe: str) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", readme(pipe), re.S)
    kept = []
    for block in blocks:
        document = yaml.safe_load(block)
        items = document if isinstance(document, list) else []
        steps = [item["step"] for item in items if isinstance(item, dict) and "step" in item]
        for index, step in enumerate(steps[:-1]):
            later = " ".join(str(s["script"]) for s in steps[index + 1:])
            if ".do-pipes/**" in (step.get("artifacts") or []) and ".do-pipes/" in later:
                kept.append(step["name"])
    assert kept, "no example keeps .do-pipes/ as an artifact for a later step that reads it"


def test_credentials_are_advised_alike() -> None:
    texts = {path.relative_to(REPO_ROOT).as_posix(): path.read_text() for path in [
        REPO_ROOT / "README.md", *sorted(REPO_ROOT.glob("pipes/*/README.md")),
        *sorted(REPO_ROOT.glob("docs/**/*.md")), *sorted(REPO_ROOT.glob("docs/examples/*.yml"))]}
    for where, text in texts.items():
        # an app password is only ever named as something that no longer works
        for paragraph in re.split(r"\n\s*\n", text):
            if re.search(r"app.?password", paragraph, re.I):
                assert re.search(r"no longer work|stopped working", paragraph), (where, paragraph[:200])
        # flux-bump's access token is the one GITOPS_ACCESS_TOKEN everywhere
        for block in re.findall(r"flux-bump:[\d.]+\n(.*?)(?=\n\s*- (?:pipe|step)|\Z)", text, re.S):
            for value in re.findall(r"^\s*BITBUCKET_ACCESS_TOKEN: (\S+)", block, re.M):
                assert value == "$GITOPS_ACCESS_TOKEN", (where, value)
    prerequisites = section(texts["pipes/build-push/README.md"], "## Prerequisites")
    assert "`registry:read`" in prerequisites and "`registry:update`" in prerequisites


def _chunks(text: str) -> list[str]:
    """The paragraphs of ``text``, a table's rows one by one (a claim and its condition share one)."""
    found: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = paragraph.strip().splitlines()
        found += lines if lines and all(line.startswith("|") for line in lines) else [paragraph]
    return found


def _docs() -> dict[str, str]:
    return {path.relative_to(REPO_ROOT).as_posix(): path.read_text() for path in [
        REPO_ROOT / "README.md", *sorted(REPO_ROOT.glob("pipes/*/README.md")),
        *sorted(REPO_ROOT.glob("docs/**/*.md")), *sorted(REPO_ROOT.glob("docs/examples/*.yml"))]}


def test_api_token_scopes_include_the_read_scopes() -> None:
    """Atlassian's API token permissions: a write scope does not include its read scope, and flux-bump
    reads (the clone, its open pull request) before it writes. Wherever a write scope is listed, its
    read scope is listed with it."""
    seen = 0
    for where, text in _docs().items():
        for chunk in _chunks(text):
            for resource in re.findall(r"write:(\w+):bitbucket", chunk):
                seen += 1
                assert f"read:{resource}:bitbucket" in chunk, (where, chunk[:300])
    assert seen >= 8
    for where in ("docs/getting-started.md", "pipes/flux-bump/README.md"):
        text = _docs()[where]
        assert "`read:repository:bitbucket`" in text and "`read:pullrequest:bitbucket`" in text, where
    assert [c for c in _chunks("a `write:repository:bitbucket`\n\nb `read:repository:bitbucket`")
            if "write:" in c and "read:" not in c]


def test_access_keys_only_read_and_premium_is_named() -> None:
    """Bitbucket Cloud's repository access keys are read-only (no "deploy key with write access");
    project and workspace access tokens and deployment permissions are Premium features, said so
    wherever they are offered."""
    for where, text in _docs().items():
        assert not re.search(r"deploy key|access key with write", text, re.I), where
        for chunk in _chunks(text):
            if re.search(r"(project|workspace)(,| or| and)? (or |and )?(project |workspace )?access tokens?"
                         r"|deployment permissions", chunk, re.I):
                assert "Premium" in chunk, (where, chunk[:300])
    guide = _docs()["docs/getting-started.md"]
    assert "read access only" in guide and "Premium" in guide
