"""Store: screenings, clinician overrides and programs, with their access rules and audit rows
(SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from inversa.store import CLI_ACTOR, AccessDeniedError, Actor, NotFoundError, Role, Store


@pytest.fixture
def store(store_engine: Engine) -> Store:
    return Store(store_engine)


@pytest.fixture
def ids(store: Store) -> dict[str, int]:
    make = store.create_user
    out = {
        "alice": make(CLI_ACTOR, "alice@example.org", "Alice", Role.PATIENT),
        "bob": make(CLI_ACTOR, "bob@example.org", "Bob", Role.PATIENT),
        "carol": make(CLI_ACTOR, "carol@example.org", "Carol", Role.CLINICIAN),
        "dave": make(CLI_ACTOR, "dave@example.org", "Dave", Role.CLINICIAN),
    }
    store.link(CLI_ACTOR, out["carol"], out["alice"])
    return out


def actor(ids: dict[str, int], name: str) -> Actor:
    role = Role.CLINICIAN if name in ("carol", "dave") else Role.PATIENT
    return Actor(user_id=ids[name], role=role)


FINDINGS = [{"item": "glaucoma", "class": "relative", "reason": "raised eye pressure"}]


def screen(store: Store, ids: dict[str, int], who: str = "alice") -> int:
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    return store.save_screening(
        actor(ids, who), ids[who], "2026.1", {"glaucoma": "yes"}, "clinician_review", FINDINGS, expires
    )


def test_latest_screening_carries_its_overrides(store: Store, ids: dict[str, int]) -> None:
    first = screen(store, ids)
    second = screen(store, ids)
    assert second != first
    oid = store.add_override(actor(ids, "carol"), second, "glaucoma", "cleared", "normal pressures on exam")
    latest = store.latest_screening(actor(ids, "alice"), ids["alice"])
    assert latest is not None and latest["id"] == second
    assert latest["decision"] == "clinician_review" and latest["findings"] == FINDINGS
    assert [(o["id"], o["new_class"], o["clinician_id"]) for o in latest["overrides"]] == [
        (oid, "cleared", ids["carol"])
    ]
    assert datetime.fromisoformat(latest["expires_at"]) > datetime.now(UTC) + timedelta(days=365)
    assert store.latest_screening(actor(ids, "bob"), ids["bob"]) is None


def test_only_a_linked_clinician_overrides_with_a_reason(store: Store, ids: dict[str, int]) -> None:
    sid = screen(store, ids)
    with pytest.raises(AccessDeniedError):
        store.add_override(actor(ids, "dave"), sid, "glaucoma", "cleared", "seen")
    with pytest.raises(AccessDeniedError):
        store.add_override(actor(ids, "alice"), sid, "glaucoma", "cleared", "I feel fine")
    with pytest.raises(ValueError, match=r"^reason:"):
        store.add_override(actor(ids, "carol"), sid, "glaucoma", "cleared", "  ")
    with pytest.raises(ValueError, match=r"^item:"):
        store.add_override(actor(ids, "carol"), sid, "pregnancy", "cleared", "asked")
    with pytest.raises(NotFoundError):
        store.add_override(actor(ids, "carol"), sid + 99, "glaucoma", "cleared", "seen")


def test_patients_see_only_their_own_screening(store: Store, ids: dict[str, int]) -> None:
    screen(store, ids)
    with pytest.raises(AccessDeniedError):
        store.latest_screening(actor(ids, "bob"), ids["alice"])
    with pytest.raises(AccessDeniedError):
        store.latest_screening(actor(ids, "dave"), ids["alice"])
    with pytest.raises(AccessDeniedError):
        store.save_screening(
            actor(ids, "bob"), ids["alice"], "v", {}, "clear", [], datetime(2030, 1, 1, tzinfo=UTC)
        )


def test_one_active_program_and_a_patient_cannot_raise_the_ceiling(store: Store, ids: dict[str, int]) -> None:
    alice, carol = actor(ids, "alice"), actor(ids, "carol")
    first = store.save_program(alice, ids["alice"], {"sessions": []}, target_angle_deg=40)
    clinician = store.save_program(carol, ids["alice"], {"sessions": [1]}, 30, ceiling_angle_deg=35)
    mine = store.save_program(alice, ids["alice"], {"sessions": [2]}, 30, ceiling_angle_deg=60)
    active = store.active_program(alice, ids["alice"])
    assert active is not None and active["id"] == mine not in (first, clinician)
    assert active["ceiling_angle_deg"] == 35  # the clinician's ceiling stays in force
    with pytest.raises(ValueError, match=r"^target_angle_deg:"):
        store.save_program(alice, ids["alice"], {}, target_angle_deg=50)
    # the clinician may raise it again
    store.save_program(carol, ids["alice"], {}, 50, ceiling_angle_deg=55)
    assert store.active_program(carol, ids["alice"])["ceiling_angle_deg"] == 55  # type: ignore[index]
    record = store.patient_record(CLI_ACTOR, ids["alice"])
    assert [p["active"] for p in record["programs"]] == [False, False, False, True]


def test_program_angles_are_checked_and_access_applies(store: Store, ids: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"^ceiling_angle_deg:"):
        store.save_program(actor(ids, "carol"), ids["alice"], {}, ceiling_angle_deg=95)
    with pytest.raises(AccessDeniedError):
        store.save_program(actor(ids, "dave"), ids["alice"], {}, 20)
    with pytest.raises(AccessDeniedError):
        store.active_program(actor(ids, "bob"), ids["alice"])
    assert store.active_program(actor(ids, "bob"), ids["bob"]) is None


def test_changes_and_reads_are_audited(store: Store, ids: dict[str, int]) -> None:
    sid = screen(store, ids)
    store.add_override(actor(ids, "carol"), sid, "glaucoma", "cleared", "exam normal")
    store.save_program(actor(ids, "carol"), ids["alice"], {}, 20, 30)
    store.active_program(actor(ids, "alice"), ids["alice"])
    entries = {(e["action"], e["entity"]) for e in store.audit_entries(ids["alice"])}
    assert {
        ("create", "screening"),
        ("create", "screening_override"),
        ("create", "program"),
        ("read", "program"),
    } <= entries
