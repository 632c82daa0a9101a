"""sms_check: a test SMS a district admin sends to someone of a school's chain, sent by the alert worker, with its
delivery as Twilio reports it

Revision ID: c5d8e2f4a619
Revises: a4f2c8e1d937
Create Date: 2026-11-25 05:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c5d8e2f4a619'
down_revision = 'a4f2c8e1d937'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sms_check',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('to_phone', sa.String(length=20), nullable=True),
        sa.Column('due_at', sa.DateTime(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('lease_owner', sa.String(length=64), nullable=True),
        sa.Column('lease_until', sa.DateTime(), nullable=True),
        sa.Column('twilio_sid', sa.String(length=64), nullable=True),
        sa.Column('twilio_status', sa.String(length=20), nullable=True),
        sa.Column('error_code', sa.String(length=20), nullable=True),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('delivered_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['requested_by_id'], ['staff.id'], name=op.f('fk_sms_check_requested_by_id_staff')),
        sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_sms_check_school_id_school')),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_sms_check_staff_id_staff')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_check')),
        sa.UniqueConstraint('twilio_sid', name=op.f('uq_sms_check_twilio_sid')),
    )
    with op.batch_alter_table('sms_check', schema=None) as batch_op:
        batch_op.create_index('ix_sms_check_due', ['status', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_check_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_check_staff_id'), ['staff_id'], unique=False)


def downgrade():
    with op.batch_alter_table('sms_check', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_check_staff_id'))
        batch_op.drop_index(batch_op.f('ix_sms_check_school_id'))
        batch_op.drop_index('ix_sms_check_due')
    op.drop_table('sms_check')
