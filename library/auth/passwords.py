"""Password hashing: argon2 through libpass (the maintained passlib)."""

from flask import current_app
from passlib.context import CryptContext

_contexts = {}


def _context():
    """The app's CryptContext; its argon2 cost comes from the config (lower in tests)."""
    cfg = current_app.config
    key = (cfg.get("ARGON2_MEMORY_COST"), cfg.get("ARGON2_TIME_COST"))
    if key not in _contexts:
        options = {}
        if key[0]:
            options["argon2__memory_cost"] = key[0]
        if key[1]:
            options["argon2__rounds"] = key[1]
        _contexts[key] = CryptContext(schemes=["argon2"], **options)
    return _contexts[key]


def hash_password(password):
    return _context().hash(password)


def verify_password(password, password_hash):
    """Check a password; with no hash (unknown account) spend the same time, then fail."""
    ctx = _context()
    if password_hash is None:
        ctx.dummy_verify()
        return False
    return ctx.verify(password, password_hash)
