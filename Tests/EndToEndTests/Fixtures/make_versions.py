#!/usr/bin/env python3
"""Writes the record-version fixtures (run from the repository root; deterministic):

- rules/fixtures/sign-ins-by-version.jsonl, rules/fixtures/api-calls-by-version.jsonl: the same
  kinds of event as CloudTrail wrote them in each eventVersion family, for the shipped rules'
  inline tests;
- Tests/EndToEndTests/Fixtures/versions/AWSLogs/...: those records as delivered .json.gz files in
  a bucket layout (a plain trail and an organization trail), plus expected-alerts.jsonl: which
  shipped rule must alert on which record (by eventTime) and with which account.

Fields per family follow the CloudTrail record reference ("since" column): 1.0 has neither eventID
nor eventType nor recipientAccountId; 1.01 adds eventID/requestID/readOnly; 1.02 eventType and
recipientAccountId; 1.05 serviceEventDetails; 1.06 managementEvent; 1.07 eventCategory; 1.08
tlsDetails; 1.11 is today's. All addresses are documentation or private ranges, ids fictitious.
"""
import gzip, json, os, uuid

ACCOUNT = "111122223333"
MEMBER = "444455556666"      # organization trail member account (folder under o-…)
CALLER = "777788889999"      # another account calling into MEMBER (cross-account)
ORG = "o-a1b2c3d4e5"
FAMILIES = [  # version, year: the years CloudTrail wrote them
    ("1.0", "2013-11-20"), ("1.01", "2014-06-10"), ("1.02", "2015-02-03"),
    ("1.05", "2017-09-12"), ("1.08", "2021-05-04"), ("1.11", "2025-03-14"),
]
UNKNOWN, KNOWN = "203.0.113.", "198.51.100."
n = 0


def gid(tag):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "trailwatch-versions/" + tag))


def record(version, time, identity, source, name, ip, *, account, req=None, resp=None, extra=None, event_type="AwsApiCall",
           agent="aws-cli/1.2.3 Python/2.7.5 Linux/3.10", recipient=None):
    global n
    n += 1
    v = int(version.split(".")[1])
    r = {"eventVersion": version, "userIdentity": identity, "eventTime": time, "eventSource": source, "eventName": name,
         "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": agent, "requestParameters": req, "responseElements": resp}
    if extra is not None:
        r["additionalEventData"] = extra
    if v >= 1:
        r["requestID"] = gid(f"req-{n}")
        r["eventID"] = gid(f"evt-{n}")
        r["readOnly"] = name.startswith(("List", "Describe", "Get"))
    if v >= 2:
        r["eventType"] = event_type
        r["recipientAccountId"] = recipient or account
    if v >= 6:
        r["managementEvent"] = True
    if v >= 7:
        r["eventCategory"] = "Management"
    if v >= 8 and event_type != "AwsServiceEvent":
        r["tlsDetails"] = {"tlsVersion": "TLSv1.2", "cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
                           "clientProvidedHostHeader": source.replace("amazonaws.com", "us-east-1.amazonaws.com")}
    return r


def root(account=ACCOUNT):
    return {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account}


def user(name, account=ACCOUNT):
    return {"type": "IAMUser", "principalId": "AIDA" + name.upper().ljust(17, "X")[:17], "arn": f"arn:aws:iam::{account}:user/{name}",
            "accountId": account, "userName": name}


def sign_in(version, time, identity, ip, mfa, ok=True, account=ACCOUNT):
    extra = {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": "Yes" if mfa else "No"}
    r = record(version, time, identity, "signin.amazonaws.com", "ConsoleLogin", ip, account=account, extra=extra,
               resp={"ConsoleLogin": "Success" if ok else "Failure"}, event_type="AwsConsoleSignIn",
               agent="Mozilla/5.0 (X11; Linux x86_64; rv:24.0) Gecko/20100101 Firefox/24.0")
    if not ok:
        r["errorMessage"] = "Failed authentication"
    return r


sign_ins, api_calls, expected = [], [], []


def expect(rule, r, account=ACCOUNT, principal_account=None):
    expected.append({"rule": rule, "event_time": r["eventTime"], "account": account,
                     "principal_account": principal_account or r["userIdentity"].get("accountId", "")})


for i, (version, day) in enumerate(FAMILIES):
    # Console sign-ins: root without MFA (unknown address), alice without MFA (unknown), bob with MFA (known), a failure.
    a = sign_in(version, f"{day}T09:00:0{i}Z", root(), UNKNOWN + str(10 + i), mfa=False)
    b = sign_in(version, f"{day}T09:10:0{i}Z", user("alice"), UNKNOWN + str(20 + i), mfa=False)
    c = sign_in(version, f"{day}T09:20:0{i}Z", user("bob"), KNOWN + str(20 + i), mfa=True)
    d = sign_in(version, f"{day}T09:30:0{i}Z", user("carol"), KNOWN + str(30 + i), mfa=False, ok=False)
    sign_ins += [a, b, c, d]
    for r in (a,):
        expect("root-usage", r); expect("cis-cloudwatch-1", r); expect("console-login-without-mfa", r); expect("unknown-source-ip", r)
    expect("console-login-without-mfa", b); expect("cis-cloudwatch-3", b); expect("unknown-source-ip", b)
    expect("cis-cloudwatch-6", d)
    # API calls: root from a known network, a user from an unknown one, a service on a user's behalf, StopLogging.
    e = record(version, f"{day}T10:00:0{i}Z", root(), "s3.amazonaws.com", "ListBuckets", KNOWN + "5", account=ACCOUNT)
    f = record(version, f"{day}T10:10:0{i}Z", user("deploy"), "ec2.amazonaws.com", "DescribeInstances", UNKNOWN + str(40 + i), account=ACCOUNT)
    g_id = dict(user("alice"), invokedBy="cloudformation.amazonaws.com")
    g = record(version, f"{day}T10:20:0{i}Z", g_id, "ec2.amazonaws.com", "RunInstances", "cloudformation.amazonaws.com", account=ACCOUNT,
               agent="cloudformation.amazonaws.com")
    h = record(version, f"{day}T10:30:0{i}Z", user("mallory"), "cloudtrail.amazonaws.com", "StopLogging", KNOWN + "7", account=ACCOUNT,
               req={"name": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main"})
    api_calls += [e, f, g, h]
    expect("root-usage", e); expect("cis-cloudwatch-1", e)
    expect("unknown-source-ip", f)
    expect("trail-tampering", h); expect("cis-cloudwatch-5", h)
    if int(version.split(".")[1]) >= 2:
        # A root-typed service event exists only since eventType does: no rule alerts on it.
        s = record(version, f"{day}T10:40:0{i}Z", dict(root(), invokedBy=None), "signin.amazonaws.com", "CredentialChallenge", "AWS Internal",
                   account=ACCOUNT, event_type="AwsServiceEvent", agent="AWS Internal")
        del s["userIdentity"]["invokedBy"]
        if int(version.split(".")[1]) >= 5:
            s["serviceEventDetails"] = {"CredentialChallenge": "Success"}
        api_calls.append(s)

# An organization trail's member account: a cross-account call from CALLER, and a record whose
# recipientAccountId names yet another account; both stored in (and alerting for) MEMBER.
x_identity = {"type": "AWSAccount", "principalId": "AIDAEXAMPLECALLER0001", "accountId": CALLER}
x = record("1.11", "2025-03-14T11:00:00Z", x_identity, "s3.amazonaws.com", "GetObject", UNKNOWN + "99", account=MEMBER,
           req={"bucketName": "member-data", "key": "report.csv"})
y = record("1.11", "2025-03-14T11:05:00Z", user("ops", MEMBER), "cloudtrail.amazonaws.com", "DeleteTrail", KNOWN + "9", account=MEMBER,
           recipient="999900001111", req={"name": "member-trail"})
org = [x, y]
expect("unknown-source-ip", x, account=MEMBER, principal_account=CALLER)
expect("trail-tampering", y, account=MEMBER)
expect("cis-cloudwatch-5", y, account=MEMBER)

os.makedirs("rules/fixtures", exist_ok=True)
for name, recs in (("sign-ins-by-version.jsonl", sign_ins), ("api-calls-by-version.jsonl", api_calls)):
    with open(os.path.join("rules/fixtures", name), "w") as out:
        for r in recs:
            out.write(json.dumps(r, separators=(",", ":")) + "\n")

base = "Tests/EndToEndTests/Fixtures/versions"


def deliver(records, account, org_id=None):
    by_day = {}
    for r in records:
        by_day.setdefault(r["eventTime"][:10], []).append(r)
    for day, recs in sorted(by_day.items()):
        y_, m_, d_ = day.split("-")
        folder = os.path.join(base, "AWSLogs", *([org_id] if org_id else []), account, "CloudTrail", "us-east-1", y_, m_, d_)
        os.makedirs(folder, exist_ok=True)
        stamp = day.replace("-", "") + "T1200Z"
        unique = uuid.uuid5(uuid.NAMESPACE_URL, f"file/{account}/{day}").hex[:16]
        body = json.dumps({"Records": recs}, separators=(",", ":")).encode()
        with open(os.path.join(folder, f"{account}_CloudTrail_us-east-1_{stamp}_{unique}.json.gz"), "wb") as f:
            f.write(gzip.compress(body, mtime=0))


deliver(sign_ins + api_calls, ACCOUNT)
deliver(org, MEMBER, ORG)
with open(os.path.join(base, "expected-alerts.jsonl"), "w") as out:
    for e in sorted(expected, key=lambda e: (e["rule"], e["event_time"])):
        out.write(json.dumps(e, separators=(",", ":")) + "\n")
print(len(sign_ins), "sign-ins,", len(api_calls), "API calls,", len(org), "org records,", len(expected), "expected alerts")
