"""Linking a reader's Telegram chat without anyone typing a chat id (SPEC section 5).

The reader's page shows `https://t.me/<bot>?start=<code>` and its QR code; the reader
opens it and presses Start; the bot receives `/start <code>` (by webhook or by
polling) and `link_chat` stores that chat on the reader. A code works once, for
TELEGRAM_LINK_HOURS; the conditional UPDATE that uses it decides, so two deliveries of
one update cannot both link.
"""

import io
import secrets
from datetime import timedelta
from urllib.parse import quote

import segno
from flask import current_app
from sqlalchemy import select, update

from ..circulation.common import setting
from ..circulation.errors import TelegramLinkNotFound, TelegramNotConfigured
from ..circulation.readers import get_reader
from ..circulation.values import is_storable
from ..extensions import db
from ..models import Reader, TelegramLink
from .outbox import queue_telegram_reply


def link_url(code):
    """The t.me link of `code`. Raises TelegramNotConfigured without a bot name."""
    bot = setting("TELEGRAM_BOT_NAME")
    if not bot:
        raise TelegramNotConfigured()
    return f"https://t.me/{quote(bot)}?start={code}"


def create_link(reader_id, *, now):
    """A new one-time link code for the reader.

    Raises ReaderNotFound, TelegramNotConfigured.
    """
    reader = get_reader(reader_id)
    if not setting("TELEGRAM_BOT_NAME"):
        raise TelegramNotConfigured()
    link = TelegramLink(
        # Telegram's start parameter allows A-Z, a-z, 0-9, _ and -, up to 64 characters.
        code=secrets.token_urlsafe(24),
        reader_id=reader.id,
        created_at=now,
        expires_at=now + timedelta(hours=setting("TELEGRAM_LINK_HOURS")),
    )
    db.session.add(link)
    db.session.flush()
    current_app.logger.info("telegram link created reader=%s", reader.id)
    return link


def get_link(reader_id, code):
    """The reader's link with this code.

    Raises TelegramLinkNotFound.
    """
    link = db.session.scalar(
        select(TelegramLink).where(TelegramLink.code == code, TelegramLink.reader_id == reader_id)
    )
    if link is None:
        raise TelegramLinkNotFound(reader_id=reader_id, code=code)
    return link


def qr_svg(url):
    """The QR code of `url` as an SVG document."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=6, border=2, title="QR", dark="#111")
    return out.getvalue()


def start_code(update):
    """(chat id, code) of a `/start <code>` message in a Bot API update, else None."""
    message = update.get("message") if isinstance(update, dict) else None
    if not isinstance(message, dict):
        return None
    text = message.get("text")
    chat = message.get("chat")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    if not isinstance(text, str) or type(chat_id) is not int:
        return None
    command, _, code = text.strip().partition(" ")
    # In groups the command may carry the bot's name: /start@library_bot CODE
    if command.split("@")[0] != "/start":
        return None
    return chat_id, code.strip()


def link_chat(chat_id, code, *, now):
    """Use `code` to link `chat_id` to its reader; queue the confirmation or refusal.

    Returns the linked reader, or None when the code is unknown, expired or used.
    """
    reader_id = (
        code
        and len(code) <= 64
        and is_storable(code)
        and db.session.execute(
            update(TelegramLink)
            .where(
                TelegramLink.code == code,
                TelegramLink.used_at.is_(None),
                TelegramLink.expires_at > now,
            )
            .values(used_at=now, chat_id=chat_id)
            .returning(TelegramLink.reader_id)
            .execution_options(synchronize_session=False)
        ).scalar()
    )
    linked = (
        reader_id
        and db.session.execute(
            update(Reader)
            .where(Reader.id == reader_id, Reader.deleted_at.is_(None))
            .values(telegram_chat_id=chat_id, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    )
    if not linked:
        if _already_linked(code, chat_id):
            # The same update delivered again (Telegram retries): already answered.
            return None
        current_app.logger.info("telegram link refused chat=%s", chat_id)
        queue_telegram_reply("telegram_refused", chat_id, now=now)
        return None
    reader = get_reader(reader_id)
    db.session.refresh(reader)
    queue_telegram_reply("telegram_linked", chat_id, now=now, reader=reader)
    current_app.logger.info("telegram linked reader=%s chat=%s", reader.id, chat_id)
    return reader


def _already_linked(code, chat_id):
    return bool(
        code
        and is_storable(code)
        and db.session.scalar(
            select(TelegramLink.code).where(
                TelegramLink.code == code, TelegramLink.chat_id == chat_id
            )
        )
    )


def handle_update(update, *, now):
    """Act on one Bot API update; anything but `/start <code>` is ignored."""
    found = start_code(update)
    if found is None:
        return None
    return link_chat(*found, now=now)
