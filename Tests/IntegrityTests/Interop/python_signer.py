#!/usr/bin/env python3
"""An independent digest signer following the CloudTrail digest-file validation AWS documents, with the `cryptography` package.

Usage: python_signer.py BUCKET_DIR OUT_KEYS_JSON [--mode correct|reserialized|gzip-hash]

Re-signs every digest chain of the bucket with a fresh RSA key: for each account/region, oldest
first, rewrites previousDigest* links, computes SHA-256 over the uncompressed bytes it writes, signs
`digestEndTime\\nbucket/key\\nhash\\nprevious-signature-or-null` with SHA256withRSA (PKCS#1 v1.5), and
writes the .metadata.json sidecar and the key list. --mode reserialized signs the hash of a
re-serialised JSON instead; --mode gzip-hash the hash of the .gz bytes: both are wrong on purpose.
"""
import base64, gzip, hashlib, json, os, sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

root, keys_out = sys.argv[1], sys.argv[2]
mode = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--mode" else "correct"
bucket = os.path.basename(root.rstrip("/"))
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
fingerprint = hashlib.md5(der).hexdigest()

chains = {}
for dirpath, _, files in os.walk(root):
    for name in files:
        if "_CloudTrail-Digest_" in name and name.endswith(".json.gz"):
            chains.setdefault(dirpath.split("/CloudTrail-Digest/")[0] + "|" + dirpath.split("/CloudTrail-Digest/")[1].split("/")[0], []).append(os.path.join(dirpath, name))

for paths in chains.values():
    previous = None
    for path in sorted(paths, key=lambda p: p[-24:-8]):
        obj = os.path.relpath(path, root)
        d = json.loads(gzip.decompress(open(path, "rb").read()))
        d["digestPublicKeyFingerprint"] = fingerprint
        if previous:
            d["previousDigestS3Bucket"], d["previousDigestS3Object"] = bucket, previous[0]
            d["previousDigestHashValue"], d["previousDigestHashAlgorithm"], d["previousDigestSignature"] = previous[1], "SHA-256", previous[2]
        body = json.dumps(d, separators=(",", ":")).encode()
        gz = gzip.compress(body)
        hashed = {"correct": body, "reserialized": json.dumps(json.loads(body), indent=1).encode(), "gzip-hash": gz}[mode]
        digest_hash = hashlib.sha256(body).hexdigest()
        to_sign = f"{d['digestEndTime']}\n{d['digestS3Bucket']}/{d['digestS3Object']}\n{hashlib.sha256(hashed).hexdigest()}\n{d['previousDigestSignature'] or 'null'}"
        signature = key.sign(to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()
        open(path, "wb").write(gz)
        json.dump({"signature": signature, "signature-algorithm": "SHA256withRSA"}, open(path + ".metadata.json", "w"))
        previous = (obj, digest_hash, signature)

json.dump({"PublicKeyList": [{"Value": base64.b64encode(der).decode(), "ValidityStartTime": 0,
                              "ValidityEndTime": 4102444800, "Fingerprint": fingerprint}]}, open(keys_out, "w"))
print(f"signed {sum(len(p) for p in chains.values())} digests with key {fingerprint}")
