"""alert.delivery_checks, alert.delivery_checked_at: a sent SMS whose delivery report never came is looked up at
Twilio a few times, backing off

Revision ID: f4b1d7c93a2e
Revises: d002b2aee936
Create Date: 2026-11-25 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f4b1d7c93a2e'
down_revision = 'd002b2aee936'
branch_labels = None
depends_on = None


def upgrade():
    # SMS sent before have had no lookup: those of the last day still without a report are looked up like any other
    # (older ones never are, app/alerts/delivery_checks.py).
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivery_checks', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('delivery_checked_at', sa.DateTime(), nullable=True))


def downgrade():
    # Loses only how often each was looked up: what the lookups found is in the alert's status.
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_column('delivery_checked_at')
        batch_op.drop_column('delivery_checks')
