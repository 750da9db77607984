"""TLS for the connections between parties: keys and certificates, contexts, and peer identities.

``make_keys(directory, parties)`` creates a private certificate authority (CA) and one key and certificate per
party, signed by it.  Party i's files are ``party_i/mpyc_ca.crt``, ``party_i/party_i.crt`` and
``party_i/party_i.key`` -- the names MPyC's own ``--ssl`` option reads from ``.config/`` -- so each party's
folder can be copied to its host as it is.  The CA's private key is not kept: nobody can issue further
certificates for this set of parties, and a new run with other parties gets a new CA.

Each certificate names its party (common name ``MPyC party i``).  A party accepts a peer only if the peer's
certificate is signed by the CA *and* names the party id the peer claims to be; the check happens before any
secret (MPyC's PRSS keys) is sent.
"""

from __future__ import annotations

import datetime
import os
import ssl

from ..errors import InputError, SecureGenomeError

CA_FILE = "mpyc_ca.crt"


class AuthenticationError(SecureGenomeError):
    """A peer could not be authenticated (wrong CA, wrong party, no certificate, no run secret)."""

    code = "authentication"


def identity(pid: int) -> str:
    """The common name in party ``pid``'s certificate (the name MPyC verifies too)."""
    return f"MPyC party {pid}"


def make_keys(directory, parties: int, days: int = 365) -> list[str]:
    """Create a CA and a key + certificate per party under ``directory``; returns the party folders."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if parties < 2:
        raise InputError("--parties: TLS keys are for runs of 2 or more parties")
    if days < 1:
        raise InputError("--days must be at least 1")
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                            f"securegenome CA {now:%Y-%m-%d} {os.urandom(6).hex()}")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=True, crl_sign=True, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)

    folders = []
    for pid in range(parties):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity(pid))]))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=True,
                                             key_cert_sign=False, crl_sign=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        folder = os.path.join(directory, f"party_{pid}")
        os.makedirs(folder, exist_ok=True)
        _write(os.path.join(folder, CA_FILE), ca_pem, 0o644)
        _write(os.path.join(folder, f"party_{pid}.crt"), cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(os.path.join(folder, f"party_{pid}.key"),
               key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()), 0o600)
        folders.append(folder)
    return folders


def _write(path, data: bytes, mode: int) -> None:
    """Write atomically with the given permissions from the start (a key is never world-readable)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def party_files(tls_dir, pid: int) -> tuple[str, str, str]:
    """(certificate, key, CA certificate) of party ``pid`` in ``tls_dir`` or its ``party_<pid>`` sub-folder."""
    for folder in (tls_dir, os.path.join(tls_dir, f"party_{pid}")):
        files = tuple(os.path.join(folder, name) for name in (f"party_{pid}.crt", f"party_{pid}.key", CA_FILE))
        if all(os.path.isfile(f) for f in files):
            return files
    raise InputError(f"--tls-dir {tls_dir}: no party_{pid}.crt, party_{pid}.key and {CA_FILE} for party {pid} "
                     f"(create them with `securegenome keys` and copy folder party_{pid} to this host)")


def context(tls_dir, pid: int, server: bool) -> ssl.SSLContext:
    """A TLS context that presents party ``pid``'s certificate and requires one signed by the CA from peers.

    Host names are not checked by OpenSSL (peers are named by party id, not by DNS name); the caller checks
    the peer's identity with :func:`check_peer` before it sends anything.
    """
    crt, key, ca = party_files(tls_dir, pid)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_cert_chain(crt, key)
        ctx.load_verify_locations(cafile=ca)
    except (ssl.SSLError, OSError) as exc:
        raise InputError(f"--tls-dir {tls_dir}: cannot load party {pid}'s key and certificates: {exc}") from None
    return ctx


def check_peer(transport, pid: int) -> None:
    """Raise AuthenticationError unless the TLS peer on ``transport`` holds party ``pid``'s certificate."""
    cert = transport.get_extra_info("peercert") or {}
    names = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    if names != [identity(pid)]:
        shown = ", ".join(names) or "no name"
        raise AuthenticationError(f"the peer claiming to be party {pid} holds the certificate of {shown!r}, "
                                  f"not {identity(pid)!r}")
