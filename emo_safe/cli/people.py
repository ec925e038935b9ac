"""Commands for the people side: the workspace, consent records, the public-figure gallery."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from emo_safe.cli._app import (
    _DATE,
    _console,
    _table,
    _utc,
    _workspace,
    command,
    emit,
    main,
    say,
)


# ---------------------------------------------------------------------------------------------
@command(main)
@click.option("--signer-cert", type=click.Path(dir_okay=False, path_type=Path),
              help="Import your own signer certificate chain (PEM, leaf first) instead of the "
                   "dev CA.")
@click.option("--signer-key", type=click.Path(dir_okay=False, path_type=Path),
              help="The private key of --signer-cert (PEM).")
@click.option("--signer", "signer_spec", metavar="SIGNER",
              help="Where the C2PA signing key lives: file (default), "
                   "pkcs11:token=T;object=O?module-path=LIB (an HSM; the key is made in the "
                   "token if absent; PIN from EMO_SAFE_PKCS11_PIN) or command:PROGRAM (a KMS: "
                   "bytes on stdin, signature on stdout; needs --signer-cert).")
@click.option("--tsa-url", metavar="URL",
              help="RFC 3161 timestamp authority for every signature (e.g. the development "
                   "TSA of `emo-safe tsa serve`: http://127.0.0.1:3161/tsa).")
@click.option("--tsa-optional", is_flag=True,
              help="Sign without a timestamp when the TSA does not answer (default: fail).")
@click.option("--ocsp-url", metavar="URL",
              help="OCSP responder to name in the signer certificates the development CA "
                   "issues (e.g. http://127.0.0.1:3161/ocsp/).")
@click.option("--replica-of", type=click.Path(file_okay=False, path_type=Path),
              metavar="WORKSPACE",
              help="Make this workspace another host of WORKSPACE's deployment (its keys, "
                   "chain, policies, gallery and PostgreSQL ledger; not its CA key). Run again "
                   "to refresh the policies and gallery.")
def init(ctx, signer_cert, signer_key, signer_spec, tsa_url, tsa_optional, ocsp_url,
         replica_of, as_json):
    """Create the workspace: dev CA and signer, watermark key, database, default policy.

    Idempotent: what exists is kept; a key is never overwritten (rotate with `emo-safe keys
    rotate`). Run again with --tsa-url or --ocsp-url to set them. Set EMO_SAFE_KEY_PASSPHRASE
    to encrypt the private keys (the watermark key included) at rest.
    """
    from emo_safe.workspace import Workspace

    ws = _workspace(ctx)
    if replica_of is not None:
        if signer_cert or signer_key or signer_spec:
            raise click.UsageError("--replica-of takes the source's signer; no --signer-*")
        report = ws.init_replica(Workspace.locate(replica_of))
    else:
        report = ws.init(signer_cert, signer_key, signer=signer_spec, tsa_url=tsa_url,
                         ocsp_url=ocsp_url, tsa_required=False if tsa_optional else None)
    if as_json:
        return emit({"workspace": str(report.root), "created": report.created,
                     "kept": report.kept, "notes": report.notes})
    say("workspace: [bold]{}[/]", report.root)
    for item in report.created:
        say("  created {}", item)
    for item in report.kept:
        say("  kept    {}", item)
    for note in report.notes:
        say("[yellow]note[/]: {}", note)


# ---------------------------------------------------------------------------------------------
@main.group()
def consent():
    """Consent records of the people who may be animated."""


def _consents(ctx):
    from emo_safe.gate.consent import ConsentRegistry

    return ConsentRegistry.for_workspace(_workspace(ctx).require())


@command(consent, "add")
@click.option("--name", required=True, help="Name or pseudonym of the person.")
@click.option("--photo", required=True, type=click.Path(path_type=Path),
              help="A photo showing exactly this person's face.")
@click.option("--scope", multiple=True, default=("talking", "singing"), show_default=True,
              help="Allowed uses (talking, singing, commercial, research, ...): repeat or "
                   "separate with commas.")
@click.option("--valid-from", type=_DATE, help="Start of validity (YYYY-MM-DD, UTC; default now).")
@click.option("--expires", type=_DATE, help="Expiry (YYYY-MM-DD, UTC).")
@click.option("--evidence", type=click.Path(path_type=Path),
              help="The signed release form or consent video; only its sha256 is recorded.")
def consent_add(ctx, name, photo, scope, valid_from, expires, evidence, as_json):
    """Record a person's consent, signed with the operator key; prints the consent id."""
    from emo_safe.gate.policy import load_policy

    ws = _workspace(ctx).require()
    registry = _consents(ctx)
    record = registry.add(name, photo, scope=scope, valid_from=_utc(valid_from),
                          expires=_utc(expires), evidence=evidence,
                          limits=load_policy(None, ws.policies_dir).image_limits)
    emit(registry.describe(record)) if as_json else say("{}", record.id)


@command(consent, "list")
def consent_list(ctx, as_json):
    """List consent records with their status (never the face templates)."""
    registry = _consents(ctx)
    rows = registry.describe_all(registry.list())
    if as_json:
        return emit({"consents": rows})
    _table("id", "name", "scope", "valid from", "expires", "status", rows=[
        (r["id"], r["name"], ",".join(r["scope"]), (r["valid_from"] or "-")[:10],
         (r["expires_at"] or "-")[:10], r["status"]) for r in rows])


@command(consent, "show")
@click.argument("consent_id")
def consent_show(ctx, consent_id, as_json):
    """One consent record, its status and whether it verifies against the operator key and the
    signed audit log (exit 3 if not)."""
    registry = _consents(ctx)
    info = registry.describe(registry.get(consent_id))
    if as_json:
        emit(info)
    else:
        for key, value in info.items():
            value = ", ".join(value) if isinstance(value, list) else value
            say("{}", f"{key + ':':18} {value if value is not None else '-'}")
    if info["status"] == "tampered":
        if not as_json:
            _console(True).print(f"emo-safe: this record was tampered with: "
                                 f"{info.get('problem')}", highlight=False, markup=False)
        sys.exit(3)


@command(consent, "revoke")
@click.argument("consent_id")
def consent_revoke(ctx, consent_id, as_json):
    """Revoke a consent record (signed); every later request is refused."""
    registry = _consents(ctx)
    record = registry.revoke(consent_id)
    emit(registry.describe(record)) if as_json else say("revoked {}", record.id)


# ---------------------------------------------------------------------------------------------
@main.group()
def gallery():
    """The public-figure gallery the gate screens every face against."""


def _render_identities(identities, as_json: bool) -> None:
    if as_json:
        return emit({"identities": [i.to_dict() for i in identities]})
    _table("id", "name", "photos", "added",
           rows=[(i.id, i.name, i.photos, i.added_at[:10]) for i in identities])


@command(gallery, "add")
@click.option("--name", required=True, help="The public figure's name.")
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
def gallery_add(ctx, name, photos, as_json):
    """Add a public figure from PHOTOS (each showing exactly their face)."""
    _render_identities([_workspace(ctx).require().gallery().add(name, list(photos))], as_json)


@command(gallery, "import")
@click.argument("directory", type=click.Path(path_type=Path))
def gallery_import(ctx, directory, as_json):
    """Import DIRECTORY: one sub-folder per person, named after them, holding their photos."""
    _render_identities(_workspace(ctx).require().gallery().import_dir(directory), as_json)


@command(gallery, "list")
def gallery_list(ctx, as_json):
    """List the gallery's identities (names and photo counts; never the face templates)."""
    _render_identities(_workspace(ctx).require().gallery().identities(), as_json)
