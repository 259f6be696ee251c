"""The signing key of ``SIGNING_KEY`` (and ``SIGNING_KEY_PASSWORD``): an ECDSA P-256 private key,
given as PEM (plain, or base64 of the PEM text, as a one-line secured variable holds it) in one
of the forms a team already has:

- PKCS#8 (``PRIVATE KEY``), or PKCS#8 encrypted with a password (``ENCRYPTED PRIVATE KEY``),
  as ``openssl genpkey`` writes them; SEC1 (``EC PRIVATE KEY``) too;
- cosign's own encrypted key (``ENCRYPTED SIGSTORE PRIVATE KEY``, ``ENCRYPTED COSIGN PRIVATE
  KEY`` of cosign 1.x), as ``cosign generate-key-pair`` writes it: the PEM body is a JSON
  envelope whose ``kdf`` (scrypt, its parameters and salt) turns the password into the 32-byte
  key of a NaCl secretbox (XSalsa20-Poly1305, ``cipher.nonce``) around the PKCS#8 DER bytes.

Everything read is registered for masking first.  Every refusal is one :class:`PipeError` naming
the variable and the fix; nothing here touches the network or the disk."""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pipes_common import secrets
from pipes_common.errors import PipeError

COSIGN_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
PKCS8_TYPES = ("PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "EC PRIVATE KEY")
MAKE = ("make one with 'cosign generate-key-pair' or 'openssl genpkey -algorithm EC -pkeyopt "
        "ec_paramgen_curve:P-256'")
# the most scrypt work a cosign key may ask for: cosign 2.5's own is N=65536, r=8, p=1 (64 MiB);
# an envelope asking for more is refused rather than run (memory and time stay bounded)
MAX_SCRYPT_MEMORY = 256 * 1024 * 1024
MAX_SCRYPT_P = 4
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.S)


@dataclass(frozen=True)
class SigningKey:
    """A loaded ECDSA P-256 key: it signs bytes (DER ECDSA over SHA-256), and its public half."""

    private: ec.EllipticCurvePrivateKey = field(repr=False)
    form: str  # the format it came in, for the log: "PKCS#8", "cosign (scrypt + secretbox)"

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data, ec.ECDSA(hashes.SHA256()))

    def public_pem(self) -> str:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def verifies(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` (DER) over ``data`` was made by this key."""
        try:
            self.private.public_key().verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except Exception:  # InvalidSignature, or DER that does not parse
            return False
        return True


def load(value: str, password: str | None) -> SigningKey:
    """The key of ``SIGNING_KEY`` (PEM, or base64 of PEM) with ``SIGNING_KEY_PASSWORD``."""
    secrets.register(value)
    secrets.register(password)
    text = value if "-----BEGIN" in value else _from_base64(value)
    secrets.register(text)
    found = _PEM.search(text)
    if found is None:
        raise PipeError("SIGNING_KEY holds no complete PEM private key (no matching BEGIN and END "
                        "lines): pass the whole key file, or its base64 ('base64 -w0 < "
                        "cosign.key'), as a secured variable")
    kind, body = found.group(1), found.group(2)
    if kind in COSIGN_TYPES:
        der = _open_cosign(body, password or "")
        form = "cosign (scrypt + secretbox)"
        key = _from_der(der)
    elif kind in PKCS8_TYPES:
        form = "PKCS#8" if kind != "EC PRIVATE KEY" else "SEC1"
        key = _from_pem(_lines(kind, body) if ":" not in body else found.group(0), kind, password)
    else:
        raise PipeError(f"SIGNING_KEY is a PEM '{kind}', not a private key this pipe reads "
                        "(PKCS#8 'PRIVATE KEY' or 'ENCRYPTED PRIVATE KEY', or cosign's "
                        f"'ENCRYPTED SIGSTORE PRIVATE KEY'): {MAKE}")
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "")
        what = (f"an ECDSA key on {key.curve.name}" if isinstance(key, ec.EllipticCurvePrivateKey)
                else f"{'an' if kind[:1] in 'AEIOUR' else 'a'} {kind} key")
        raise PipeError(f"SIGNING_KEY is {what}, not ECDSA P-256 (the signatures cosign and the "
                        f"tools that verify its format read): {MAKE}")
    return SigningKey(key, form)


def _lines(kind: str, body: str) -> str:
    """The PEM of ``body`` in 64-character lines: a key whose line breaks a variable turned into
    spaces (or took away) reads as the file did."""
    flat = "".join(body.split())
    rows = [flat[i:i + 64] for i in range(0, len(flat), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(rows) + f"\n-----END {kind}-----\n"


def _from_base64(value: str) -> str:
    try:
        text = base64.b64decode("".join(value.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        text = ""
    if "-----BEGIN" not in text:
        raise PipeError("SIGNING_KEY is neither a PEM private key nor the base64 of one: pass the "
                        "key file's text, or 'base64 -w0 < cosign.key', as a secured variable")
    return text


def _from_pem(pem: str, kind: str, password: str | None) -> Any:
    encrypted = kind == "ENCRYPTED PRIVATE KEY"
    if encrypted and not password:
        raise PipeError("SIGNING_KEY is encrypted and SIGNING_KEY_PASSWORD is not set: pass the "
                        "key's password as SIGNING_KEY_PASSWORD (a secured variable)")
    if not encrypted and password:
        raise PipeError("SIGNING_KEY_PASSWORD is set but SIGNING_KEY is not encrypted: drop "
                        "SIGNING_KEY_PASSWORD, or pass the encrypted key")
    try:
        return serialization.load_pem_private_key(
            pem.encode(), password.encode() if encrypted and password else None)
    except ValueError:
        if encrypted:
            raise PipeError("SIGNING_KEY could not be decrypted with SIGNING_KEY_PASSWORD (wrong "
                            "password, or a damaged key): check both secured variables") from None
        raise PipeError(f"SIGNING_KEY is not a valid {kind} (damaged or cut short): pass the whole "
                        "key file as it was written") from None
    except (TypeError, UnsupportedAlgorithm):
        raise PipeError(f"SIGNING_KEY is a {kind} this pipe cannot read (an unsupported algorithm "
                        f"or encryption): {MAKE}") from None


def _from_der(der: bytes) -> Any:
    try:
        return serialization.load_der_private_key(der, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise PipeError("SIGNING_KEY decrypts, but not to a PKCS#8 private key: pass the key "
                        "cosign generate-key-pair wrote, unchanged") from None


def _b64_field(envelope: dict[str, Any], *path: str) -> bytes:
    node: Any = envelope
    for name in path:
        node = node.get(name) if isinstance(node, dict) else None
    if not isinstance(node, str):
        raise _bad_envelope(f"no {'.'.join(path)}")
    try:
        return base64.b64decode(node, validate=True)
    except (binascii.Error, ValueError):
        raise _bad_envelope(f"{'.'.join(path)} is not base64") from None


def _bad_envelope(why: str) -> PipeError:
    return PipeError(f"SIGNING_KEY is a cosign key whose content is damaged ({why}): pass the "
                     "cosign.key file as cosign generate-key-pair wrote it")


def _open_cosign(body: str, password: str) -> bytes:
    """The PKCS#8 DER bytes inside cosign's encrypted key (the PEM body)."""
    try:
        envelope = json.loads(base64.b64decode("".join(body.split()), validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad_envelope("not base64 of JSON") from None
    if not isinstance(envelope, dict):
        raise _bad_envelope("not a JSON object")
    kdf, cipher = envelope.get("kdf"), envelope.get("cipher")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise _bad_envelope("its key derivation is not scrypt")
    if not isinstance(cipher, dict) or cipher.get("name") != "nacl/secretbox":
        raise _bad_envelope("its cipher is not nacl/secretbox")
    params = kdf.get("params")
    n, r, p = ((params.get(k) for k in ("N", "r", "p")) if isinstance(params, dict)
               else (None, None, None))
    if not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in (n, r, p)):
        raise _bad_envelope("scrypt parameters N, r, p missing")
    assert isinstance(n, int) and isinstance(r, int) and isinstance(p, int)
    memory = 128 * n * r
    if n & (n - 1) or n < 2 or memory > MAX_SCRYPT_MEMORY or p > MAX_SCRYPT_P:
        raise _bad_envelope(f"scrypt N={n}, r={r}, p={p} asks for more than "
                            f"{MAX_SCRYPT_MEMORY // 2**20} MiB or is not valid")
    salt = _b64_field(envelope, "kdf", "salt")
    nonce = _b64_field(envelope, "cipher", "nonce")
    sealed = _b64_field(envelope, "ciphertext")
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise _bad_envelope("its nonce is not 24 bytes")
    box_key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p,
                             maxmem=memory + 2**20, dklen=nacl.secret.SecretBox.KEY_SIZE)
    try:
        return bytes(nacl.secret.SecretBox(box_key).decrypt(sealed, nonce))
    except nacl.exceptions.CryptoError:
        if not password:
            raise PipeError("SIGNING_KEY is a cosign key encrypted with a password and "
                            "SIGNING_KEY_PASSWORD is not set: pass the password cosign "
                            "generate-key-pair asked for as SIGNING_KEY_PASSWORD (a secured "
                            "variable)") from None
        raise PipeError("SIGNING_KEY could not be decrypted with SIGNING_KEY_PASSWORD (wrong "
                        "password, or a damaged key): check both secured variables") from None
