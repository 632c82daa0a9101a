"""seal staff TOTP secrets under the keyring: a database dump or backup no longer holds readable ones

Adds staff.totp_secret_sealed and staff.totp_kek_version, seals every existing staff.totp_secret under the
keyring's active KEK (app/crypto/staff_secrets.py), then empties the plaintext column (NULL in every row). The
column itself stays for this release: the release before's processes still running during the upgrade (the alert
worker loads staff rows for its chains) would fail on every staff row without it. The next release drops it. It needs the keyring (the
one the app uses: KEYRING_PATH or TIPLINE_KEYRING) whenever a secret is to be sealed; without it, or with a
keyring that is not this database's, it stops with one line before changing anything.

Downgrade opens the secrets again and writes them back IN PLAINTEXT (the earlier release reads nothing else); it
needs the keyring likewise.

Revision ID: e8c4b2a7f190
Revises: 4c7e2b9a1f58
Create Date: 2026-11-24 19:00:00

"""
from alembic import op
from alembic.util import CommandError
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e8c4b2a7f190'
down_revision = '4c7e2b9a1f58'
branch_labels = None
depends_on = None

_STAFF = sa.table('staff', sa.column('id', sa.Integer), sa.column('totp_secret', sa.String(64)),
                  sa.column('totp_secret_sealed', sa.LargeBinary), sa.column('totp_kek_version', sa.Integer))
_KEY_CHECK = sa.table('key_check', sa.column('kek_version', sa.Integer), sa.column('sealed', sa.LargeBinary),
                      sa.column('created_at', sa.DateTime))


def _keyring(doing):
    """The app's keyring, checked against the database's key checks; or one line and nothing changed."""
    from flask import current_app

    from app.crypto.keyring import KeyringUnavailable, load_keyring
    from app.crypto.keystore import key_check_opens, keyring_source

    stop = (f"{doing} needs the keyring, and nothing was changed: put the right keyring in place (KEYRING_PATH or "
            "TIPLINE_KEYRING, see README, Backups) and run this again")
    try:
        app = current_app._get_current_object()
    except RuntimeError:
        raise CommandError(f"{stop} (no Flask app: run it as `flask db ...`)") from None
    try:
        keyring = load_keyring(*keyring_source(app))
        for version, sealed in op.get_bind().execute(sa.select(_KEY_CHECK.c.kek_version, _KEY_CHECK.c.sealed)):
            if version in keyring.keys and not key_check_opens(keyring, version, sealed):
                raise KeyringUnavailable(f"KEK {version} does not match the key check in the database: "
                                         "not this database's keyring")
    except KeyringUnavailable as exc:
        raise CommandError(f"{stop} ({exc})") from None
    return keyring


def upgrade():
    from app.crypto.keystore import new_key_check
    from app.crypto.staff_secrets import seal_totp_value
    from app.models.base import utcnow

    bind = op.get_bind()
    plain = bind.execute(sa.select(_STAFF.c.id, _STAFF.c.totp_secret)
                         .where(_STAFF.c.totp_secret.isnot(None))).all()
    # Checked before any change: a keyring missing here stops the upgrade with the database as it was.
    keyring = _keyring("sealing the staff authenticator secrets") if plain else None
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_secret_sealed', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('totp_kek_version', sa.Integer(), nullable=True))
    if keyring is not None:
        if bind.execute(sa.select(_KEY_CHECK.c.kek_version)
                        .where(_KEY_CHECK.c.kek_version == keyring.active)).first() is None:
            # As the app does on a KEK's first use: a wrong keyring put in later is then refused, not used.
            bind.execute(_KEY_CHECK.insert().values(kek_version=keyring.active, created_at=utcnow(),
                                                    sealed=new_key_check(keyring, keyring.active)))
        for staff_id, secret in plain:
            bind.execute(_STAFF.update().where(_STAFF.c.id == staff_id).values(
                totp_secret_sealed=seal_totp_value(keyring.active_kek, staff_id, secret),
                totp_kek_version=keyring.active, totp_secret=None))


def downgrade():
    """Writes the secrets back in plaintext: the release before this one reads nothing else."""
    from app.crypto.errors import DecryptionFailed, KeyringUnavailable
    from app.crypto.staff_secrets import open_totp_value

    bind = op.get_bind()
    sealed = bind.execute(sa.select(_STAFF.c.id, _STAFF.c.totp_secret_sealed, _STAFF.c.totp_kek_version)
                          .where(_STAFF.c.totp_secret_sealed.isnot(None))).all()
    secrets = {}
    if sealed:
        keyring = _keyring("restoring the staff authenticator secrets for the earlier release")
        for staff_id, blob, version in sealed:
            try:
                secrets[staff_id] = open_totp_value(keyring.kek(version), staff_id, blob)
            except (KeyringUnavailable, DecryptionFailed) as exc:  # a retired version, or an altered row
                raise CommandError(f"the authenticator secret of staff {staff_id} does not open under KEK {version} "
                                   f"({exc}); nothing was changed") from None
    for staff_id, secret in secrets.items():
        bind.execute(_STAFF.update().where(_STAFF.c.id == staff_id).values(totp_secret=secret))
    with op.batch_alter_table('staff', schema=None) as batch_op:
        batch_op.drop_column('totp_kek_version')
        batch_op.drop_column('totp_secret_sealed')
