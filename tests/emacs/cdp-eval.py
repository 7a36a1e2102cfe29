#!/usr/bin/env python3
"""Evaluates a JavaScript expression in the page of a headless Chromium through the DevTools
protocol (CDP) and prints its value as JSON. The Emacs tests read the demo page's DOM with it.

Standard library only: node 20 has no built-in WebSocket client and the tests add no packages,
so this speaks just enough WebSocket (RFC 6455: handshake, masked text frames out, unmasked
frames in) for one request and its answer.

Usage: cdp-eval.py DEVTOOLS_PORT EXPRESSION
Exit status: 0 with the value on stdout; 1 with the reason on stderr (no page yet, the
expression threw, the connection failed)."""
import base64
import json
import os
import socket
import struct
import sys
import urllib.request
from urllib.parse import urlparse


def page_socket_url(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as reply:
        targets = json.load(reply)
    for target in targets:
        if target.get("type") == "page" and "webSocketDebuggerUrl" in target:
            return target["webSocketDebuggerUrl"]
    raise RuntimeError(f"no page among the DevTools targets: {targets}")


class WebSocket:
    def __init__(self, url):
        parts = urlparse(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status = head.split(b"\r\n")[0]
        if b" 101 " not in status:
            raise RuntimeError(f"WebSocket handshake refused: {status.decode(errors='replace')}")

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("DevTools closed the connection")
        self.buffer += chunk

    def _read(self, n):
        while len(self.buffer) < n:
            self._fill()
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            header = struct.pack(">BB", 0x81, 0x80 | n)
        elif n < 65536:
            header = struct.pack(">BBH", 0x81, 0x80 | 126, n)
        else:
            header = struct.pack(">BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(header + mask + masked)

    def receive(self):
        message = b""
        while True:
            first, second = self._read(2)
            n = second & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = first & 0x0F
            if opcode == 0x8:
                raise RuntimeError("DevTools closed the WebSocket")
            if opcode in (0x9, 0xA):
                continue
            message += payload
            if first & 0x80:
                return message.decode()


def evaluate(port, expression):
    ws = WebSocket(page_socket_url(port))
    ws.send(json.dumps({"id": 1, "method": "Runtime.evaluate",
                        "params": {"expression": expression, "returnByValue": True}}))
    while True:
        reply = json.loads(ws.receive())
        if reply.get("id") == 1:
            break
    if "error" in reply:
        raise RuntimeError(f"CDP error: {reply['error']}")
    result = reply["result"]
    if "exceptionDetails" in result:
        raise RuntimeError(f"the expression threw: {result['exceptionDetails'].get('text')}")
    return result["result"].get("value")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        value = evaluate(int(sys.argv[1]), sys.argv[2])
    except (OSError, RuntimeError, ValueError) as e:
        print(f"cdp-eval: {e}", file=sys.stderr)
        return 1
    print(json.dumps(value))
    return 0


if __name__ == "__main__":
    sys.exit(main())
