"""Our SigV4 signer against the AWS SDK's (botocore is in the dev environment through moto)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tf_apply import sigv4

ACCESS, SECRET = "AKIDEXAMPLE0000", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


@pytest.mark.parametrize(("method", "key", "headers", "body"), [
    ("GET", "web/infra/terraform.tfstate", {}, b""),
    ("PUT", "env:/staging/web/terraform.tfstate.lockprobe-ab12", {"if-none-match": "*",
                                                                "content-type": "text/plain"}, b"x"),
    ("PUT", "a b/ü+plus=eq~tilde!.json", {"content-type": "application/json"}, b'{"a": 1}'),
    ("DELETE", "web/x.plans/default/abc123/applied.json", {}, b""),
])
@pytest.mark.parametrize("host", ["127.0.0.1:9000", "state.nyc3.digitaloceanspaces.com"])
def test_matches_botocore(method: str, key: str, headers: dict[str, str], body: bytes,
                          host: str) -> None:
    path = sigv4.uri_encode_path(f"/bucket-1/{key}")
    request = AWSRequest(method=method, url=f"https://{host}{path}", data=body,
                         headers=dict(headers))
    auth = S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", "us-east-1")
    request.headers["X-Amz-Content-SHA256"] = __import__("hashlib").sha256(body).hexdigest()
    auth.add_auth(request)
    stamp = request.headers["X-Amz-Date"]
    ours = sigv4.sign(method, host, path, {}, headers, body, ACCESS, SECRET,
                      now=datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC))
    assert ours["Authorization"] == request.headers["Authorization"]


def test_signing_key_known_vector() -> None:
    # AWS documentation's example signing key derivation (secret, 20150830, us-east-1, iam)
    key = sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam")
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
