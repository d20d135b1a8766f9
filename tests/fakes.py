"""Real peers for the notification tests: an SMTP server (aiosmtpd) and a local HTTP
server standing in for the Telegram Bot API. Both listen on 127.0.0.1."""

import asyncio
import json
import socket
import ssl
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=15.0, interval=0.05):
    """Poll until `predicate()` is truthy; returns its value (or fails the test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


class _Handler:
    def __init__(self, server):
        self.server = server

    async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 - aiosmtpd's name
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        if self.server.reject_with:
            return self.server.reject_with
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.server.lock:
            self.server.messages.append(message)
            self.server.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd in a thread. `stop()` and `start()` again on the same port model an outage.

    mode: "plain", "starttls" (STARTTLS required before AUTH) or "ssl" (implicit TLS);
    with `login`, AUTH LOGIN/PLAIN is required with that (user, password).
    """

    def __init__(self, mode="plain", login=None, tmp_path=None):
        self.mode = mode
        self.login = login
        self.port = free_port()
        self.messages = []
        self.envelopes = []
        self.lock = threading.Lock()
        self.reject_with = None
        self.delay = 0  # seconds each message takes, to make senders overlap
        self.controller = None
        self.ca_file = None
        self._server_context = None
        if mode != "plain":
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            self._server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(self._server_context)
            self.ca_file = str(tmp_path / "smtp-ca.pem")
            ca.cert_pem.write_to_path(self.ca_file)

    def _authenticate(self, _server, _session, _envelope, _mechanism, auth_data):
        user, password = self.login
        ok = auth_data.login == user.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok)

    def start(self):
        kwargs = {}
        if self.login:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                # With implicit TLS the whole session is encrypted, but aiosmtpd only
                # counts STARTTLS as TLS; it would hide AUTH.
                auth_require_tls=self.mode == "starttls",
            )
        if self.mode == "starttls":
            kwargs.update(tls_context=self._server_context, require_starttls=True)
        elif self.mode == "ssl":
            kwargs.update(ssl_context=self._server_context)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)
        if self.mode == "ssl":
            # aiosmtpd's readiness probe would not trust our test CA: probe with it.
            self.controller._trigger_server = self._probe_tls
        self.controller.start()
        return self

    def _probe_tls(self):
        context = ssl.create_default_context(cafile=self.ca_file)
        with (
            socket.create_connection(("127.0.0.1", self.port), 2.0) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.recv(1024)

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def config(self):
        """The app settings that point at this server."""
        settings = {
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": self.port,
            "MAIL_USE_TLS": self.mode == "starttls",
            "MAIL_USE_SSL": self.mode == "ssl",
            "MAIL_USERNAME": self.login[0] if self.login else None,
            "MAIL_PASSWORD": self.login[1] if self.login else None,
            "MAIL_CA_FILE": self.ca_file,
            "MAIL_DEFAULT_SENDER": "library@library.test",
            "MAIL_TIMEOUT": 5,
        }
        return settings

    def received(self, to=None):
        with self.lock:
            return [m for m in self.messages if to is None or m["To"] == to]


class BotApi:
    """A local stand-in for https://api.telegram.org: records calls, serves updates.

    `sent` lists the sendMessage payloads; `push_update()` queues an update for
    getUpdates, which honours `offset` as Telegram does; `fail_with` makes every call
    answer an error (status, description).
    """

    def __init__(self, token="123456:TEST-TOKEN"):
        self.token = token
        self.sent = []
        self.calls = []
        self.updates = []
        self.fail_with = None
        self.lock = threading.Lock()
        self._next_update_id = 1000
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}")
                prefix = f"/bot{api.token}/"
                if not self.path.startswith(prefix):
                    return self._answer(
                        404, {"ok": False, "error_code": 404, "description": "Not Found"}
                    )
                method = self.path[len(prefix) :]
                with api.lock:
                    api.calls.append((method, payload))
                    if api.fail_with:
                        status, description = api.fail_with
                        return self._answer(
                            status, {"ok": False, "error_code": status, "description": description}
                        )
                    if method == "sendMessage":
                        api.sent.append(payload)
                        result = {"message_id": len(api.sent), "chat": {"id": payload["chat_id"]}}
                    elif method == "getUpdates":
                        offset = payload.get("offset", 0)
                        api.updates = [u for u in api.updates if u["update_id"] >= offset]
                        result = list(api.updates)
                    else:
                        result = True
                self._answer(200, {"ok": True, "result": result})

            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def start_update(self, chat_id, text):
        """A Bot API update: the user of `chat_id` sent `text` to the bot."""
        with self.lock:
            self._next_update_id += 1
            return {
                "update_id": self._next_update_id,
                "message": {
                    "message_id": self._next_update_id,
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": "Reader"},
                    "from": {"id": chat_id, "is_bot": False, "first_name": "Reader"},
                    "text": text,
                },
            }

    def push_update(self, chat_id, text):
        update = self.start_update(chat_id, text)
        with self.lock:
            self.updates.append(update)
        return update

    def sent_to(self, chat_id):
        with self.lock:
            return [p["text"] for p in self.sent if p["chat_id"] == chat_id]

    def config(self, bot_name="library_test_bot"):
        return {
            "TELEGRAM_BOT_TOKEN": self.token,
            "TELEGRAM_BOT_NAME": bot_name,
            "TELEGRAM_API_URL": self.url,
            "TELEGRAM_TIMEOUT": 5,
        }
