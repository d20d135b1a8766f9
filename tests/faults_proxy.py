"""A TCP relay to put between the app and its database, to cut and restore at will.

The machine's PostgreSQL is shared, so the fault tests never stop it: they point the app
at this proxy instead and take the database away from the app's side of the wire.

    proxy = TcpProxy("127.0.0.1", 5432).start()
    ...  # DATABASE_URL at 127.0.0.1:proxy.port
    proxy.cut()  # live connections closed, new ones refused (the server is down)
    proxy.cut(hang=True)  # live connections closed, new ones accepted and never answered
    proxy.cut_on(b"COMMIT")  # cut() as the first message holding these bytes goes by
    proxy.restore()  # relaying again
    proxy.stop()

`cut()` is what a stopped or crashed server looks like: every open connection ends and
a new one gets "connection refused". `cut(hang=True)` is a host gone behind a firewall
or an overloaded server: a new connection is accepted and then nothing ever comes back,
so only the client's own connect timeout ends the wait. `cut_on(marker)` takes the
database away in the middle of a transaction: the message from the app that holds
`marker` (say the COMMIT) is not relayed, and the server rolls the transaction back.
The PostgreSQL wire protocol carries the SQL as text, so this works without TLS only.
"""

import contextlib
import socket
import threading

BUFFER = 64 * 1024
POLL = 0.05  # seconds; how often the accept loop looks at its state


class TcpProxy:
    def __init__(self, upstream_host, upstream_port, host="127.0.0.1", port=0):
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._live = set()  # sockets of relayed connections, both sides
        self._held = set()  # accepted while hanging: never relayed, never answered
        self._listener = None
        self._thread = None
        self._hang = False
        self._marker = None
        self.tripped = threading.Event()  # set when a cut_on marker has cut

    # -- control ---------------------------------------------------------------

    def start(self):
        self._listen()
        return self

    def cut(self, hang=False):
        """Take the database away: close every live connection; refuse or hang new ones."""
        with self._lock:
            self._hang = hang
        if not hang:
            self._stop_listening()
        self._close_all()

    def cut_on(self, marker):
        """Relay until the app sends `marker` (bytes); then, instead of it, cut()."""
        with self._lock:
            self._marker = marker
        self.tripped.clear()

    def restore(self):
        """Relay again; connections held while hanging are dropped."""
        with self._lock:
            self._hang = False
            held, self._held = self._held, set()
        for sock in held:
            _close(sock)
        if self._listener is None:
            self._listen()

    def stop(self):
        self._stop_listening()
        self._close_all()
        with self._lock:
            held, self._held = self._held, set()
        for sock in held:
            _close(sock)

    # -- the relay ---------------------------------------------------------------

    def _listen(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))  # the same port again after a cut
        listener.listen(128)
        listener.settimeout(POLL)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._thread = threading.Thread(
            target=self._accept_loop, args=(listener,), name=f"proxy:{self.port}", daemon=True
        )
        self._thread.start()

    def _stop_listening(self):
        listener, thread = self._listener, self._thread
        self._listener = self._thread = None
        if listener is not None:
            _close(listener)  # the accept loop notices within POLL seconds
        if thread is not None:
            thread.join(timeout=5)

    def _accept_loop(self, listener):
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by a cut or stop
            client.settimeout(None)
            with self._lock:
                if self._hang:
                    self._held.add(client)
                    continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                cut_meanwhile = self._hang or self._listener is not listener
                if not cut_meanwhile:
                    self._live.update((client, upstream))
            if cut_meanwhile:
                _close(client)
                _close(upstream)
                continue
            for src, dst, outbound in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, outbound), daemon=True).start()

    def _pump(self, src, dst, outbound):
        tail = b""  # the end of the previous chunk, for a marker split between two
        try:
            while data := src.recv(BUFFER):
                if outbound and self._marker and self._take_marker(tail + data):
                    self.tripped.set()
                    self.cut()  # closes src and dst too: `data` never reaches the server
                    return
                tail = data[-64:]
                dst.sendall(data)
        except OSError:
            pass
        finally:
            # One side ended: end the whole connection, as a dying server would.
            with self._lock:
                self._live.discard(src)
                self._live.discard(dst)
            _close(src)
            _close(dst)

    def _take_marker(self, data):
        with self._lock:
            if self._marker and self._marker in data:
                self._marker = None
                return True
            return False

    def _close_all(self):
        with self._lock:
            live, self._live = self._live, set()
        for sock in live:
            _close(sock)


def _close(sock):
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv() on it
    with contextlib.suppress(OSError):
        sock.close()
