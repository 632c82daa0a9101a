"""legal_hold: a case under legal hold (subpoena, lawsuit, criminal case) is never crypto-shredded

Revision ID: 4c7e2b9a1f58
Revises: d3a9f0c2b6e1
Create Date: 2026-11-24 19:00:00

"""
from alembic import op
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


def downgrade():
    """Refused while a case is on legal hold (app/legal_hold.py); migrations/env.py checks it before a downgrade
    starts, this is the same check where the holds are dropped."""
    from app.legal_hold import refuse_to_drop_holds

    refuse_to_drop_holds(op.get_bind())
    with op.batch_alter_table('tip', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_tip_legal_hold_released_by_id_staff'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_tip_legal_hold_by_id_staff'), type_='foreignkey')
        batch_op.drop_column('legal_hold_release_reason_ct')
        batch_op.drop_column('legal_hold_released_by_id')
        batch_op.drop_column('legal_hold_released_at')
        batch_op.drop_column('legal_hold_reason_ct')
        batch_op.drop_column('legal_hold_by_id')
        batch_op.drop_column('legal_hold_at')
