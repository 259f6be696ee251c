from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
from pipes_common.errors import PipeError
from tf_apply import locking, probe
from tf_apply.s3 import PreconditionFailed, Spaces
from tf_apply.settings import Settings


class Store:
    """An object store in memory; ``conditional`` says whether it honours If-None-Match."""

    def __init__(self, conditional: bool = True) -> None:
        self.conditional = conditional
        self.objects: dict[str, bytes] = {}
        self.bodies: list[bytes] = []
        self.endpoint = "https://nyc3.digitaloceanspaces.com"
        self.deleted: list[str] = []

    def put(self, key: str, body: bytes, *, if_none_match: bool = False, content_type: str = "") -> str:
        self.bodies.append(body)
        if if_none_match and self.conditional and key in self.objects:
            raise PreconditionFailed(key)
        self.objects[key] = body
        return '"etag"'

    def delete(self, key: str) -> None:
        self.deleted.append(key)
        self.objects.pop(key, None)


def spaces(store: Store) -> Spaces:
    return cast(Spaces, store)


def test_a_store_ignoring_conditional_writes_answers_no_and_is_cleaned() -> None:
    store = Store(conditional=False)
    assert not probe.conditional_writes_work(spaces(store), "app/terraform.tfstate")
    assert store.objects == {}


def settings(**values: str) -> Settings:
    return cast(Settings, SimpleNamespace(**{"mode": "apply", "locking": "auto",
                                             "endpoint": "https://nyc3.digitaloceanspaces.com",
                                             **values}))


@pytest.mark.parametrize("mode", ["plan", "apply", "destroy"])
def test_locking_auto_refuses_a_store_ignoring_conditional_writes(mode: str) -> None:
    with pytest.raises(PipeError, match=r"^LOCKING: the store at https://nyc3\.digitalocean.*"
                                        r"ignores conditional writes \(If-None-Match\)"):
        locking.verdict(settings(mode=mode), False)
    assert locking.verdict(settings(mode=mode), True)


@pytest.mark.parametrize("choice", ["lockfile", "off"])
def test_the_answer_only_informs_when_locking_is_chosen(choice: str) -> None:
    """LOCKING lockfile/off with a saved plan still probes (the claim needs the answer) but never
    refuses the store."""
    assert not locking.verdict(settings(locking=choice), False)
    assert locking.verdict(settings(locking=choice), True)


def test_the_two_probe_writes_differ() -> None:
    """A retried conditional write is judged ours only by its exact body (Spaces.put): with one
    body for both, a refused second write, retried, would read as a success of its own."""
    store = Store()
    assert probe.conditional_writes_work(spaces(store), "app/terraform.tfstate")
    assert len(store.bodies) == 2 and store.bodies[0] != store.bodies[1]


class Unreachable(Store):
    def put(self, key: str, body: bytes, *, if_none_match: bool = False, content_type: str = "") -> str:
        raise PipeError("Spaces at https://nyc3.digitaloceanspaces.com is unreachable")


def test_no_delete_for_a_probe_object_never_created() -> None:
    store = Unreachable()
    with pytest.raises(PipeError, match="unreachable"):
        probe.conditional_writes_work(spaces(store), "app/terraform.tfstate")
    assert store.deleted == []


def test_no_delete_for_an_object_that_was_there_before() -> None:
    store = Store()
    store.put = lambda *a, **k: (_ for _ in ()).throw(PreconditionFailed("k"))  # type: ignore[method-assign]
    assert not probe.conditional_writes_work(spaces(store), "app/terraform.tfstate")
    assert store.deleted == []
