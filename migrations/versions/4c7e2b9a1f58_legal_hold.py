"""legal_hold: a case under legal hold (subpoena, lawsuit, criminal case) is never crypto-shredded

Revision ID: 4c7e2b9a1f58
Revises: d3a9f0c2b6e1
Create Date: 2026-11-24 19:00:00

"""
import os

from alembic import op
from alembic.util import CommandError
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4c7e2b9a1f58'
down_revision = 'd3a9f0c2b6e1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tip', schema=None) as batch_op:
        batch_op.add_column(sa.Column('legal_hold_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('legal_hold_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('legal_hold_reason_ct', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('legal_hold_released_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('legal_hold_released_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('legal_hold_release_reason_ct', sa.LargeBinary(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_tip_legal_hold_by_id_staff'), 'staff', ['legal_hold_by_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_tip_legal_hold_released_by_id_staff'), 'staff',
                                    ['legal_hold_released_by_id'], ['id'])


# Set to 1 in the environment of one `flask db downgrade` to drop the holds anyway (see README, Upgrading).
DROP_HOLDS = "TIPLINE_DOWNGRADE_DROPS_LEGAL_HOLDS"


def downgrade():
    """Refused while a case is on legal hold: the release before has no hold, and its daily purge would shred the
    case once it is past retention, which is what the hold is there to prevent."""
    tip = sa.table('tip', sa.column('legal_hold_at'), sa.column('legal_hold_released_at'))
    held = op.get_bind().execute(sa.select(sa.func.count()).select_from(tip).where(
        tip.c.legal_hold_at.isnot(None), tip.c.legal_hold_released_at.is_(None))).scalar() or 0
    if held and os.environ.get(DROP_HOLDS) != "1":
        raise CommandError(
            f"{held} case(s) on legal hold: the release before has no legal hold and its purge would shred them once "
            f"past retention, so the downgrade stopped here (4c7e2b9a1f58), every hold kept. Release the holds in the console first (flask tips holds lists "
            f"them), or run this downgrade again with {DROP_HOLDS}=1 to drop them knowingly.")
    with op.batch_alter_table('tip', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_tip_legal_hold_released_by_id_staff'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_tip_legal_hold_by_id_staff'), type_='foreignkey')
        batch_op.drop_column('legal_hold_release_reason_ct')
        batch_op.drop_column('legal_hold_released_by_id')
        batch_op.drop_column('legal_hold_released_at')
        batch_op.drop_column('legal_hold_reason_ct')
        batch_op.drop_column('legal_hold_by_id')
        batch_op.drop_column('legal_hold_at')
