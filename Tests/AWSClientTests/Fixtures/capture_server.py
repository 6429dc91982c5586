# Records every request as it arrived on the wire (method, raw path, headers in order, body as
# hex) as one JSON line in sys.argv[2], and answers 200 with a small S3-object-like body (a
# chunked one of 120 bytes when the path contains `chunked`).
# Run by PythonServer (sys.argv[1] is the port).
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OUT = sys.argv[2]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with open(OUT, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path, "headers": list(self.headers.items()),
                                "body": body.hex()}) + "\n")
        if "chunked" in self.path:
            # No Content-Length: two 60-byte chunks, so only counting while streaming sees the size.
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("ETag", '"c"')
            self.end_headers()
            for _ in range(2):
                self.wfile.write(b"3c\r\n" + b"z" * 60 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        data = b"{}" if self.command == "POST" else b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", '"5d41402abc4b2a76b9719d911017c592"')
        self.send_header("Last-Modified", "Thu, 03 Dec 2026 09:42:56 GMT")
        self.end_headers()
        self.wfile.write(data)

    do_GET = handle_any
    do_POST = handle_any


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
