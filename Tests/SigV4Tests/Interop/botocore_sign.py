"""Has botocore sign a CloudWatch Logs FilterLogEvents call exactly as `aws logs` would send it, and
prints the request as JSON (method, path, query, headers, body in base64) instead of sending it.

usage: botocore_sign.py ACCESS_KEY_ID SECRET ENDPOINT_URL
"""
import base64
import json
import sys
from urllib.parse import urlsplit

import botocore.session
from botocore.awsrequest import AWSResponse


class Body:
    def __init__(self, data):
        self.data = data

    def stream(self, **kwargs):
        yield self.data


def main():
    key, secret, endpoint = sys.argv[1:4]
    session = botocore.session.get_session()
    client = session.create_client(
        "logs", region_name="eu-west-1", endpoint_url=endpoint,
        aws_access_key_id=key, aws_secret_access_key=secret,
    )
    captured = {}

    def capture(request, **kwargs):
        url = urlsplit(request.url)
        headers = [[k, v.decode() if isinstance(v, bytes) else v] for k, v in request.headers.items()]
        # The HTTP client adds Host from the URL when it sends; botocore signed that value.
        headers.append(["Host", url.netloc])
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        captured.update(method=request.method, path=url.path or "/", query=url.query, headers=headers,
                        body=base64.b64encode(body).decode())
        return AWSResponse(request.url, 200, {}, Body(b'{"events":[],"searchedLogStreams":[]}'))

    client.meta.events.register("before-send.logs", capture)
    client.filter_log_events(logGroupName="aws-cloudtrail-logs-111122223333",
                             filterPattern='{ $.eventName = "ConsoleLogin" }', limit=5)
    print(json.dumps(captured))


main()
