"""alert.send_failures: the backoff counts failed sends, not claims

Revision ID: 7c2e4a9d1b30
Revises: 1f53b5aad6c1
Create Date: 2026-11-23 02:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c2e4a9d1b30'
down_revision = '1f53b5aad6c1'
branch_labels = None
depends_on = None


def upgrade():
    # Rows already retrying start from no recorded failure: their next backoff is the shortest, never longer.
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.add_column(sa.Column('send_failures', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_column('send_failures')
