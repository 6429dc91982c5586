#!/usr/bin/env python3
"""Sends signed (and mis-signed) CloudWatch Logs requests to trailwatch's API, for AuthE2ETests.

usage: auth_client.py URL ACCESS_KEY_ID SECRET SCENARIO [GROUP]
Prints one JSON document: {"status": HTTP status, "body": the JSON answer} (for "replayed", the
answers to the original and to the replay). Requests are signed by botocore's own SigV4Auth.

Scenarios:
  groups          boto3 describe_log_groups (all pages): {"groups": [names]}
  signed          a correctly signed DescribeLogGroups
  unsigned        the same request without any signature
  tampered-body   FilterLogEvents signed for one body, sent with GROUP in its place
  old-date        DescribeLogGroups signed 6 minutes ago
  replayed        DescribeLogGroups sent signed, then its signature replayed with X-Amz-Target changed
"""
import datetime
import http.client
import json
import sys
import urllib.parse

import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


def signed_request(url, key, secret, action, body, when=None):
    request = AWSRequest(method="POST", url=url + "/", data=body.encode(), headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328." + action,
    })
    real_now = botocore.auth.get_current_datetime
    if when is not None:
        botocore.auth.get_current_datetime = lambda: when
    try:
        SigV4Auth(Credentials(key, secret), "logs", "us-east-1").add_auth(request)
    finally:
        botocore.auth.get_current_datetime = real_now
    return request


def send(url, method, headers, body):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.putrequest(method, "/", skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", u.netloc)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = {"raw": data.decode(errors="replace")}
    return {"status": r.status, "body": parsed}


def main():
    url, key, secret, scenario = sys.argv[1:5]
    group = sys.argv[5] if len(sys.argv) > 5 else None
    if scenario == "groups":
        import boto3
        from botocore.config import Config
        c = boto3.client("logs", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                         aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        names = [g["logGroupName"] for page in c.get_paginator("describe_log_groups").paginate() for g in page["logGroups"]]
        print(json.dumps({"groups": names}))
        return
    body = "{}"
    if scenario == "signed":
        r = signed_request(url, key, secret, "DescribeLogGroups", body)
        out = send(url, "POST", dict(r.headers.items()), r.body)
    elif scenario == "unsigned":
        out = send(url, "POST", {"Content-Type": "application/x-amz-json-1.1",
                                 "X-Amz-Target": "Logs_20140328.DescribeLogGroups"}, body.encode())
    elif scenario == "tampered-body":
        signed_body = json.dumps({"logGroupName": "aws-cloudtrail-logs-000000000000", "limit": 1})
        r = signed_request(url, key, secret, "FilterLogEvents", signed_body)
        sent = json.dumps({"logGroupName": group, "limit": 1})
        assert len(sent) == len(signed_body), "the tampered body keeps the signed body's length"
        out = send(url, "POST", dict(r.headers.items()), sent.encode())
    elif scenario == "old-date":
        when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=6)
        r = signed_request(url, key, secret, "DescribeLogGroups", body, when=when)
        out = send(url, "POST", dict(r.headers.items()), r.body)
    elif scenario == "replayed":
        r = signed_request(url, key, secret, "DescribeLogGroups", body)
        first = send(url, "POST", dict(r.headers.items()), r.body)
        headers = dict(r.headers.items())
        headers["X-Amz-Target"] = "Logs_20140328.DescribeLogStreams"
        out = {"original": first, "replay": send(url, "POST", headers, r.body)}
    else:
        raise SystemExit("unknown scenario " + scenario)
    print(json.dumps(out))


main()
