"""Secrets at rest: shared secrets, tokens and webhook secrets are stored encrypted.

The Fernet key is derived from APP_SECRET_KEY with HKDF, so operators manage one string and a
database dump alone reveals nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"system-reality-for-jira/secrets-at-rest/v1"


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._digest_key = hashlib.sha256(b"digest:" + secret_key.encode()).digest()

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:  # a changed APP_SECRET_KEY is the usual cause
            raise ValueError("stored secret cannot be decrypted with the current APP_SECRET_KEY") from exc

    def digest(self, value: str) -> str:
        """A keyed digest for looking up bearer tokens without storing them readable."""
        return hmac.new(self._digest_key, value.encode(), hashlib.sha256).hexdigest()


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"
