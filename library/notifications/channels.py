"""The two ways a message leaves: email over SMTP and Telegram's Bot API.

Each raises DeliveryError; `permanent` says retrying cannot help (the server refused
the recipient, the chat blocked the bot), so the entry fails at once. With nothing
configured a channel writes the message to the log instead, as SPEC section 5 asks.
"""

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import requests
from flask import current_app


class DeliveryError(Exception):
    def __init__(self, message, *, permanent=False, retry_after=None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def _one_line(text, limit=2000):
    return " ".join(str(text).split())[:limit]


class Mailer:
    """Sends mail over one SMTP connection, opened on first use and reused for a pass."""

    def __init__(self, config):
        self.config = config
        self.connection = None

    @property
    def configured(self):
        return bool(self.config.get("MAIL_SERVER"))

    def _connect(self):
        c = self.config
        context = ssl.create_default_context(cafile=c.get("MAIL_CA_FILE") or None)
        timeout = c["MAIL_TIMEOUT"]
        if c["MAIL_USE_SSL"]:
            smtp = smtplib.SMTP_SSL(
                c["MAIL_SERVER"], c["MAIL_PORT"], timeout=timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(c["MAIL_SERVER"], c["MAIL_PORT"], timeout=timeout)
        try:
            if c["MAIL_USE_TLS"] and not c["MAIL_USE_SSL"]:
                smtp.starttls(context=context)
            if c.get("MAIL_USERNAME"):
                smtp.login(c["MAIL_USERNAME"], c.get("MAIL_PASSWORD") or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, to, message, entry_id=None):
        if not self.configured:
            current_app.logger.info(
                "mail logged, not sent (no MAIL_SERVER) id=%s to=%s subject=%r body=%r",
                entry_id,
                to,
                message.subject,
                message.text,
            )
            return
        email = EmailMessage()
        email["From"] = self.config["MAIL_DEFAULT_SENDER"]
        email["To"] = to
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(domain=self.config["MAIL_DEFAULT_SENDER"].split("@")[-1])
        email.set_content(message.text)
        if message.html:
            email.add_alternative(message.html, subtype="html")
        try:
            if self.connection is None:
                self.connection = self._connect()
            self.connection.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(
                f"SMTP refused {to}: {_one_line(exc.recipients)}",
                permanent=all(500 <= code < 600 for code in codes),
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise DeliveryError(
                f"SMTP {exc.smtp_code}: {_one_line(exc.smtp_error)}",
                # 5xx means "never"; but a refused login is a setting to fix, then retry.
                permanent=500 <= exc.smtp_code < 600
                and not isinstance(exc, smtplib.SMTPAuthenticationError),
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise DeliveryError(
                f"SMTP {self.config['MAIL_SERVER']}:{self.config['MAIL_PORT']}: "
                f"{type(exc).__name__}: {_one_line(exc)}"
            ) from exc

    def close(self):
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None


class TelegramBot:
    """The few Bot API methods we use, over one HTTP session."""

    def __init__(self, config):
        self.config = config
        self.session = requests.Session()

    @property
    def configured(self):
        return bool(self.config.get("TELEGRAM_BOT_TOKEN"))

    def call(self, method, **payload):
        api, token = self.config["TELEGRAM_API_URL"].rstrip("/"), self.config["TELEGRAM_BOT_TOKEN"]
        url = f"{api}/bot{token}/{method}"
        try:
            response = self.session.post(url, json=payload, timeout=self.config["TELEGRAM_TIMEOUT"])
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            # The token is part of the URL: it never goes into an error or a log line.
            said = _one_line(exc, 300).replace(self.config["TELEGRAM_BOT_TOKEN"], "<token>")
            raise DeliveryError(f"Telegram {method}: {type(exc).__name__}: {said}") from exc
        if not isinstance(body, dict) or not body.get("ok"):
            body = body if isinstance(body, dict) else {}
            code = body.get("error_code", response.status_code)
            description = _one_line(body.get("description", response.reason))
            retry_after = (body.get("parameters") or {}).get("retry_after")
            raise DeliveryError(
                f"Telegram {method} {code}: {description}",
                # 400 (chat not found) and 403 (bot blocked) will not change by waiting.
                permanent=code in (400, 403),
                retry_after=retry_after if isinstance(retry_after, int) else None,
            )
        return body.get("result")

    def send(self, chat_id, message, entry_id=None):
        if not self.configured:
            current_app.logger.info(
                "telegram logged, not sent (no TELEGRAM_BOT_TOKEN) id=%s chat=%s text=%r",
                entry_id,
                chat_id,
                message.text,
            )
            return
        self.call("sendMessage", chat_id=int(chat_id), text=message.text)

    def close(self):
        self.session.close()
