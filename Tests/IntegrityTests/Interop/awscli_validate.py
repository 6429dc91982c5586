#!/usr/bin/env python3
"""Validate a mirrored bucket's digests with the AWS CLI's own validation code (awscli from PyPI).

Usage: awscli_validate.py BUCKET_DIR PUBLIC_KEYS_JSON [--mode as-is|reserialized|gzip-hash]

Drives awscli.customizations.cloudtrail.validation.Sha256RSADigestValidator on every digest (with
the signature from its .metadata.json sidecar, as S3 metadata would give it) and checks every
listed log file's SHA-256 as the CLI does (zlib, first gzip member). --mode reserialized hands the
validator the digest re-serialised with json.dumps; --mode gzip-hash hands it the .gz bytes; both
must fail. Prints 'N valid, M invalid' and exits 1 when anything is invalid.
"""
import gzip, hashlib, json, os, sys, zlib

from awscli.customizations.cloudtrail.validation import DigestError, Sha256RSADigestValidator

root, keys_path = sys.argv[1], sys.argv[2]
mode = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--mode" else "as-is"
bucket = os.path.basename(root.rstrip("/"))
keys = {k["Fingerprint"]: k["Value"] for k in json.load(open(keys_path))["PublicKeyList"]}
validator = Sha256RSADigestValidator()
valid = invalid = logs = 0
for dirpath, _, files in sorted(os.walk(root)):
    for name in sorted(files):
        if "_CloudTrail-Digest_" not in name or not name.endswith(".json.gz"):
            continue
        path = os.path.join(dirpath, name)
        key = os.path.relpath(path, root)
        raw = open(path, "rb").read()
        inflated = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(raw)
        data = json.loads(inflated.decode())
        meta = json.load(open(path + ".metadata.json"))
        data["_signature"] = meta["signature"]
        data["_signature_algorithm"] = meta["signature-algorithm"]
        if data["digestS3Bucket"] != bucket or data["digestS3Object"] != key:
            print(f"Digest file\ts3://{bucket}/{key}\tINVALID: has been moved from its original location")
            invalid += 1
            continue
        given = {"as-is": inflated, "reserialized": json.dumps(json.loads(inflated)).encode(), "gzip-hash": raw}[mode]
        try:
            validator.validate(bucket, key, keys[data["digestPublicKeyFingerprint"]], data, given)
            valid += 1
        except DigestError as e:
            print(e)
            invalid += 1
            continue
        for log in data["logFiles"]:
            content = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(open(os.path.join(root, log["s3Object"]), "rb").read())
            if hashlib.sha256(content).hexdigest() != log["hashValue"]:
                print(f"Log file\ts3://{bucket}/{log['s3Object']}\tINVALID: hash value doesn't match")
                invalid += 1
            logs += 1
print(f"{valid} valid, {invalid} invalid ({logs} log files checked)")
sys.exit(1 if invalid or not valid else 0)
