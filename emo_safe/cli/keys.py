"""``emo-safe keys ...`` (the signer certificate's life: list, revoke, rotate) and
``emo-safe tsa serve`` (the development TSA and OCSP responder)."""

from __future__ import annotations

from pathlib import Path

import click

from emo_safe.cli._app import _table, _workspace, command, emit, handle_errors, main, say


@main.group()
def keys():
    """Keys and certificates: list what the CA issued, revoke a certificate, rotate the
    signer, operator or log key."""


@command(keys, "list")
def keys_list(ctx, as_json):
    """The current signer and what the development CA issued and revoked."""
    ws = _workspace(ctx).require()
    leaf = ws.signer_certificate()
    current = {"serial": format(leaf.serial_number, "x"), "subject": leaf.subject.rfc4514_string(),
               "not_after": leaf.not_valid_after_utc.isoformat(), "signer": ws.signer_spec
               .split("?")[0], "tsa_url": ws.tsa_url, **ws.key_ids()}
    issued = [e.to_json() for e in ws.certificate_index().entries().values()]
    if as_json:
        return emit({"current": current, "issued": issued})
    say("signer: [bold]{}[/] (serial {}, until {})", current["signer"], current["serial"],
        current["not_after"])
    say("timestamps: {}", ws.tsa_url or "none (set with `emo-safe init --tsa-url`)")
    _table("serial", "purpose", "until", "revoked", rows=[
        (e["serial"], e["purpose"], e["not_after"][:10],
         f"{e['revoked_at'][:19]} ({e['reason']})" if e["revoked_at"] else "")
        for e in issued])


@command(keys, "revoke")
@click.argument("serial", required=False)
@click.option("--reason", default="unspecified", show_default=True,
              type=click.Choice(["unspecified", "key-compromise", "superseded",
                                 "cessation-of-operation", "affiliation-changed"]),
              help="With a reason, signatures timestamped before now stay valid; "
                   "unspecified revokes all (c2pa-rs reads it so).")
def keys_revoke(ctx, serial, reason, as_json):
    """Revoke a certificate the development CA issued (default: the current signer's). Its
    OCSP responder (`emo-safe tsa serve`) answers "revoked" from now on; `verify` with
    revocation = "online" then exits 3. Rotate to sign again."""
    ws = _workspace(ctx).require()
    try:
        number = int(serial, 16) if serial else None
    except ValueError:
        raise click.BadParameter("a serial is hexadecimal (see `emo-safe keys list`)") from None
    entry = ws.revoke_certificate(number, reason)
    if as_json:
        return emit(entry.to_json())
    say("revoked certificate {} ({}) at {}", format(entry.serial, "x"), entry.purpose,
        entry.revoked_at)


@command(keys, "rotate")
@click.option("--key", "which", type=click.Choice(["signer", "operator", "log"]),
              default="signer", show_default=True,
              help="Which key: the C2PA signer, the operator key (consent records) or the log "
                   "key (tree heads).")
@click.option("--signer", "signer_spec", metavar="SIGNER",
              help="Rotate to this signer (e.g. a new pkcs11: object label); default: the "
                   "current kind, with a new key.")
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path),
              help="Import this certificate chain (PEM, leaf first) instead of issuing one.")
@click.option("--cert-key", "key", type=click.Path(dir_okay=False, path_type=Path),
              help="The private key of --cert, for a file signer.")
def keys_rotate(ctx, which, signer_spec, cert, key, as_json):
    """Replace a key. For the signer: a new certificate (and key); the old certificate is
    kept in keys/retired/ and what it signed keeps verifying. For the operator or log key: a
    new Ed25519 key; the old public key is kept so that consent records and tree heads it
    signed still verify. Every rotation is logged in the audit log."""
    ws = _workspace(ctx).require()
    if which == "signer":
        rotation = ws.rotate_signer(signer_spec, cert, key)
    elif signer_spec or cert or key:
        raise click.UsageError("--signer, --cert and --cert-key are for --key signer")
    else:
        rotation = ws.rotate_ed25519_key(which)
    if as_json:
        return emit(rotation.to_dict())
    say("{} key rotated: {} -> [bold]{}[/] (the old one kept in {})", rotation.key,
        rotation.old_id, rotation.new_id, rotation.retired)


# ---------------------------------------------------------------------------------------------
@main.group()
def tsa():
    """The development timestamp authority (and OCSP responder) of the workspace CA."""


@tsa.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3161, show_default=True, type=click.IntRange(0, 65535))
@click.pass_context
@handle_errors
def tsa_serve(ctx, host, port):
    """Serve RFC 3161 timestamps at /tsa and OCSP answers for the workspace CA at /ocsp/,
    for development and offline demos (production: a TSA and CA on the C2PA trust list).
    Stops cleanly on Ctrl-C or SIGTERM."""
    from emo_safe.provenance.devserver import make_server

    ws = _workspace(ctx).require()
    server = make_server(ws.dev_authorities(), host, port)
    bound = server.server_address[1]
    say("emo-safe development TSA on [bold]http://{}:{}/tsa[/], OCSP on http://{}:{}/ocsp/ "
        "(workspace {})", host, bound, host, bound, ws.root)
    try:
        server.serve_forever()
    finally:
        server.server_close()
