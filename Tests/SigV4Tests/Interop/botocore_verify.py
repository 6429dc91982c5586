"""Signs a request again with botocore's own SigV4Auth and prints its Authorization header, for a
request trailwatch signed: the two must be the same.

usage: botocore_verify.py < JSON {method, url, headers, body (base64), key, secret, region, service, timestamp}
"""
import base64
import json
import sys

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def main():
    spec = json.load(sys.stdin)
    headers = {k: v for k, v in spec["headers"] if k.lower() not in ("authorization", "x-amz-date")}
    request = AWSRequest(method=spec["method"], url=spec["url"], headers=headers,
                         data=base64.b64decode(spec["body"]))
    request.context["timestamp"] = spec["timestamp"]
    auth = SigV4Auth(Credentials(spec["key"], spec["secret"]), spec["service"], spec["region"])
    # add_auth would take the clock's time; these are its steps with the request's own timestamp.
    auth._modify_request_before_signing(request)
    canonical = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical)
    signature = auth.signature(string_to_sign, request)
    auth._inject_signature_to_request(request, signature)
    print(json.dumps({"authorization": request.headers["Authorization"], "canonicalRequest": canonical}))


main()
