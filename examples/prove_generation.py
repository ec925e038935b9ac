"""Prove to an auditor that a generation is in the signed audit log, and check the proof the
way the auditor does: offline, with only the log's public key. The compliance task.

    python examples/prove_generation.py GENERATION_ID --workspace ws -o proof.json
"""

import argparse
import json
import sys
from pathlib import Path

from emo_safe import Workspace
from emo_safe.keys import load_public_key
from emo_safe.ledger.audit import check_proof, prove, verify_log


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("generation_id")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()

    ws = Workspace.locate(args.workspace).require()
    log = ws.store().log
    intact = verify_log(log, ws.log_public_keys())  # the log key and any it replaced
    print(f"log: {'intact' if intact.ok else 'TAMPERED'}, {intact.size} entries")
    proof = prove(log, args.generation_id)
    if proof is None:
        print(f"generation {args.generation_id} is not in the log", file=sys.stderr)
        return 2
    args.output.write_text(json.dumps(proof.to_json(), indent=1))
    # The auditor's side: the proof file and the published public key, nothing else.
    ok, message = check_proof(json.loads(args.output.read_text()),
                              load_public_key(ws.log_pub_path))
    print(f"proof {args.output}: {'valid' if ok else 'INVALID'}: {message}")
    return 0 if ok and intact.ok else 3


if __name__ == "__main__":
    sys.exit(main())
