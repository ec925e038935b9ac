"""Give every output a Content Credential that outlives its signing certificate: an RFC 3161
timestamp on each signature and the signer's OCSP status recorded in the manifest. The release
engineer's task, here with the workspace CA's development TSA and OCSP responder (in this
process, as `emo-safe tsa serve` runs them); in production set tsa_url to a TSA on the C2PA
trust list and import a chain from a CA on it (docs/provenance.md).

    python examples/durable_credentials.py --workspace ws --photo me.jpg --audio me.wav -o out.mp4
"""

import argparse
import sys
import threading
from pathlib import Path

from emo_safe import ConsentRegistry, Detector, SafeGenerator, Workspace
from emo_safe.provenance.devserver import make_server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--photo", type=Path, required=True)
    ap.add_argument("--audio", type=Path, required=True)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()

    ws = Workspace.locate(args.workspace)
    fresh = not ws.is_initialized()
    ws.init()  # the dev CA, its TSA and OCSP responder certificates
    server = make_server(ws.dev_authorities(), log=False)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if fresh:
        # The signer certificate names the responder; a new workspace gets one that does.
        ws.set_config_values({"ocsp_url": f"http://127.0.0.1:{port}/ocsp/"})
        ws.rotate_signer()
    ws.set_config_values({"tsa_url": f"http://127.0.0.1:{port}/tsa"})

    consent = ConsentRegistry.for_workspace(ws).add("the person in the photo", args.photo)
    result = SafeGenerator(ws).generate(args.photo, args.audio, args.output,
                                        consent_ids=[consent.id], size=256)
    verdict = Detector(ws).verify(result.output)
    c2pa = verdict.to_dict()["c2pa"]
    print(f"{result.output}: {verdict.outcome}; timestamped {c2pa['signed_at']} "
          f"(trusted: {c2pa['timestamp_trusted']}); revocation: {c2pa['revocation']}")
    server.shutdown()
    return 0 if c2pa["timestamp_trusted"] and c2pa["revocation"] == "not-revoked" else 1


if __name__ == "__main__":
    sys.exit(main())
