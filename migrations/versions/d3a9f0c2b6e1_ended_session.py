"""ended_session: staff sessions ended by Sign out, so a copy of the cookie stops working at once

Revision ID: d3a9f0c2b6e1
Revises: b7d41c2e9a05
Create Date: 2026-11-24 12:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd3a9f0c2b6e1'
down_revision = 'b7d41c2e9a05'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'ended_session',
        sa.Column('sid_hash', sa.String(length=64), nullable=False),
        sa.Column('ends_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('sid_hash', name=op.f('pk_ended_session')),
    )
    with op.batch_alter_table('ended_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ended_session_ends_at'), ['ends_at'], unique=False)


def downgrade():
    with op.batch_alter_table('ended_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ended_session_ends_at'))
    op.drop_table('ended_session')
