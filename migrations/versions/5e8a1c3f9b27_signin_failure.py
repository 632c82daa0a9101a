"""signin_failure: wrong passwords counted per account and client, so a stranger cannot lock an account out

Revision ID: 5e8a1c3f9b27
Revises: 7c2e4a9d1b30
Create Date: 2026-11-24 06:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e8a1c3f9b27'
down_revision = '7c2e4a9d1b30'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'signin_failure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('client', sa.String(length=64), nullable=False),
        sa.Column('failed_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_signin_failure_staff_id_staff'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_signin_failure')),
    )
    with op.batch_alter_table('signin_failure', schema=None) as batch_op:
        batch_op.create_index('ix_signin_failure_staff_failed_at', ['staff_id', 'failed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('signin_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_signin_failure_staff_failed_at')
    op.drop_table('signin_failure')
