"""signin_failure.account: wrong passwords for an email of no account are counted too, so that it answers "locked"
as an account does and the answer does not tell staff emails apart

Revision ID: a4f2c8e1d937
Revises: e8c4b2a7f190
Create Date: 2026-11-25 01:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a4f2c8e1d937'
down_revision = 'e8c4b2a7f190'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('signin_failure', schema=None) as batch_op:
        batch_op.add_column(sa.Column('account', sa.String(length=64), nullable=True))
        batch_op.alter_column('staff_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index('ix_signin_failure_account_failed_at', ['account', 'failed_at'], unique=False)


def downgrade():
    op.execute("DELETE FROM signin_failure WHERE staff_id IS NULL")
    with op.batch_alter_table('signin_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_signin_failure_account_failed_at')
        batch_op.alter_column('staff_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('account')
