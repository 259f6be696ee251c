"""build-push's SIGNING_KEY loading (build_push.signkey): every form a team may have (PKCS#8 plain
or encrypted, SEC1, cosign's own scrypt + secretbox format from a key cosign 2.5.0 made, each as
text or base64), and one clear PipeError naming the variable for every key it cannot use."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from build_push import signkey
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pipes_common import secrets
from pipes_common.errors import PipeError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "signing"
COSIGN_PASSWORD = "fixture-password-1"  # tests/fixtures/signing/README.md


def _pem(key: object, password: str | None = None, fmt: serialization.PrivateFormat =
         serialization.PrivateFormat.PKCS8) -> str:
    encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                  else serialization.NoEncryption())
    pem: bytes = key.private_bytes(serialization.Encoding.PEM, fmt, encryption)  # type: ignore[attr-defined]
    return pem.decode()


def _signs_for(key: signkey.SigningKey, public_pem: str) -> None:
    public = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(key.sign(b"payload"), b"payload", ec.ECDSA(hashes.SHA256()))


def test_pkcs8_plain_text_and_base64() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = _pem(private)
    for value in (pem.strip(), base64.b64encode(pem.encode()).decode()):
        key = signkey.load(value, None)
        assert key.form == "PKCS#8"
        assert key.public_pem() == private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_a_pem_whose_line_breaks_became_spaces() -> None:
    """A secured variable pasted on one line: the PEM's line breaks are spaces, or gone."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = _pem(private, "pw-of-the-key").strip()
    for value in (" ".join(pem.splitlines()), pem.splitlines()[0] + "".join(pem.splitlines()[1:])):
        assert signkey.load(value, "pw-of-the-key").form == "PKCS#8"
    cosign_key = (FIXTURES / "cosign.key").read_text().strip()
    assert signkey.load(" ".join(cosign_key.splitlines()), COSIGN_PASSWORD).form.startswith("cosign")


def test_pkcs8_encrypted_with_its_password() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key = signkey.load(_pem(private, "s3cret-pass"), "s3cret-pass")
    _signs_for(key, private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())


def test_sec1_ec_private_key() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    assert signkey.load(_pem(private, fmt=serialization.PrivateFormat.TraditionalOpenSSL),
                        None).form == "SEC1"


def test_cosign_generate_key_pair_key_text_and_base64() -> None:
    text = (FIXTURES / "cosign.key").read_text()
    public = (FIXTURES / "cosign.pub").read_text()
    for value in (text.strip(), base64.b64encode(text.encode()).decode()):
        key = signkey.load(value, COSIGN_PASSWORD)
        assert key.form == "cosign (scrypt + secretbox)"
        assert key.public_pem() == public
        _signs_for(key, public)


@pytest.mark.parametrize(("value", "password", "message"), [
    ("cosign", "wrong-password", "could not be decrypted with SIGNING_KEY_PASSWORD"),
    ("cosign", None, "SIGNING_KEY_PASSWORD is not set"),
    ("pkcs8-encrypted", "wrong-password", "could not be decrypted with SIGNING_KEY_PASSWORD"),
    ("pkcs8-encrypted", None, "SIGNING_KEY is encrypted and SIGNING_KEY_PASSWORD is not set"),
    ("pkcs8", "a-password", "SIGNING_KEY_PASSWORD is set but SIGNING_KEY is not encrypted"),
    ("rsa", None, "SIGNING_KEY is an RSA key, not ECDSA P-256"),
    ("p384", None, "SIGNING_KEY is an ECDSA key on secp384r1, not ECDSA P-256"),
    ("ed25519", None, "SIGNING_KEY is an Ed25519 key, not ECDSA P-256"),
    ("public", None, "SIGNING_KEY is a PEM 'PUBLIC KEY', not a private key"),
    ("garbage", None, "SIGNING_KEY is neither a PEM private key nor the base64 of one"),
    ("cut", None, "SIGNING_KEY holds no complete PEM private key"),
    ("pkcs8-damaged", None, "SIGNING_KEY is not a valid PRIVATE KEY"),
])
def test_a_key_it_cannot_use_is_one_clear_error(value: str, password: str | None,
                                                message: str) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = _pem(p256)
    values = {
        "cosign": (FIXTURES / "cosign.key").read_text(),
        "pkcs8-encrypted": _pem(p256, "right-password"),
        "pkcs8": pkcs8,
        "rsa": _pem(rsa.generate_private_key(65537, 2048)),
        "p384": _pem(ec.generate_private_key(ec.SECP384R1())),
        "ed25519": _pem(ed25519.Ed25519PrivateKey.generate()),
        "public": (FIXTURES / "cosign.pub").read_text(),
        "garbage": "not a key at all",
        "cut": pkcs8[: len(pkcs8) // 2],
        "pkcs8-damaged": pkcs8.replace(pkcs8.splitlines()[1], "A" * 64),
    }
    with pytest.raises(PipeError) as caught:
        signkey.load(values[value], password)
    assert message in str(caught.value)
    assert str(caught.value).startswith(("SIGNING_KEY", "SIGNING_KEY_PASSWORD"))
    assert "\n" not in str(caught.value)


def _cosign_with(change: dict[str, object]) -> str:
    """The fixture's cosign key with its JSON envelope changed (``change`` merged in)."""
    text = (FIXTURES / "cosign.key").read_text()
    kind, body = re.fullmatch(r"-----BEGIN ([A-Z ]+)-----\n(.*)-----END \1-----\n", text, re.S).groups()  # type: ignore[union-attr]
    envelope = json.loads(base64.b64decode("".join(body.split())))
    for path, value in change.items():
        node = envelope
        *parents, last = path.split(".")
        for name in parents:
            node = node[name]
        node[last] = value
    encoded = base64.b64encode(json.dumps(envelope).encode()).decode()
    return f"-----BEGIN {kind}-----\n{encoded}\n-----END {kind}-----\n"


@pytest.mark.parametrize(("change", "why"), [
    ({"kdf.params.N": 2**30}, "asks for more than 256 MiB"),
    ({"kdf.params.p": 1000}, "asks for more than 256 MiB"),
    ({"kdf.params.N": 1000}, "is not valid"),
    ({"kdf.name": "pbkdf2"}, "its key derivation is not scrypt"),
    ({"cipher.name": "aes-gcm"}, "its cipher is not nacl/secretbox"),
    ({"cipher.nonce": "AAAA"}, "its nonce is not 24 bytes"),
    ({"ciphertext": "!!"}, "ciphertext is not base64"),
    ({"kdf.params": None}, "scrypt parameters N, r, p missing"),
])
def test_a_damaged_or_hostile_cosign_key_is_refused_before_any_work(
        change: dict[str, object], why: str) -> None:
    """An envelope asking scrypt for gigabytes is refused, not run: memory and time stay bounded."""
    with pytest.raises(PipeError, match=re.escape(why)):
        signkey.load(_cosign_with(change), COSIGN_PASSWORD)


def test_the_key_and_its_forms_are_masked() -> None:
    secrets.clear()
    text = (FIXTURES / "cosign.key").read_text().strip()
    value = base64.b64encode(text.encode()).decode()
    signkey.load(value, COSIGN_PASSWORD)
    assert value not in secrets.mask(f"key {value}")
    assert text.splitlines()[1] not in secrets.mask(text)  # the PEM text decoded from base64
    assert COSIGN_PASSWORD not in secrets.mask(f"pw {COSIGN_PASSWORD}")
    secrets.clear()
