"""What a GitOps file names of the registry: tags and digests in text, kustomize and Helm values;
repository content is untrusted (not YAML, not UTF-8, deep, huge)."""
from __future__ import annotations

from docr_retention.gitops import References, scan

HOST = "registry.digitalocean.com/acme"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def refs_of(text: str) -> References:
    refs = References()
    scan(text, "acme", refs)
    return refs


def test_plain_image_fields_setter_markers_and_digests() -> None:
    refs = refs_of(f"image: {HOST}/web:sha-1234567 # {{\"$imagepolicy\": \"flux-system:web\"}}\n"
                   f"other: {HOST}/team/api:1.4.2@{D1}\n"
                   "unrelated: registry.digitalocean.com/other/web:main\n")
    assert refs.of("web") == {"sha-1234567"}
    assert refs.of("team/api") == {"1.4.2"}
    assert D1 in refs.digests
    assert refs.of("other/web") == set()


def test_kustomize_images_and_helm_values() -> None:
    refs = refs_of(f"images:\n  - name: {HOST}/web\n    newTag: main-42\n    digest: {D2}\n"
                   f"---\nspec:\n  values:\n    image:\n      repository: {HOST}/api\n      tag: 2.0.0\n"
                   f"---\nimages:\n  - name: web\n    newName: {HOST}/worker\n    newTag: 7\n")
    assert refs.of("web") == {"main-42"}
    assert refs.of("api") == {"2.0.0"}
    assert refs.of("worker") == {"7"}
    assert D2 in refs.digests


def test_untrusted_content_is_read_as_text_only() -> None:
    deep = "a: " + "[" * 5000 + "]" * 5000
    for text in (f"{{not yaml: [\nimage: {HOST}/web:keep-me\n", f"\udcff{HOST}/web:keep-me\n",
                 deep + f"\n# {HOST}/web:keep-me\n", "x" * (2 << 20) + f" {HOST}/web:keep-me"):
        assert "keep-me" in refs_of(text).of("web")


def test_a_billion_laughs_file_is_walked_once_per_node() -> None:
    lines = ["a0: &a0 [{name: x, tag: y}]"] + [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]"
                                              for n in range(1, 12)]
    text = "\n".join(lines) + f"\nimage: {HOST}/web:keep-me\n"
    assert refs_of(text).of("web") == {"keep-me"}  # returns at once: 9^11 paths, 12 nodes


def test_the_registry_under_another_host_name_counts_too() -> None:
    refs = refs_of("image: mirror.example.com:5000/acme/web:via-mirror\nimage: notacme/web:other\n")
    assert refs.of("web") == {"via-mirror"}
