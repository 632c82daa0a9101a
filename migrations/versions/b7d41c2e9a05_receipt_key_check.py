"""receipt_key_check: a keyed hash of a known value under RECEIPT_HMAC_KEY, so a restore with another key is caught

Revision ID: b7d41c2e9a05
Revises: 5e8a1c3f9b27
Create Date: 2026-11-24 09:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d41c2e9a05'
down_revision = '5e8a1c3f9b27'
branch_labels = None
depends_on = None


def upgrade():
    # Empty: the alert worker (or `flask setup`) records the key in use when it next starts.
    op.create_table(
        'receipt_key_check',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt_key_check')),
    )


def downgrade():
    op.drop_table('receipt_key_check')
