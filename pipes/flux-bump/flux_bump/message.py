"""The commit message: the ``COMMIT_MESSAGE`` template or a default that says what changed."""
from __future__ import annotations

import string

from pipes_common.errors import PipeError

from .engine import Result
from .references import Target

FIELDS = ("image", "tag", "digest", "old", "files", "commit", "build_url")


def fields(target: Target, result: Result, commit: str | None, build_url: str | None) -> dict[str, str]:
    olds = sorted({f.old for _, f in result.changed if f.old})
    return {
        "image": target.image, "tag": target.tag, "digest": target.digest or "",
        "old": ", ".join(olds), "files": ", ".join(c.path for c in result.changes),
        "commit": commit or "", "build_url": build_url or "",
    }


def render(template: str | None, target: Target, result: Result, commit: str | None,
           build_url: str | None) -> str:
    values = fields(target, result, commit, build_url)
    if template:
        for _, name, _, _ in _parse(template):
            if name is not None and name not in FIELDS:
                raise PipeError(f"COMMIT_MESSAGE uses {{{name}}}, which is not a field: use "
                                f"{', '.join('{' + f + '}' for f in FIELDS)} (write {{{{ }}}} for braces)")
        return template.format(**values).strip() + "\n"
    lines = [f"Bump {target.image} to {target.tag}", ""]
    for path, found in result.changed:
        lines.append(f"{path}:{found.line} {found.field}: {found.old or '(none)'} -> {found.new}")
    if commit:
        lines.append(f"\nSource commit: {commit}")
    if build_url:
        lines.append(f"Build: {build_url}")
    return "\n".join(lines).strip() + "\n"


def _parse(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(template))
    except ValueError:
        raise PipeError("COMMIT_MESSAGE has an unmatched brace: write {{ and }} for literal "
                        "braces") from None
