"""Every place a user copies a pipe image from names the one public location of ``release.toml``:
``pipe.yml``'s ``image:``, every ``pipe:`` line and ``docker run`` image of the READMEs (the root one,
each pipe's, any under docs/) and of the example files, at the pipe's released version. The release
step logs in to that same registry."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from testbed.pipes import PACKAGES, REPO_ROOT
from testbed.release import load

release = load()
PIPES = sorted(PACKAGES)
TOKEN = re.compile(r"[^\s'\"`()<>\[\],]+")
# a released image: a version tag (X.Y.Z, or the floating X.Y and X) or latest. The test bed's own
# local names (do-pipes/build-push:test, :bench in docs/BENCHMARKS.md) are not releases.
REFERENCE = re.compile(rf"(?:docker://)?(?:(?P<repo>\S+)/)?(?P<pipe>{'|'.join(map(re.escape, PIPES))})"
                       r":(?P<tag>\d+(?:\.\d+){0,2}|latest)")


def version(pipe: str) -> str:
    found = [release.as_version(p.stem) for p in (REPO_ROOT / "pipes" / pipe / ".semversioner").glob("*.json")
             if re.fullmatch(r"\d+\.\d+\.\d+", p.stem)]
    return ".".join(map(str, max(found)))


def public(pipe: str) -> str:
    return f"{release.public_image(REPO_ROOT, pipe)}:{version(pipe)}"


def documents() -> list[Path]:
    """The READMEs and example files users copy from."""
    found = [REPO_ROOT / "README.md", *sorted(REPO_ROOT.glob("pipes/*/README.md")),
             *sorted(REPO_ROOT.glob("docs/**/*.md")), *sorted(REPO_ROOT.glob("docs/examples/*.yml")),
             *sorted(REPO_ROOT.glob("docs/examples/*.yaml"))]
    return [path for path in found if path.is_file()]


def references(text: str) -> list[tuple[int, str, re.Match[str]]]:
    """(line number, token, match) of every image reference to one of our pipes."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for token in TOKEN.findall(line):
            match = REFERENCE.fullmatch(token)
            if match:
                found.append((number, token, match))
    return found


def test_release_toml_names_a_public_registry() -> None:
    registry = release.public_registry(REPO_ROOT)
    host, _, namespace = registry.partition("/")
    assert host and namespace and "/" not in namespace
    assert "digitalocean" not in host, "DOCR registries are private: Bitbucket could not pull the pipes"
    if host == "docker.io":
        assert re.fullmatch(r"[a-z0-9]{4,30}", namespace), "Docker Hub: 4-30 lowercase letters and digits"


def test_the_short_form_is_docker_hubs_only() -> None:
    assert release.public_image(REPO_ROOT, "build-push") == (
        release.public_registry(REPO_ROOT).removeprefix("docker.io/") + "/build-push")


@pytest.mark.parametrize("pipe", PIPES)
def test_pipe_yml_names_the_public_image(pipe: str) -> None:
    meta = yaml.safe_load((REPO_ROOT / "pipes" / pipe / "pipe.yml").read_text())
    assert meta["image"] == public(pipe)


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_image_reference_is_the_public_one(path: Path) -> None:
    text = path.read_text()
    found = references(text)
    wrong = [f"line {n}: {token} (want {public(m['pipe'])})" for n, token, m in found
             if token.removeprefix("docker://") != public(m["pipe"])]
    assert not wrong, "\n".join(wrong)
    # Bitbucket takes an image from a registry (Docker Hub included) only as docker://<image>;
    # without the scheme, <a>/<b>:<tag> names a pipe repository on Bitbucket
    pipe_lines = [line.strip() for line in text.splitlines() if re.match(r"\s*-?\s*pipe:\s", line)
                  and REFERENCE.search(line)]
    bare = [line for line in pipe_lines if not re.fullmatch(r"-?\s*pipe:\s+docker://\S+", line)]
    assert not bare, bare
    assert "registry.digitalocean.com/do-pipes" not in text


def test_the_scan_sees_every_pipes_readme_reference() -> None:
    # the scan itself must find references: each pipe's README names its own image
    for pipe in PIPES:
        found = references((REPO_ROOT / "pipes" / pipe / "README.md").read_text())
        assert any(m["pipe"] == pipe for _, _, m in found), pipe
    assert [t for _, t, _ in references("- pipe: docker://registry.example/ns/tf-apply:9.9.9\n")] == [
        "docker://registry.example/ns/tf-apply:9.9.9"]


def test_the_release_step_logs_in_to_that_registry() -> None:
    config = yaml.safe_load((REPO_ROOT / "bitbucket-pipelines.yml").read_text())
    step = next(e["step"] for e in config["pipelines"]["tags"]["*-v*"] if "release.py" in str(e.get("step")))
    logins = [line for line in step["script"] if re.search(r"\bdocker login\b", line)]
    assert len(logins) == 1, logins
    login = logins[0]
    # the password from a secured variable, on standard input only
    assert "--password-stdin" in login and re.match(r'echo "\$\w+" \| docker login ', login)
    assert not re.search(r"(-p|--password)[ =]", login)
    host = release.public_registry(REPO_ROOT).split("/", 1)[0]
    server = login.split("docker login", 1)[1].split()
    named = [word for word in server if not word.startswith(("-", '"$', "$"))]
    # Docker Hub is docker login's default server; any other registry is named
    assert named == ([] if host == "docker.io" else [host]), login
