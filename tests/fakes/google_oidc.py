"""Google-style OIDC for tests: an RSA key with a self-signed certificate, a certs endpoint in
the format google-auth fetches (kid -> PEM), and tokens minted like Cloud Tasks' OIDC tokens."""

from __future__ import annotations

import datetime
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from google.auth import crypt, jwt

from .server import LoopbackServer


def _key_and_cert():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-google")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem_key, cert.public_bytes(serialization.Encoding.PEM).decode()


class FakeGoogleOIDC(LoopbackServer):
    KID = "fake-kid-1"

    def __init__(self):
        pem_key, self.cert_pem = _key_and_cert()
        self.signer = crypt.RSASigner.from_string(pem_key, key_id=self.KID)
        self.cert_fetches = 0

    @property
    def certs_url(self) -> str:
        return self.url + "/oauth2/v1/certs"

    def handle(self, req, verb):
        self.cert_fetches += 1
        if req.path.split("?")[0] != "/oauth2/v1/certs":  # Google's endpoint serves the certs at one path
            return req.send_json(404, {"error": "not_found"})
        req.send_json(200, {self.KID: self.cert_pem}, {"Cache-Control": "public, max-age=3600"})

    def token(self, *, audience: str, email: str, verified=True, expires_in=300, issuer="https://accounts.google.com") -> str:
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": "1234",
            "email": email,
            "email_verified": verified,
            "iat": now - 5 if expires_in > 0 else now - 4000,
            "exp": now + expires_in,
        }
        return jwt.encode(self.signer, claims).decode()
