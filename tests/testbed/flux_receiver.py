"""Flux's notification-controller Receiver, stubbed: the webhook that makes Flux reconcile a
GitRepository at once.

As Flux documents it, a Receiver answers ``POST /hook/<digest>`` (the digest is derived from the
Receiver's token, name and namespace, so the URL itself is secret).  A ``generic`` Receiver
checks nothing more; a ``generic-hmac`` one requires the header ``X-Signature: <hash>=<hex>``, the
HMAC of the request body with the token (``sha1``, ``sha256`` or ``sha512``), compared in constant
time.  A valid call is answered 200 and counted as one reconcile request; a missing or wrong
signature is refused (400) and triggers nothing; an unknown path is 404.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from .httpserve import QuietHandler, StateServer, StateStub

HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


@dataclass
class ReceiverState:
    hook: str = "/hook/" + "5d" * 32
    token: str | None = None  # None: a generic Receiver; set: generic-hmac with this token
    status: int | None = None  # answer every call with this status instead (a broken receiver)
    reconciles: int = 0  # calls accepted
    calls: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)  # path, headers, body
    refused: list[str] = field(default_factory=list)  # why a call was refused


def signature_ok(header: str | None, body: bytes, token: str) -> str | None:
    """Why a ``generic-hmac`` Receiver refuses ``header`` for ``body``, or None when it is valid."""
    if not header:
        return "no X-Signature header"
    algorithm, sep, given = header.partition("=")
    if not sep or algorithm not in HASHES:
        return f"unsupported signature {algorithm!r}"
    expected = hmac.new(token.encode(), body, HASHES[algorithm]).hexdigest()
    if not hmac.compare_digest(expected, given):
        return "the signature does not match the body"
    return None


class _Handler(QuietHandler):
    server: StateServer[ReceiverState]

    def do_POST(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        state.calls.append((self.path, dict(self.headers.items()), body))
        if state.status is not None:
            return self.send_json(state.status, {"error": "unavailable"})
        if self.path != state.hook:
            return self.send_json(404, {"error": "receiver not found"})
        if state.token is not None:
            why = signature_ok(self.headers.get("X-Signature"), body, state.token)
            if why is not None:
                state.refused.append(why)
                return self.send_json(400, {"error": why})
        state.reconciles += 1
        return self.send_json(200, {})


class FluxReceiverStub(StateStub[ReceiverState]):
    """``with FluxReceiverStub(ReceiverState(token=...)) as stub:`` then ``stub.url + state.hook``."""

    handler = _Handler
