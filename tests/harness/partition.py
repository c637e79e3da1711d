"""A TCP forwarder that can be cut like a partition: packets stop, sockets stay open.

A process that reaches a service through :class:`Partition` sees it normally until
:meth:`Partition.cut`. From then on nothing it sends arrives and nothing comes back; a
new connection completes its handshake (the kernel's listen backlog) and then hears
nothing. That is what a network partition that drops packets looks like from the
process, unlike a stopped server (connection refused) or a closed socket (reset).
"""

from __future__ import annotations

import socket
import threading

from devenv.ports import free_port


class Partition:
    def __init__(self, host: str, port: int, *, listen_port: int | None = None) -> None:
        """Forwards ``listen_port`` (a free one by default) to ``host:port``."""
        self.target = (host, port)
        self.port = listen_port or free_port()
        self._cut = threading.Event()
        self._server = socket.create_server(("127.0.0.1", self.port), backlog=64)
        self._sockets: list[socket.socket] = [self._server]
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        self._cut.set()

    def close(self) -> None:
        self._cut.set()
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass

    def stop(self) -> None:
        """What a stopped server looks like: open connections end (the process reads
        EOF), new ones are refused. :meth:`close` alone leaves a connection whose pump
        thread is in ``recv`` open on Linux, which looks like a partition instead."""
        self._cut.set()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the listening socket, or one already closed
        self.close()

    def _accept(self) -> None:
        while not self._cut.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._cut.is_set():  # accepted in the instant of the cut: hold it silent
                self._sockets.append(client)
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            if self._cut.is_set():
                continue  # dropped, and the connection stays open
            try:
                sink.sendall(data)
            except OSError:
                return
