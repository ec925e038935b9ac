"""Signing benchmark: what a Content Credential costs per output, in one run.

    python benchmarks/signing.py [--repeats 15] [--seconds 10]

Signs the same encoded clip (--seconds of 512x512 at 25 fps, with audio) over and over with
c2pa-python, as the pipeline's signing step does, four ways:

- key file, no timestamp, no OCSP (emo-safe 0.1's manifest: the baseline);
- key file, with an RFC 3161 timestamp and the signer's OCSP answer recorded
  (the development TSA and OCSP responder of a throwaway CA, served on loopback in this
  process by the same code as `emo-safe tsa serve`);
- PKCS#11 (a SoftHSM2 token in a temporary directory), no timestamp, no OCSP;
- PKCS#11 with timestamp and OCSP.

Then verifies each signed file with c2pa-python (trust anchors set, no network) and reports
the verification time too. Ratios are against the baseline row of the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import write_report  # noqa: E402

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "135790"


def _token(folder: Path) -> str:
    """A fresh SoftHSM2 token; the environment must name its config before python-pkcs11
    loads the module."""
    tokens = folder / "tokens"
    tokens.mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    os.environ["EMO_SAFE_PKCS11_PIN"] = PIN
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin",
                    PIN, "--so-pin", "24680"], check=True, capture_output=True)
    return f"pkcs11:token=bench;object=signer?module-path={SOFTHSM_MODULE}"


def _clip(path: Path, seconds: float) -> None:
    import numpy as np

    from emo_safe.media import Audio, write_mp4

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)
    frames = (np.roll(base, i, axis=1) for i in range(int(seconds * 25)))
    tone = (0.2 * np.sin(np.arange(int(seconds * 16000)) / 16000 * 2 * np.pi * 220))
    write_mp4(path, frames, 25.0, Audio(tone.astype(np.float32), 16000), crf=23)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "signing.md"))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="emo-safe-bench-signing-"))
    uri = _token(tmp)

    from emo_safe import keys
    from emo_safe.provenance.devserver import DevAuthorities, make_server
    from emo_safe.provenance.ocsp import CertificateIndex, OcspResponder
    from emo_safe.provenance.read import TRUSTED, read_manifest
    from emo_safe.provenance.sign import (
        GenerationClaim,
        build_manifest,
        fetch_certificate_status,
        sign_mp4,
    )
    from emo_safe.provenance.signers import Pkcs11Signer, pkcs11_public_key

    ca_key, ca_cert = keys.make_dev_ca("benchmark CA")
    index = CertificateIndex(tmp / "ca-index.json")
    from emo_safe.provenance.timestamp import TimeStampAuthority

    tsa_key, tsa_cert = keys.issue_tsa_cert(ca_key, ca_cert)
    ocsp_key, ocsp_cert = keys.issue_ocsp_cert(ca_key, ca_cert)
    server = make_server(DevAuthorities(TimeStampAuthority(tsa_key, tsa_cert, [ca_cert]),
                                        OcspResponder(ocsp_key, ocsp_cert, ca_cert, index)),
                         log=False)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tsa_url, ocsp_url = f"http://127.0.0.1:{port}/tsa", f"http://127.0.0.1:{port}/ocsp/"

    def chain(cert) -> str:
        return (keys.cert_pem(cert) + keys.cert_pem(ca_cert)).decode()

    file_key, file_cert = keys.issue_signer_cert(ca_key, ca_cert, ocsp_url=ocsp_url)
    _, hsm_cert = keys.issue_signer_cert(ca_key, ca_cert, ocsp_url=ocsp_url,
                                         public_key=pkcs11_public_key(uri, create=True))
    for cert in (file_cert, hsm_cert):
        index.add(cert, "signer")
    signers = {"key file": keys.SignerKey(file_key, chain(file_cert), "es256"),
               "PKCS#11 (SoftHSM2)": Pkcs11Signer(uri, chain(hsm_cert))}
    anchors = keys.cert_pem(ca_cert).decode()

    src = tmp / "clip.mp4"
    _clip(src, args.seconds)
    claim = GenerationClaim(
        generation_id="00112233aabb", decision_id="d", policy_name="default",
        policy_sha256="ab" * 32, consent_ids=["c"], generator="puppet", generator_version="0",
        input_sha256={"photo": "cd" * 32, "audio": "ef" * 32},
        watermark={"scheme": "org.emo-safe.wm.v1", "payload": "00112233aabb", "key_id": "k"},
        duration_ms=int(args.seconds * 1000))

    rows = []
    for name, signer in signers.items():
        for stamped in (False, True):
            sign_s, verify_s = [], []
            for i in range(args.repeats):
                dest = tmp / f"signed-{len(rows)}-{i}.mp4"
                t0 = time.perf_counter()
                status = [fetch_certificate_status(signer.chain_pem)] if stamped else []
                manifest = build_manifest(claim, "org.emo-safe.generation",
                                          certificate_status=status)
                sign_mp4(src, dest, manifest, signer, tsa_url if stamped else None)
                sign_s.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                ev = read_manifest(dest, anchors)
                verify_s.append(time.perf_counter() - t0)
                assert ev.state == TRUSTED and ev.timestamp_trusted == stamped, ev
                dest.unlink()
            rows.append((name, "timestamp + OCSP" if stamped else "none",
                         statistics.median(sign_s), statistics.median(verify_s)))
    server.shutdown()

    base_sign, base_verify = rows[0][2], rows[0][3]
    size_mb = src.stat().st_size / 1e6
    lines = [f"Signing one {args.seconds:g} s 512x512 output ({size_mb:.1f} MB), median of "
             f"{args.repeats}; `python benchmarks/signing.py --repeats {args.repeats} "
             f"--seconds {args.seconds:g}`", "",
             "| signer | revocation info | sign (ms) | x baseline | verify (ms) | x baseline |",
             "|---|---|---:|---:|---:|---:|"]
    for name, extra, sign, verify in rows:
        lines.append(f"| {name} | {extra} | {sign * 1000:.1f} | {sign / base_sign:.2f} | "
                     f"{verify * 1000:.1f} | {verify / base_verify:.2f} |")
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
