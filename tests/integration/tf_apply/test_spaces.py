"""The Spaces client of tf-apply (boto3) against real loopback servers: moto's S3 for the keys,
a scripted server for what moto cannot play (refused keys, a missing Space, transient failures)."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest
from pipes_common import secrets
from pipes_common.errors import PipeError
from testbed.flaky_http import DROP, FlakyServer, Reply
from testbed.net import free_port
from testbed.s3 import HeaderStrippingProxy, MotoS3
from tf_apply.s3 import PreconditionFailed, Spaces

from .conftest import spaces_settings

# keys a client must send as they are: a normalising client turns the first into a request to
# another bucket, the next ones into requests for other objects
TRICKY_KEYS = ("../elsewhere/terraform.tfstate", "web/./infra/terraform.tfstate",
               "web//infra/terraform.tfstate", "web/infra/..", "a+b=c!*'()/x.tfstate",
               "%2e%2e/pct%2Fencoded", "sp ace/ü/#?.json")


def spaces_at(endpoint: str, bucket: str, tmp_path: Path, *, path_style: bool = True,
              access_key: str = "testbed-key", secret_key: str = "testbed-secret") -> Spaces:
    return Spaces(spaces_settings(endpoint, bucket, tmp_path, path_style=path_style,
                                  access_key=access_key, secret_key=secret_key))


def test_keys_are_sent_as_given(moto_s3: MotoS3, tmp_path: Path) -> None:
    bucket = moto_s3.create_bucket("keys-as-given")
    other = moto_s3.create_bucket("elsewhere")
    with HeaderStrippingProxy(moto_s3.url, strip=()) as proxy:  # strips nothing: records paths
        spaces = spaces_at(proxy.url, bucket, tmp_path)
        for key in TRICKY_KEYS:
            spaces.put(key, key.encode())
            got = spaces.get(key)
            assert got is not None and got.body == key.encode(), key
        assert sorted(moto_s3.keys(bucket)) == sorted(TRICKY_KEYS)
        for key in TRICKY_KEYS:
            spaces.delete(key)
        paths = [unquote(path.split("?", 1)[0]) for _, path in proxy.seen]
    assert moto_s3.keys(bucket) == [] and moto_s3.keys(other) == []
    assert len(paths) == 3 * len(TRICKY_KEYS)
    assert sorted(set(paths)) == sorted(f"/{bucket}/{key}" for key in TRICKY_KEYS)


def test_the_conditional_put_carries_if_none_match(moto_s3: MotoS3, tmp_path: Path) -> None:
    with FlakyServer() as server:
        spaces = spaces_at(server.url, "states", tmp_path)
        server.script(*[Reply(200, {"ETag": '"e"'}, b"")] * 2)
        spaces.put("a/probe", b"1", if_none_match=True)
        spaces.put("a/plain", b"2")
        conditional, plain = server.hits
    assert conditional.method == plain.method == "PUT"
    assert {k.lower(): v for k, v in conditional.headers.items()}.get("if-none-match") == "*"
    assert "if-none-match" not in {k.lower() for k in plain.headers}
    assert "content-md5" in {k.lower() for k in conditional.headers}  # the body is checked
    # and a store that honours it (moto) refuses the second create
    bucket = moto_s3.create_bucket("conditional")
    spaces = spaces_at(moto_s3.url, bucket, tmp_path)
    spaces.put("k", b"first", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        spaces.put("k", b"second", if_none_match=True)
    assert moto_s3.objects(bucket) == {"k": b"first"}


def _error(code: str) -> bytes:
    return f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>x</Message></Error>".encode()


@pytest.mark.parametrize(("status", "code", "needles"), [
    (403, "InvalidAccessKeyId", ("rejected the keys", "SPACES_ACCESS_KEY_ID and SPACES_SECRET_ACCESS_KEY")),
    (403, "SignatureDoesNotMatch", ("rejected the keys", "SPACES_ACCESS_KEY_ID and SPACES_SECRET_ACCESS_KEY")),
    (403, "AccessDenied", ("denied access", "SPACES_ACCESS_KEY_ID", "'states'")),
    (404, "NoSuchBucket", ("SPACES_BUCKET", "'states' does not exist")),
])
def test_errors_name_the_variable(tmp_path: Path, status: int, code: str,
                                  needles: tuple[str, ...]) -> None:
    access, secret = "DO00SECRETKEYID0000", "very-secret-spaces-key"
    with FlakyServer() as server:
        spaces = spaces_at(server.url, "states", tmp_path, access_key=access, secret_key=secret)
        for call in (lambda: spaces.get("k"), lambda: spaces.put("k", b"x"),
                     lambda: spaces.put("k", b"x", if_none_match=True), lambda: spaces.delete("k")):
            server.script(Reply(status, body=_error(code)))
            with pytest.raises(PipeError) as err:
                call()
            message = err.value.message
            assert "\n" not in message and all(n in message for n in needles), message
            assert access not in message and secret not in message
            assert len(server.hits) == 1  # a refusal is not retried
    assert secrets.mask(access) != access  # registered: masked in every output


def test_unreachable_names_the_endpoint(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    spaces = spaces_at(endpoint, "states", tmp_path)
    with pytest.raises(PipeError) as err:
        spaces.get("web/terraform.tfstate")
    assert "unreachable" in err.value.message and "SPACES_ENDPOINT" in err.value.message
    assert endpoint in err.value.message and "\n" not in err.value.message


def test_transient_failures_are_retried(tmp_path: Path) -> None:
    with FlakyServer() as server:
        spaces = spaces_at(server.url, "states", tmp_path)
        server.script(Reply(503, body=_error("SlowDown")), DROP, Reply(200, {"ETag": '"e1"'}, b"state"))
        got = spaces.get("web/terraform.tfstate")
        assert got is not None and (got.body, got.etag) == (b"state", '"e1"')
        assert [h.method for h in server.hits] == ["GET"] * 3
        assert all(h.path == "/states/web/terraform.tfstate" for h in server.hits)
        missing = Reply(404, body=_error("NoSuchKey"))
        server.script(missing)
        assert spaces.get("web/none") is None and len(server.hits) == 1


def test_a_retried_conditional_put_that_had_landed_is_ours(tmp_path: Path) -> None:
    """The first attempt created the object but its answer was lost: the retry's 412 is about our
    own write.  The object is read back; only our exact body makes it ours."""
    refused = Reply(412, body=_error("PreconditionFailed"))
    with FlakyServer() as server:
        spaces = spaces_at(server.url, "states", tmp_path)
        server.script(DROP, refused, Reply(200, {"ETag": '"mine"'}, b"mine"))
        assert spaces.put("p/applied.json", b"mine", if_none_match=True) == '"mine"'
        assert [h.method for h in server.hits] == ["PUT", "PUT", "GET"]

        server.script(DROP, refused, Reply(200, {"ETag": '"theirs"'}, b"theirs"))
        with pytest.raises(PreconditionFailed):
            spaces.put("p/applied.json", b"mine", if_none_match=True)

        server.script(refused)  # a first answer is final: nothing read back
        with pytest.raises(PreconditionFailed):
            spaces.put("p/applied.json", b"mine", if_none_match=True)
        assert [h.method for h in server.hits] == ["PUT"]


@pytest.mark.parametrize(("variable", "value"), [("AWS_PROFILE", "no-such-profile"),
                                                 ("AWS_CONFIG_FILE", "{bad}")])
def test_a_client_misconfigured_by_aws_variables_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    bad = tmp_path / "aws-config"
    bad.write_text("this is [not an ini file\n")
    monkeypatch.setenv(variable, value.format(bad=bad))
    with FlakyServer() as server, pytest.raises(PipeError) as err:
        spaces_at(server.url, "states", tmp_path).get("web/terraform.tfstate")
    assert "S3 client failed" in err.value.message and "SPACES_ENDPOINT" in err.value.message
    assert "\n" not in err.value.message


def test_a_saved_plan_under_a_dotdot_key_stays_in_its_bucket(moto_s3: MotoS3, tmp_path: Path) -> None:
    """Validation refuses such a STATE_KEY (tests/unit/hostile); the store would not write
    elsewhere either: the plan store's keys reach the configured bucket literally."""
    from tf_apply import planstore

    bucket = moto_s3.create_bucket("plans-stay")
    other = moto_s3.create_bucket("other-bucket")
    store = planstore.PlanStore(spaces_at(moto_s3.url, bucket, tmp_path),
                                "../other-bucket/x/terraform.tfstate.plans/default/")
    record = planstore.PlanRecord(
        plan_id="p1", state_object="../other-bucket/x/terraform.tfstate", workspace="default",
        state=planstore.StateRef(None, None, None), sha256="0" * 64, terraform_version="1.11.4",
        created=planstore.now(), commit=None, build_number=None, counts={}, has_changes=True)
    store.save(record, b"plan", "{}")
    assert moto_s3.keys(other) == []
    assert sorted(moto_s3.keys(bucket)) == sorted(
        f"../other-bucket/x/terraform.tfstate.plans/default/p1/{name}"
        for name in (planstore.PLAN_FILE, planstore.PLAN_JSON, planstore.RECORD))
