"""Own secret encryption at rest (Fernet with ``CONNECTOR_SECRET_KEY``)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connector.errors import SettingsError
from connector.redaction import remember_secret

ENCRYPTED_PREFIX = "fernet:"


class SecretBox:
    """Encrypt and decrypt secrets; older keys decrypt only (for rotation)."""

    def __init__(self, key: str, *, old_keys: tuple[str, ...] = ()) -> None:
        self._fernet = MultiFernet([Fernet(key.encode()), *(Fernet(k.encode()) for k in old_keys)])

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plaintext: str) -> str:
        remember_secret(plaintext)
        return ENCRYPTED_PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        """Decrypt a stored secret; the clear value is registered for log scrubbing."""
        if not token.startswith(ENCRYPTED_PREFIX):
            raise SettingsError("a stored secret is not encrypted; refusing to use it")
        try:
            plaintext = self._fernet.decrypt(token[len(ENCRYPTED_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SettingsError(
                "a stored secret cannot be decrypted with CONNECTOR_SECRET_KEY "
                "(was the key changed without `connector secrets rotate`?)"
            ) from None
        remember_secret(plaintext)
        return plaintext

    def rotate(self, token: str) -> str:
        """Re-encrypt a stored secret with the current key (it may be encrypted with an old one)."""
        if not token.startswith(ENCRYPTED_PREFIX):
            raise SettingsError("a stored secret is not encrypted; refusing to rotate it")
        try:
            return ENCRYPTED_PREFIX + self._fernet.rotate(token[len(ENCRYPTED_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SettingsError(
                "a stored secret cannot be decrypted with CONNECTOR_SECRET_KEY or CONNECTOR_PREVIOUS_SECRET_KEYS"
            ) from None
