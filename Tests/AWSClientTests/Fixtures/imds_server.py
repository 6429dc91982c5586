# A fake EC2 instance metadata service (IMDSv2 only) for the credential-chain tests.
# Run by PythonServer: sys.argv[1] is the port, sys.argv[2] how many seconds each issued
# credential lives. GET /counts reports what it served, as JSON.
import datetime, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LIFETIME = int(sys.argv[2])
lock = threading.Lock()
counts = {"token_puts": 0, "role_lists": 0, "credential_gets": 0, "refused": 0}
tokens = set()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        if self.path != "/latest/api/token" or not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            self.reply(400, "bad token request")
            return
        with lock:
            counts["token_puts"] += 1
            token = "token-%d" % counts["token_puts"]
            tokens.add(token)
        self.reply(200, token)

    def do_GET(self):
        if self.path == "/counts":
            with lock:
                self.reply(200, json.dumps(counts), "application/json")
            return
        with lock:
            if self.headers.get("X-aws-ec2-metadata-token") not in tokens:
                # IMDSv2 only: no (or an unknown) token is refused, as with HttpTokens=required.
                counts["refused"] += 1
                self.reply(401, "")
                return
        if self.path == "/latest/meta-data/iam/security-credentials/":
            with lock:
                counts["role_lists"] += 1
            self.reply(200, "trailwatch-role")
        elif self.path == "/latest/meta-data/iam/security-credentials/trailwatch-role":
            with lock:
                counts["credential_gets"] += 1
                n = counts["credential_gets"]
            expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=LIFETIME)
            self.reply(200, json.dumps({
                "Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAIMDS%d" % n, "SecretAccessKey": "secret-%d" % n,
                "Token": "session-%d" % n, "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "LastUpdated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }), "application/json")
        else:
            self.reply(404, "")


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
