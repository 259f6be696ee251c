"""The commit message: the ``COMMIT_MESSAGE`` template or a default that says what changed."""
from __future__ import annotations

import string
from collections.abc import Sequence

from pipes_common.errors import PipeError

from .engine import Result
from .references import Target

FIELDS = ("image", "tag", "digest", "short_digest", "images", "old", "files", "commit",
          "build_url")


def short_digest(digest: str | None) -> str:
    """``sha256:`` and the first 12 hex digits (what ``docker images`` shows), or ''."""
    if not digest:
        return ""
    algo, _, hexa = digest.partition(":")
    return f"{algo}:{hexa[:12]}"


def _ref(target: Target) -> str:
    return f"{target.image}:{target.tag}" + (f"@{target.digest}" if target.digest else "")


def fields(target: Target | Sequence[Target], result: Result, commit: str | None,
           build_url: str | None) -> dict[str, str]:
    """The template fields; with several images, ``image``, ``tag``, ``digest`` and
    ``short_digest`` list each image's in order (comma-separated) and ``images`` has every
    ``image:tag[@digest]``."""
    targets = [target] if isinstance(target, Target) else list(target)
    olds = sorted({f.old for _, f in result.changed if f.old})
    return {
        "image": ", ".join(t.image for t in targets), "tag": ", ".join(t.tag for t in targets),
        "digest": ", ".join(t.digest or "" for t in targets if t.digest),
        "short_digest": ", ".join(short_digest(t.digest) for t in targets if t.digest),
        "images": ", ".join(_ref(t) for t in targets),
        "old": ", ".join(olds), "files": ", ".join(c.path for c in result.changes),
        "commit": commit or "", "build_url": build_url or "",
    }


def check_template(template: str, variable: str = "COMMIT_MESSAGE",
                   names: Sequence[str] = FIELDS) -> None:
    """Only plain ``{field}`` names: a format spec or a conversion (``{tag:>9999999999}``,
    ``{tag!r}``) is refused before anything is filled in, since a spec can make the text of any
    size."""
    for _, name, spec, conversion in _parse(template, variable):
        if name is None:
            continue
        if name not in names:
            raise PipeError(f"{variable} uses {{{name[:40]}}}, which is not a field: use "
                            f"{', '.join('{' + f + '}' for f in names)} (write {{{{ }}}} for braces)")
        if spec or conversion:
            extra = (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise PipeError(f"{variable} uses {{{name}{extra[:40]}}}: a format spec or conversion "
                            f"is not allowed; write the plain field {{{name}}} (and {{{{ }}}} for "
                            "braces)")
    _format(template, dict.fromkeys(names, "x"), variable)  # a bad conversion or spec fails now


def _format(template: str, values: dict[str, str], variable: str) -> str:
    try:
        return template.format(**values)
    except (ValueError, IndexError, KeyError, AttributeError):
        raise PipeError(f"{variable} is not a valid template: use plain {{field}} names (write "
                        "{{ and }} for literal braces)") from None


def fill(template: str, values: dict[str, str], variable: str = "COMMIT_MESSAGE",
         names: Sequence[str] = FIELDS) -> str:
    check_template(template, variable, names)
    return _format(template, values, variable)


def render(template: str | None, target: Target | Sequence[Target], result: Result,
           commit: str | None, build_url: str | None, promoted_from: str | None = None) -> str:
    values = fields(target, result, commit, build_url)
    if template:
        return fill(template, values).strip() + "\n"
    targets = [target] if isinstance(target, Target) else list(target)
    verb = "Promote" if promoted_from else "Bump"
    where = f" from {promoted_from}" if promoted_from else ""
    if len(targets) == 1:
        t = targets[0]
        ref = f"{t.tag}@{short_digest(t.digest)}" if promoted_from and t.digest else t.tag
        lines = [f"{verb} {t.image} to {ref}{where}", ""]
    else:
        lines = [f"{verb} {len(targets)} images{where}", ""]
        lines += [f"{t.image} -> {t.tag}" + (f"@{t.digest}" if t.digest else "") for t in targets]
        lines.append("")
    for path, found in result.changed:
        lines.append(found.describe(path))
    if commit:
        lines.append(f"\nSource commit: {commit}")
    if build_url:
        lines.append(f"Build: {build_url}")
    return "\n".join(lines).strip() + "\n"


def _parse(template: str, variable: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(template))
    except ValueError:
        raise PipeError(f"{variable} has an unmatched brace: write {{{{ and }}}} for literal "
                        "braces") from None
