"""Initial schema: users, profiles, links, screenings, programs, sessions, questionnaires, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    role = sa.Enum("patient", "clinician", "admin", name="user_role")
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", role, nullable=False),
        sa.Column("password_hash", sa.String(500)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_users_email", "users", ["email"], unique=True)
    op.create_table(
        "patient_profiles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, unique=True
        ),
        sa.Column("sex", sa.String(10), nullable=False),
        sa.Column("birth_year", sa.Integer, nullable=False),
        sa.Column("height_cm", sa.Float, nullable=False),
        sa.Column("mass_kg", sa.Float, nullable=False),
        sa.Column("resting_systolic_mmhg", sa.Float),
        sa.Column("resting_diastolic_mmhg", sa.Float),
        sa.Column("resting_heart_rate_bpm", sa.Float),
        sa.Column("resting_iop_mmhg", sa.Float),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint("height_cm >= 120 AND height_cm <= 230", name="ck_profile_height"),
        sa.CheckConstraint("mass_kg >= 30 AND mass_kg <= 250", name="ck_profile_mass"),
    )
    op.create_table(
        "clinician_patients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("clinician_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("clinician_id", "patient_id", name="uq_clinician_patient"),
    )
    op.create_index("ix_clinician_patients_clinician_id", "clinician_patients", ["clinician_id"])
    op.create_index("ix_clinician_patients_patient_id", "clinician_patients", ["patient_id"])
    op.create_table(
        "screenings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("screening_version", sa.String(40), nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("created_by_id", sa.Integer, sa.ForeignKey("users.id")),
    )
    op.create_index("ix_screenings_patient_id", "screenings", ["patient_id"])
    op.create_table(
        "screening_overrides",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "screening_id", sa.Integer, sa.ForeignKey("screenings.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("item", sa.String(80), nullable=False),
        sa.Column("new_class", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("clinician_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.CheckConstraint("length(trim(reason)) > 0", name="ck_override_reason"),
    )
    op.create_index("ix_screening_overrides_screening_id", "screening_overrides", ["screening_id"])
    op.create_table(
        "programs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("target_angle_deg", sa.Float),
        sa.Column("ceiling_angle_deg", sa.Float),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_programs_patient_id", "programs", ["patient_id"])
    op.create_table(
        "table_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False, unique=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("program_id", sa.Integer, sa.ForeignKey("programs.id")),
        sa.Column("planned_protocol", sa.Text, nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=False),
        sa.Column("angle_trace", sa.JSON, nullable=False),
        sa.Column("heart_rate_trace", sa.JSON, nullable=False),
        sa.Column("symptoms", sa.JSON, nullable=False),
        sa.Column("pain_before", sa.Integer),
        sa.Column("pain_after", sa.Integer),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.CheckConstraint("ended_at >= started_at", name="ck_session_times"),
        sa.CheckConstraint("pain_before IS NULL OR (pain_before BETWEEN 0 AND 10)", name="ck_pain_before"),
        sa.CheckConstraint("pain_after IS NULL OR (pain_after BETWEEN 0 AND 10)", name="ck_pain_after"),
    )
    op.create_index("ix_table_sessions_patient_id", "table_sessions", ["patient_id"])
    op.create_table(
        "questionnaire_responses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.String(64), unique=True),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("instrument", sa.String(20), nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("subscores", sa.JSON, nullable=False),
        sa.Column("complete", sa.Boolean, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
    )
    op.create_index("ix_questionnaire_responses_patient_id", "questionnaire_responses", ["patient_id"])
    op.create_index("ix_questionnaire_responses_recorded_at", "questionnaire_responses", ["recorded_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("entity", sa.String(60), nullable=False),
        sa.Column("entity_id", sa.String(64)),
        sa.Column("patient_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("reason", sa.Text),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_patient_id", "audit_log", ["patient_id"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "questionnaire_responses",
        "table_sessions",
        "programs",
        "screening_overrides",
        "screenings",
        "clinician_patients",
        "patient_profiles",
        "users",
    ):
        op.drop_table(table)
    sa.Enum(name="user_role").drop(op.get_bind(), checkfirst=True)
