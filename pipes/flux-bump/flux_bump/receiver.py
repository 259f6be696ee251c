"""Deployed in seconds: after a commit lands, tell Flux's notification-controller Receiver, so the
GitRepository is reconciled at once instead of at its next poll.

``FLUX_RECEIVER_URL`` is the Receiver's webhook URL (``https://<host>/hook/<digest>``); with
``FLUX_RECEIVER_TOKEN`` the body is signed as a ``generic-hmac`` Receiver checks it (``X-Signature:
sha256=<HMAC-SHA256 of the body with the token, hex>``), without it the secret URL alone calls a
``generic`` Receiver.  A failed notification is a warning: the commit is already pushed and Flux
finds it at its next poll anyway."""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from pipes_common import httpclient
from pipes_common.log import get_logger

TIMEOUT = 10.0  # seconds per attempt
BUDGET = 15.0  # seconds of retry waits in all


@dataclass(frozen=True)
class Receiver:
    url: str
    token: str | None  # None: a generic Receiver

    @property
    def host(self) -> str:
        """What may be shown of the URL (its path is secret: it names the Receiver)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"


def sign(body: bytes, token: str) -> str:
    return "sha256=" + hmac.new(token.encode("utf-8"), body, hashlib.sha256).hexdigest()


def notify(receiver: Receiver, commit: str, branch: str, repository: str,
           sleep: httpclient.Sleep | None = None) -> bool:
    """Call the Receiver once (transient failures retried briefly); True when it accepted."""
    body = json.dumps({"source": "flux-bump", "repository": repository, "branch": branch,
                       "commit": commit}, sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if receiver.token is not None:
        headers["X-Signature"] = sign(body, receiver.token)
    endpoint = httpclient.Endpoint(
        receiver.host, service="the Flux receiver", variable="FLUX_RECEIVER_URL", timeout=TIMEOUT,
        session=httpclient.session(retries=2, methods=("POST",), sleep=sleep, budget=BUDGET))
    log = get_logger()
    later = "the commit is pushed; Flux finds it at its next poll"
    try:
        response = endpoint.send("POST", receiver.url, data=body, headers=headers,
                                 allow_redirects=False)
    except httpclient.Unreachable as err:
        log.warning("FLUX_RECEIVER_URL: the Flux receiver at %s is unreachable (%s): %s; check "
                    "FLUX_RECEIVER_URL", receiver.host, err.reason, later)
        return False
    if 200 <= response.status_code < 300:
        log.info("Flux's receiver at %s was told (%d): the GitRepository reconciles now.",
                 receiver.host, response.status_code)
        return True
    fix = ("check that FLUX_RECEIVER_TOKEN is the Receiver's token (a generic-hmac Receiver)"
           if response.status_code in (400, 401, 403) else
           "check FLUX_RECEIVER_URL (the Receiver's status.webhookPath on its host)"
           if response.status_code == 404 else "check the notification-controller")
    log.warning("FLUX_RECEIVER_URL: the Flux receiver at %s answered %d: %s; %s", receiver.host,
                response.status_code, later, fix)
    return False
