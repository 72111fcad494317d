"""Outbox, inbox and peer view: the platform tables every service owns in its schema.

Revision ID: 0001
Revises:
"""

from alembic import op

from registry_platform.peers import platform_ddl

revision = "0001"
down_revision = None


def upgrade() -> None:
    for statement in platform_ddl():
        op.execute(statement)
