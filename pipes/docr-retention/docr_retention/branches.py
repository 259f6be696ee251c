"""The branches of the application repository that still exist, as build-push names their tags."""
from __future__ import annotations

from pipes_common import bbapi
from pipes_common.errors import PipeError
from pipes_common.imageref import tag_safe

from .settings import Branches

MAX_PAGES = 100  # of 100 branches each
CAUSES = {
    403: "it lacks read:repository:bitbucket (Repositories Read) on the application repository",
    404: ("SOURCE_REPOSITORY (or the step's repository) was not found: use an access token of that repository, "
          "its project or workspace, or check SOURCE_REPOSITORY and BITBUCKET_API_URL"),
}


def existing(branches: Branches) -> frozenset[str]:
    """The tag-safe names of every branch (all pages, or an error: a branch missing from the list
    would have its tags deleted)."""
    api = bbapi.BitbucketApi(bbapi.bearer(branches.token), branches.api_url, causes=CAUSES)
    path: str | None = bbapi.repo_path(branches.workspace, branches.slug, "refs", "branches")
    params: dict[str, object] | None = {"pagelen": 100, "fields": "values.name,next"}
    names: set[str] = set()
    for _ in range(MAX_PAGES):
        assert path is not None
        page = api.request("GET", path, params=params)
        names.update(tag_safe(str(v["name"])) for v in page.get("values") or [] if isinstance(v, dict)
                     and v.get("name"))
        path, params = str(page.get("next") or "") or None, None
        if path is None:
            return frozenset(names)
        if not path.startswith(api.api_url + "/"):  # the token goes nowhere else
            raise PipeError(f"BITBUCKET_API_URL: the branch listing points to another host ({path[:80]}): "
                            "check BITBUCKET_API_URL")
    raise PipeError(f"SOURCE_REPOSITORY has more than {MAX_PAGES * 100} branches: the pipe cannot tell which "
                    "exist; drop BITBUCKET_ACCESS_TOKEN (no branch is then taken as deleted)")
