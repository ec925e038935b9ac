"""Key files, the development CA and signer certificates.

This is the one module that handles raw private keys. Keys are written with mode 0600 through
``os.open(..., O_EXCL)`` so that they are never readable by others, not even for an instant,
and never overwritten. A key is encrypted at rest when ``EMO_SAFE_KEY_PASSPHRASE`` is set.
Loaded keys stay inside :class:`SignerKey` objects whose ``repr`` shows nothing secret; no
function here puts key bytes into an exception message.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from emo_safe.errors import InputError, KeyFileError, read_file_bytes

PASSPHRASE_ENV = "EMO_SAFE_KEY_PASSPHRASE"

# C2PA (c2pa-rs) accepts these extended key usages for claim signing; emailProtection is the one
# every X.509 toolkit knows, so the dev signer uses it.
C2PA_SIGNER_EKU = ExtendedKeyUsageOID.EMAIL_PROTECTION


def passphrase_from_env() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 and ``data``, all or nothing; never overwrite a file
    (not even one that appears while this one is written)."""
    from emo_safe import _fs

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        raise KeyFileError(f"refusing to overwrite existing key file {path}")
    _fs.write_atomic(path, data, replace=False, private=True, error=KeyFileError)


def _serialize_private(key, passphrase: bytes | None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def load_private_key(path: Path, passphrase: bytes | None = None):
    """Load a PEM private key; the error names the file and the problem, never the bytes."""
    if passphrase is None:
        passphrase = passphrase_from_env()
    data = read_file_bytes(path, "key", KeyFileError)
    encrypted = b"ENCRYPTED" in data.split(b"\n", 1)[0]
    if encrypted and not passphrase:
        raise KeyFileError(
            f"key file {path} is encrypted: set {PASSPHRASE_ENV} to its passphrase"
        )
    try:
        return serialization.load_pem_private_key(data, password=passphrase if encrypted else None)
    except (ValueError, TypeError):
        if encrypted:
            raise KeyFileError(f"wrong passphrase for key file {path}") from None
        raise KeyFileError(f"key file {path} is not a PEM private key") from None
    except Exception:  # cryptography raises various types for garbage; never echo them
        raise KeyFileError(f"key file {path} could not be parsed") from None


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "emo-safe development"),
        ]
    )


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _key_usage(ca: bool) -> x509.KeyUsage:
    """A CA signs certificates and CRLs; an end-entity signer only signs (digitalSignature)."""
    return x509.KeyUsage(
        digital_signature=not ca, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
        encipher_only=False, decipher_only=False,
    )


def make_dev_ca(common_name: str = "emo-safe development root CA"):
    """A self-signed P-256 root valid for ten years: (private key, certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_cert(ca_key, ca_cert: x509.Certificate, common_name: str, eku,
               days: int = 825, public_key=None, ocsp_url: str | None = None,
               eku_critical: bool = False, not_before: _dt.datetime | None = None):
    """An end-entity certificate issued by the CA: ``(private key or None, certificate)``.

    A fresh P-256 key is made unless ``public_key`` is given (a key that lives in an HSM:
    then no private key is returned). ``eku``: the one extended key usage (claim signing,
    timeStamping, OCSPSigning). ``ocsp_url``: where relying parties ask for its revocation
    status (an Authority Information Access entry)."""
    key = None
    if public_key is None:
        key = ec.generate_private_key(ec.SECP256R1())
        public_key = key.public_key()
    start = not_before or (_now() - _dt.timedelta(minutes=5))
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + _dt.timedelta(minutes=5) + _dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=eku_critical)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
            critical=False,
        )
    )
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                   x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


def issue_signer_cert(ca_key, ca_cert: x509.Certificate, common_name: str = "emo-safe signer",
                      days: int = 825, public_key=None, ocsp_url: str | None = None):
    """An end-entity P-256 certificate that c2pa-rs accepts for claim signing."""
    return issue_cert(ca_key, ca_cert, common_name, C2PA_SIGNER_EKU, days,
                      public_key=public_key, ocsp_url=ocsp_url)


def issue_tsa_cert(ca_key, ca_cert: x509.Certificate, days: int = 3650):
    """The development time-stamping authority's certificate: RFC 3161 asks for the one
    extended key usage timeStamping, marked critical."""
    return issue_cert(ca_key, ca_cert, "emo-safe development TSA",
                      ExtendedKeyUsageOID.TIME_STAMPING, days, eku_critical=True)


def issue_ocsp_cert(ca_key, ca_cert: x509.Certificate, days: int = 3650):
    """The development OCSP responder's certificate (delegated by the CA: OCSPSigning)."""
    return issue_cert(ca_key, ca_cert, "emo-safe development OCSP responder",
                      ExtendedKeyUsageOID.OCSP_SIGNING, days)


def ocsp_urls(cert: x509.Certificate) -> list[str]:
    """The OCSP responders a certificate names (Authority Information Access)."""
    try:
        aia = cert.extensions.get_extension_for_oid(
            x509.oid.ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    except x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP]


def load_ca(key_path: Path, cert_path: Path):
    """The development CA's key and certificate, for issuing."""
    if not key_path.exists():
        raise KeyFileError(f"{key_path} is absent: this workspace's chain was imported, so "
                           "its certificates are issued by the operator's CA, not here")
    return load_private_key(key_path), load_cert_chain(cert_path)[0]


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert_chain(path: Path) -> list[x509.Certificate]:
    return load_cert_chain_bytes(read_file_bytes(path, "certificate", InputError), path)


def load_cert_chain_bytes(data: bytes, source: object = "the chain") -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InputError(f"{source} holds no PEM certificate") from None


def write_new_keypair(key_path: Path, key, passphrase: bytes | None) -> None:
    write_private_file(key_path, _serialize_private(key, passphrase))


def import_private_key(src: Path, dest: Path, passphrase: bytes | None) -> object:
    """Copy an operator's key into the workspace (0600, re-encrypted if a passphrase is set)."""
    key = load_private_key(src, passphrase)
    write_private_file(dest, _serialize_private(key, passphrase))
    return key


def same_public_key(a, b) -> bool:
    """Are these two public keys the same key (compared as SubjectPublicKeyInfo)?"""
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    return a.public_bytes(enc, fmt) == b.public_bytes(enc, fmt)


def public_keys_match(key, cert: x509.Certificate) -> bool:
    """Does the private ``key`` belong to ``cert``?"""
    return same_public_key(key.public_key(), cert.public_key())


def new_secret_key() -> bytes:
    """A fresh 256-bit secret (the watermark key)."""
    return secrets.token_bytes(32)


_SECRET_HEADER = b"emo-safe encrypted secret v1 (scrypt n=2^15 r=8 p=1, AES-256-GCM)\n"


def secret_key_file_bytes(key: bytes, passphrase: bytes | None) -> bytes:
    """The watermark key as stored: hex, or encrypted under the passphrase (scrypt-derived
    AES-256-GCM; the header line names the scheme, so a reader never guesses)."""
    if not passphrase:
        return key.hex().encode("ascii") + b"\n"
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    kek = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase)
    sealed = AESGCM(kek).encrypt(nonce, key, _SECRET_HEADER)
    return _SECRET_HEADER + b"\n".join(x.hex().encode() for x in (salt, nonce, sealed)) + b"\n"


def load_secret_key(path: Path, passphrase: bytes | None = None) -> bytes:
    """A 256-bit secret key file (plain hex, or encrypted: see
    :func:`secret_key_file_bytes`). Errors name the file, never its bytes."""
    data = read_file_bytes(path, "key", KeyFileError, max_bytes=4096)
    if data.startswith(_SECRET_HEADER):
        passphrase = passphrase if passphrase is not None else passphrase_from_env()
        if not passphrase:
            raise KeyFileError(f"key file {path} is encrypted: set {PASSPHRASE_ENV} to its "
                               "passphrase")
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

        try:
            salt, nonce, sealed = (bytes.fromhex(x.decode()) for x in
                                   data[len(_SECRET_HEADER):].split())
            kek = Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(passphrase)
            key = AESGCM(kek).decrypt(nonce, sealed, _SECRET_HEADER)
        except InvalidTag:
            raise KeyFileError(f"wrong passphrase for key file {path}") from None
        except ValueError:
            raise KeyFileError(f"key file {path} is damaged") from None
    else:
        try:
            key = bytes.fromhex(data.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            raise KeyFileError(f"key file {path} is not a 256-bit hex key") from None
    if len(key) != 32:
        raise KeyFileError(f"key file {path} is not a 256-bit key")
    return key


@dataclass(frozen=True, repr=False)
class SignerKey:
    """A loaded C2PA signing key and its chain. ``repr`` and ``str`` reveal nothing secret."""

    _key: object
    chain_pem: str
    alg: str

    def __repr__(self) -> str:
        return f"SignerKey(alg={self.alg!r})"

    __str__ = __repr__

    def describe(self) -> dict:
        return {"kind": "file"}

    def check(self) -> None:
        """A loaded key file can always sign."""

    def sign(self, data: bytes) -> bytes:
        """Raw signature as C2PA's COSE layer expects it (r||s for ECDSA)."""
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            hash_alg = {"es256": hashes.SHA256(), "es384": hashes.SHA384(),
                        "es512": hashes.SHA512()}[self.alg]
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_alg)))
            size = (key.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        raise KeyFileError("unsupported signer key type (use an EC P-256/384/521 or Ed25519 key)")


def signer_alg_for(key) -> str:
    """The COSE algorithm of a private key (a key file's)."""
    return alg_for_public_key(key.public_key())


def alg_for_public_key(public_key) -> str:
    """The COSE algorithm for a public key (a certificate's: an HSM or KMS signer's)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        alg = {256: "es256", 384: "es384", 521: "es512"}.get(public_key.curve.key_size)
        if alg:
            return alg
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    raise KeyFileError("unsupported signer key type (use an EC P-256/384/521 or Ed25519 key)")


# --------------------------------------------------------------------------------------------
# The operator key: Ed25519, signs consent records (and, later, log heads). Only signatures and
# the public key leave this module.
def new_operator_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def public_key_pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_id(public_key: ed25519.Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(path: Path) -> ed25519.Ed25519PublicKey:
    data = read_file_bytes(Path(path), "public key", KeyFileError, max_bytes=65536)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise KeyFileError(f"{path} is not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key")
    return key


@dataclass(frozen=True, repr=False)
class OperatorKey:
    """The loaded operator signing key. ``repr`` shows only the public key id."""

    _key: ed25519.Ed25519PrivateKey
    key_id: str

    def __repr__(self) -> str:
        return f"OperatorKey(key_id={self.key_id!r})"

    __str__ = __repr__

    @classmethod
    def load(cls, path: Path) -> OperatorKey:
        key = load_private_key(path)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise KeyFileError(f"{path} is not an Ed25519 key")
        return cls(key, public_key_id(key.public_key()))

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)

    @property
    def public_key(self) -> ed25519.Ed25519PublicKey:
        return self._key.public_key()


class PublicKeyRing:
    """The current Ed25519 public key and the ones it replaced (``keys rotate``), by key id:
    what the old key signed keeps verifying. Accepted wherever one public key is."""

    def __init__(self, current: ed25519.Ed25519PublicKey,
                 retired: list[ed25519.Ed25519PublicKey] = ()) -> None:
        self.current = current
        self.current_id = public_key_id(current)
        self._by_id = {public_key_id(k): k for k in retired}
        self._by_id[self.current_id] = current

    def __repr__(self) -> str:
        return f"PublicKeyRing(current={self.current_id!r}, known={sorted(self._by_id)!r})"

    def get(self, key_id: str | None):
        """The key with this id (the current one for an empty id: heads and records of
        emo-safe 0.1 carry none); None if unknown."""
        return self.current if not key_id else self._by_id.get(key_id)

    @property
    def ids(self) -> list[str]:
        return sorted(self._by_id)


def as_key_ring(key) -> PublicKeyRing:
    return key if isinstance(key, PublicKeyRing) else PublicKeyRing(key)


def verify_ed25519(public_key: ed25519.Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(signature, data)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
