"""Who signs the C2PA claim: a protocol plus a registry keyed by the ``signer`` setting.

A claim signer has an algorithm, a certificate chain (PEM, leaf first) and ``sign(bytes)``
returning the raw signature COSE wants (``r || s`` for ECDSA). Built in:

``file``
    The workspace's key file ``keys/signer.key`` (0600, encrypted when
    ``EMO_SAFE_KEY_PASSPHRASE`` is set). The default.
``pkcs11:...``
    A key inside a PKCS#11 token (an HSM; SoftHSM2 for tests), named by an RFC 7512 URI:
    ``pkcs11:token=LABEL;object=LABEL?module-path=/usr/lib/softhsm/libsofthsm2.so``. The PIN
    comes from ``$EMO_SAFE_PKCS11_PIN`` (or ``pin-source=file:/path``), never from the URI or
    the config. The private key never leaves the token: the data goes in, the signature
    comes out.
``command:PROGRAM ARGS...``
    Any program (a cloud KMS's CLI, usually through a small wrapper): the bytes to sign on its
    stdin, the signature on its stdout (raw ``r || s`` or DER). Fits AWS KMS, Google Cloud KMS,
    Azure Key Vault and ``openssl pkeyutl`` alike.

For the last two the certificate chain is ``keys/signer.pem``, as for a key file. Register
another kind in :data:`SIGNER_KINDS`.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from emo_safe.errors import InputError, SigningError
from emo_safe.keys import alg_for_public_key

PIN_ENV = "EMO_SAFE_PKCS11_PIN"
COMMAND_TIMEOUT_S = 30.0


@runtime_checkable
class ClaimSigner(Protocol):
    """Signs C2PA claims. ``repr`` must reveal nothing secret."""

    alg: str  # es256 | es384 | es512 | ed25519
    chain_pem: str

    def sign(self, data: bytes) -> bytes:
        """The raw signature of ``data`` (``r || s`` for ECDSA)."""

    def describe(self) -> dict:
        """Public facts for logs and ``--json``: the kind and where the key lives."""

    def check(self) -> None:
        """Raise :class:`SigningError` now if signing cannot work (a wrong PIN, a missing
        token or key), before anything is generated."""


def _leaf(chain_pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificates(chain_pem.encode())[0]
    except (ValueError, IndexError):
        raise SigningError("the signer certificate chain holds no PEM certificate") from None


def _digest(alg: str, data: bytes) -> bytes:
    return {"es256": hashlib.sha256, "es384": hashlib.sha384,
            "es512": hashlib.sha512}[alg](data).digest()


def _raw_ecdsa(signature: bytes, alg: str) -> bytes:
    """A signature as COSE wants it: ``r || s``, each the curve's size (DER is converted)."""
    size = {"es256": 32, "es384": 48, "es512": 66}[alg]
    if len(signature) == 2 * size:
        return signature
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        raise SigningError("the signer returned something that is not an ECDSA signature") \
            from None
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


# ------------------------------------------------------------------------------------------
class Pkcs11Uri:
    """The parts of an RFC 7512 ``pkcs11:`` URI that select a token and a key."""

    def __init__(self, uri: str) -> None:
        if not uri.startswith("pkcs11:"):
            raise InputError(f"not a pkcs11: URI: {uri!r}")
        path, _, query = uri[len("pkcs11:"):].partition("?")
        attrs = {}
        for part in filter(None, path.split(";")):
            name, sep, value = part.partition("=")
            if not sep:
                raise InputError(f"malformed pkcs11 URI attribute {name!r}")
            attrs[name] = urllib.parse.unquote(value)
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        if "pin-value" in params:
            raise InputError(f"a PIN does not belong in the signer URI: set {PIN_ENV} or use "
                             "pin-source=file:PATH")
        self.token = attrs.get("token")
        self.object = attrs.get("object")
        self.module_path = params.get("module-path") or os.environ.get("EMO_SAFE_PKCS11_MODULE")
        self.pin_source = params.get("pin-source")
        if not self.token or not self.object:
            raise InputError("the pkcs11 URI needs token=... and object=... (the key's label)")
        if not self.module_path:
            raise InputError("the pkcs11 URI needs module-path=... (the token's PKCS#11 library)")
        self.uri = uri

    def pin(self) -> str:
        if self.pin_source:
            if not self.pin_source.startswith("file:"):
                raise InputError("pin-source must be file:PATH")
            path = Path(urllib.parse.urlparse(self.pin_source).path)
            try:
                return path.read_text().strip()
            except OSError as exc:
                raise SigningError(f"cannot read the PIN file {path}: {exc.strerror}") from None
        pin = os.environ.get(PIN_ENV)
        if not pin:
            raise SigningError(f"set {PIN_ENV} to the PKCS#11 token's user PIN")
        return pin


def _pkcs11_session(uri: Pkcs11Uri):
    """An open, logged-in session on the URI's token; errors say what is wrong, never the
    PIN."""
    import pkcs11
    from pkcs11 import exceptions as px

    try:
        lib = pkcs11.lib(uri.module_path)
    except (RuntimeError, OSError, px.PKCS11Error):
        raise SigningError(f"cannot load the PKCS#11 module {uri.module_path}") from None
    try:
        token = lib.get_token(token_label=uri.token)
    except px.NoSuchToken:
        raise SigningError(f"no PKCS#11 token labelled {uri.token!r}") from None
    except px.MultipleObjectsReturned:
        raise SigningError(f"several PKCS#11 tokens are labelled {uri.token!r}") from None
    except px.PKCS11Error as exc:
        raise SigningError(f"the PKCS#11 module failed: {type(exc).__name__}") from None
    try:
        return token.open(user_pin=uri.pin(), rw=True)
    except (px.PinIncorrect, px.PinLenRange):
        raise SigningError(f"wrong PIN for PKCS#11 token {uri.token!r}") from None
    except px.PKCS11Error as exc:
        raise SigningError(f"cannot log in to PKCS#11 token {uri.token!r}: "
                           f"{type(exc).__name__}") from None


def pkcs11_public_key(uri: str, create: bool = False):
    """The public key of the URI's key pair (a ``cryptography`` key), generating a P-256
    pair inside the token first when ``create`` is set and none exists. The private half is
    made sensitive and non-extractable: it can sign, never be read."""
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11 import exceptions as px
    from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

    parsed = Pkcs11Uri(uri)
    with _pkcs11_session(parsed) as session:
        try:
            public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=parsed.object)
        except px.NoSuchKey:
            if not create:
                raise SigningError(f"no key labelled {parsed.object!r} in PKCS#11 token "
                                   f"{parsed.token!r}") from None
            params = session.create_domain_parameters(KeyType.EC, {
                Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True)
            public, _private = params.generate_keypair(
                store=True, label=parsed.object,
                private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False})
        except px.MultipleObjectsReturned:
            raise SigningError(f"several keys are labelled {parsed.object!r}") from None
        if public.key_type != KeyType.EC:
            raise SigningError("the PKCS#11 key is not an EC key")
        return serialization.load_der_public_key(encode_ec_public_key(public))


class Pkcs11Signer:
    """Signs inside a PKCS#11 token: the digest goes in, ``r || s`` comes out."""

    def __init__(self, uri: str, chain_pem: str) -> None:
        self._uri = Pkcs11Uri(uri)
        self.chain_pem = chain_pem
        self.alg = alg_for_public_key(_leaf(chain_pem).public_key())
        if self.alg == "ed25519":
            raise SigningError("PKCS#11 signing supports EC keys")

    def __repr__(self) -> str:
        return f"Pkcs11Signer(token={self._uri.token!r}, object={self._uri.object!r})"

    __str__ = __repr__

    def describe(self) -> dict:
        return {"kind": "pkcs11", "token": self._uri.token, "object": self._uri.object}

    def _private_key(self, session):
        from pkcs11 import KeyType, ObjectClass
        from pkcs11 import exceptions as px

        try:
            return session.get_key(object_class=ObjectClass.PRIVATE_KEY, key_type=KeyType.EC,
                                   label=self._uri.object)
        except px.NoSuchKey:
            raise SigningError(f"no private key labelled {self._uri.object!r} in PKCS#11 "
                               f"token {self._uri.token!r}") from None
        except px.PKCS11Error as exc:
            raise SigningError(f"the PKCS#11 token failed: {type(exc).__name__}") from None

    def check(self) -> None:
        with _pkcs11_session(self._uri) as session:
            self._private_key(session)

    def sign(self, data: bytes) -> bytes:
        from pkcs11 import Mechanism
        from pkcs11 import exceptions as px

        with _pkcs11_session(self._uri) as session:
            key = self._private_key(session)
            try:
                # CKM_ECDSA signs a digest: hash here, so any token that has ECDSA works.
                return _raw_ecdsa(key.sign(_digest(self.alg, data), mechanism=Mechanism.ECDSA),
                                  self.alg)
            except px.PKCS11Error as exc:
                raise SigningError(f"the PKCS#11 token refused to sign: "
                                   f"{type(exc).__name__}") from None


class CommandSigner:
    """Runs a program per signature: the bytes on stdin, the signature on stdout."""

    def __init__(self, command: str, chain_pem: str) -> None:
        self._argv = shlex.split(command)
        if not self._argv:
            raise InputError("signer command: is empty")
        self.chain_pem = chain_pem
        self.alg = alg_for_public_key(_leaf(chain_pem).public_key())

    def __repr__(self) -> str:
        return f"CommandSigner(program={Path(self._argv[0]).name!r})"

    __str__ = __repr__

    def describe(self) -> dict:
        return {"kind": "command", "program": self._argv[0]}

    def check(self) -> None:
        import shutil

        if shutil.which(self._argv[0]) is None:
            raise SigningError(f"signer command not found: {self._argv[0]}")

    def sign(self, data: bytes) -> bytes:
        try:
            done = subprocess.run(self._argv, input=data, capture_output=True,
                                  timeout=COMMAND_TIMEOUT_S, check=False)
        except FileNotFoundError:
            raise SigningError(f"signer command not found: {self._argv[0]}") from None
        except subprocess.TimeoutExpired:
            raise SigningError(f"signer command took over {COMMAND_TIMEOUT_S:.0f} s") from None
        if done.returncode != 0:
            raise SigningError(f"signer command failed (exit {done.returncode})")
        if self.alg == "ed25519":
            if len(done.stdout) != 64:
                raise SigningError("signer command returned no Ed25519 signature")
            return done.stdout
        return _raw_ecdsa(done.stdout, self.alg)


def _file_signer(spec: str, workspace) -> ClaimSigner:
    return workspace.load_file_signer()


SIGNER_KINDS: dict[str, Callable[[str, object], ClaimSigner]] = {
    "file": _file_signer,
    "pkcs11": lambda spec, ws: Pkcs11Signer(spec, ws.signer_chain_pem()),
    "command": lambda spec, ws: CommandSigner(spec[len("command:"):], ws.signer_chain_pem()),
}


def signer_kind(spec: str) -> str:
    kind = spec.split(":", 1)[0] if spec != "file" else "file"
    if kind not in SIGNER_KINDS:
        raise InputError(f"unknown signer {spec!r}: use file, pkcs11:URI or command:PROGRAM "
                         f"(known kinds: {', '.join(SIGNER_KINDS)})")
    return kind


def open_signer(spec: str, workspace) -> ClaimSigner:
    """The claim signer the ``signer`` setting names, for ``workspace``."""
    return SIGNER_KINDS[signer_kind(spec)](spec, workspace)
