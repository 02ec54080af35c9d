#!/usr/bin/env python3
"""Git over HTTPS for the tests: `git http-backend` (git's smart HTTP, as a CGI program) behind a
TLS server on loopback, with a self-signed certificate and HTTP basic authentication.

Usage: git_https_server.py ROOT CERT KEY
  ROOT       directory of bare repositories, served as https://127.0.0.1:PORT/<name>.git
  CERT, KEY  PEM files of the server certificate
Environment: GIT_HTTPS_USER and GIT_HTTPS_PASSWORD, the one account that is let in (every
request needs it). Prints "listening PORT" once ready, then one line per request:
"<METHOD> <path> user=<user or -> status=<code>". Runs until killed.
"""

import base64
import http.server
import os
import ssl
import subprocess
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, code, headers, payload, user):
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        print(f"{self.command} {self.path.split('?')[0]} user={user or '-'} status={code}", flush=True)

    def serve(self):
        data = self.body()
        expected = "Basic " + base64.b64encode(
            f"{os.environ['GIT_HTTPS_USER']}:{os.environ['GIT_HTTPS_PASSWORD']}".encode()
        ).decode()
        if self.headers.get("Authorization") != expected:
            self.reply(401, [("WWW-Authenticate", 'Basic realm="git"')], b"", None)
            return
        user = os.environ["GIT_HTTPS_USER"]
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(data)),
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        out = subprocess.run(["git", "http-backend"], input=data, env=env, capture_output=True).stdout
        sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
        head, _, payload = out.partition(sep)
        code, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                code = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.reply(code, headers, payload, user)

    do_GET = serve
    do_POST = serve


ROOT, CERT, KEY = sys.argv[1:4]
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
