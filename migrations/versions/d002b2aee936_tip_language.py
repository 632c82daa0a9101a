"""tip.language_ct: the language of the pages a reporter sent the tip from, sealed under the tip's key, so staff
answer in it

Revision ID: d002b2aee936
Revises: c5d8e2f4a619
Create Date: 2026-11-26 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd002b2aee936'
down_revision = 'c5d8e2f4a619'
branch_labels = None
depends_on = None


def upgrade():
    # Tips from before have none: the case page says it was not recorded.
    with op.batch_alter_table('tip', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language_ct', sa.LargeBinary(), nullable=True))


def downgrade():
    # Loses only the language of the tips since: their text, which shows it, stays.
    with op.batch_alter_table('tip', schema=None) as batch_op:
        batch_op.drop_column('language_ct')
