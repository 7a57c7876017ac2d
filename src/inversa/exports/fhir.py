"""A FHIR R4 Bundle of one person's record.

Mapping: questionnaires as QuestionnaireResponse with score Observations (category survey,
derivedFrom the response, LOINC codes where they exist); each session as a Procedure with its
period, its angle trace as an Observation with valueSampledData (resampled to 1 Hz) and its heart
rate as Observation 8867-4; resting blood pressure as panel 85354-9 (8480-6 systolic, 8462-4
diastolic); the table and the strap as Devices. No standard code exists for inversion therapy, so
a local CodeSystem carries it with text. ``fhir.resources`` checks the structure (R4B models);
``check_bundle`` checks what the models do not: codes, units and references.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from inversa import __version__
from inversa.outcomes import INSTRUMENTS

__all__ = ["LOCAL_SYSTEM", "FhirError", "build_bundle", "check_bundle"]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LOCAL_SYSTEM = "https://inversa.example.org/fhir/CodeSystem/inversa"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_NAMESPACE = uuid.UUID("5d7c3f55-0a55-4c3c-9b8e-7f5a2e6f1c11")

#: The LOINC code of each instrument's total score (RMDQ has none: a local code is used).
SCORE_CODES: dict[str, tuple[str, str, str]] = {
    "nrs": (LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported"),
    "peg": (LOINC, "91147-9", "PEG 3-item pain scale total score"),
    "startback": (LOINC, "91351-7", "STarT Back total score"),
    "odi": (LOINC, "97909-6", "Oswestry Disability Index score"),
    "rmdq": (LOCAL_SYSTEM, "rmdq-24-score", "Roland-Morris Disability Questionnaire (24 items) score"),
}


class FhirError(ValueError):
    """The bundle breaks the FHIR structure or Inversa's own checks."""


def _urn(*parts: object) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, '/'.join(str(p) for p in parts))}"


def _entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": full_url, "resource": resource}


def _resample_1hz(trace: list[list[float]] | list[tuple[float, float]]) -> tuple[float, list[float]]:
    """Irregular [t, value] points to 1 Hz samples (linear interpolation), as SampledData needs."""
    if not trace:
        return 0.0, []
    t = np.array([p[0] for p in trace], dtype=float)
    v = np.array([p[1] for p in trace], dtype=float)
    grid = np.arange(np.floor(t[0]), np.floor(t[-1]) + 1.0)
    return float(grid[0]), [round(float(x), 2) for x in np.interp(grid, t, v)]


def _quantity(value: float, unit: str, code: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def build_bundle(record: Mapping[str, Any], generated_at: datetime | None = None) -> dict[str, Any]:
    """The record (as ``Store.patient_record`` returns it) as a FHIR R4 collection Bundle (JSON)."""
    pid = record["patient"]["id"]
    patient_url = _urn("patient", pid)
    table_url, strap_url = _urn("device", pid, "table"), _urn("device", pid, "strap")
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "identifier": [{"system": f"{LOCAL_SYSTEM}/patient-id", "value": str(pid)}],
        "name": [{"text": record["patient"]["display_name"]}],
    }
    profile = record.get("profile")
    if profile:
        patient["gender"] = profile["sex"]
        patient["birthDate"] = f"{int(profile['birth_year']):04d}"
    entries = [
        _entry(patient_url, patient),
        _entry(
            table_url,
            {
                "resourceType": "Device",
                "deviceName": [{"name": "Inversion table", "type": "user-friendly-name"}],
                "patient": {"reference": patient_url},
            },
        ),
        _entry(
            strap_url,
            {
                "resourceType": "Device",
                "deviceName": [{"name": "Heart-rate strap (Bluetooth 0x180D)", "type": "user-friendly-name"}],
                "patient": {"reference": patient_url},
            },
        ),
    ]
    subject = {"reference": patient_url}
    survey = [{"coding": [{"system": OBS_CATEGORY, "code": "survey", "display": "Survey"}]}]
    vitals = [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}]

    if profile and profile.get("resting_systolic_mmhg") is not None:
        entries.append(
            _entry(
                _urn("bp", pid),
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": vitals,
                    "code": {
                        "coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}]
                    },
                    "subject": subject,
                    "effectiveDateTime": profile.get("updated_at")
                    or (generated_at or datetime.now(UTC)).isoformat(),
                    "component": [
                        {
                            "code": {"coding": [{"system": LOINC, "code": "8480-6", "display": "Systolic"}]},
                            "valueQuantity": _quantity(profile["resting_systolic_mmhg"], "mm[Hg]", "mm[Hg]"),
                        },
                        {
                            "code": {"coding": [{"system": LOINC, "code": "8462-4", "display": "Diastolic"}]},
                            "valueQuantity": _quantity(profile["resting_diastolic_mmhg"], "mm[Hg]", "mm[Hg]"),
                        },
                    ],
                },
            )
        )

    for q in record.get("questionnaires", []):
        inst = INSTRUMENTS[q["instrument"]]
        qr_url = _urn("qr", pid, q["id"])
        entries.append(
            _entry(
                qr_url,
                {
                    "resourceType": "QuestionnaireResponse",
                    "questionnaire": f"{LOCAL_SYSTEM}/Questionnaire/{inst.key}",
                    "status": "completed" if q["complete"] else "in-progress",
                    "subject": subject,
                    "authored": q["recorded_at"],
                    "item": [
                        {
                            "linkId": str(i + 1),
                            "text": item.label,
                            **({"answer": [{"valueInteger": int(a)}]} if a is not None else {}),
                        }
                        for i, (item, a) in enumerate(zip(inst.items, q["answers"], strict=True))
                    ],
                },
            )
        )
        if q["score"] is not None:
            system, code, display = SCORE_CODES[inst.key]
            entries.append(
                _entry(
                    _urn("score", pid, q["id"]),
                    {
                        "resourceType": "Observation",
                        "status": "final",
                        "category": survey,
                        "code": {
                            "coding": [{"system": system, "code": code, "display": display}],
                            "text": inst.name,
                        },
                        "subject": subject,
                        "effectiveDateTime": q["recorded_at"],
                        "valueQuantity": _quantity(float(q["score"]), "{score}", "{score}"),
                        "derivedFrom": [{"reference": qr_url}],
                        **_startback_components(inst.key, q),
                    },
                )
            )

    for s in record.get("sessions", []):
        proc_url = _urn("session", pid, s["client_id"])
        entries.append(
            _entry(
                proc_url,
                {
                    "resourceType": "Procedure",
                    "identifier": [{"system": f"{LOCAL_SYSTEM}/session-client-id", "value": s["client_id"]}],
                    "status": "completed",
                    "code": {
                        "coding": [
                            {
                                "system": LOCAL_SYSTEM,
                                "code": "inversion-session",
                                "display": "Inversion therapy session",
                            }
                        ],
                        "text": "Inversion therapy session on an inversion table",
                    },
                    "subject": subject,
                    "performedPeriod": {"start": s["started_at"], "end": s["ended_at"]},
                    "focalDevice": [{"manipulated": {"reference": table_url}}],
                    **({"note": [{"text": s["notes"]}]} if s.get("notes") else {}),
                },
            )
        )
        for kind, trace, coding, unit, device in (
            (
                "angle",
                s.get("angle_trace") or [],
                (LOCAL_SYSTEM, "tilt-angle", "Table tilt angle, positive head-down"),
                ("deg", "deg"),
                table_url,
            ),
            (
                "hr",
                s.get("heart_rate_trace") or [],
                (LOINC, "8867-4", "Heart rate"),
                ("/min", "/min"),
                strap_url,
            ),
        ):
            if not trace:
                continue
            start_s, samples = _resample_1hz(trace)
            entries.append(
                _entry(
                    _urn(kind, pid, s["client_id"]),
                    {
                        "resourceType": "Observation",
                        "status": "final",
                        **({"category": vitals} if kind == "hr" else {}),
                        "code": {"coding": [{"system": coding[0], "code": coding[1], "display": coding[2]}]},
                        "subject": subject,
                        "partOf": [{"reference": proc_url}],
                        "device": {"reference": device},
                        "effectivePeriod": {
                            "start": (
                                datetime.fromisoformat(s["started_at"]) + timedelta(seconds=start_s)
                            ).isoformat(),
                            "end": s["ended_at"],
                        },
                        "valueSampledData": {
                            "origin": _quantity(0.0, unit[0], unit[1]),
                            "period": 1000.0,
                            "dimensions": 1,
                            "data": " ".join(f"{x:g}" for x in samples),
                        },
                        "note": [{"text": f"1 Hz samples from {start_s:g} s after the session start"}],
                    },
                )
            )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": (generated_at or datetime.now(UTC)).isoformat(),
        "meta": {
            "tag": [{"system": LOCAL_SYSTEM, "code": "inversa-export", "display": f"Inversa {__version__}"}]
        },
        "entry": entries,
    }


def _startback_components(key: str, response: Mapping[str, Any]) -> dict[str, Any]:
    """STarT Back's distress subscore (91350-9) and risk group (91352-5) as score components."""
    if key != "startback":
        return {}
    from inversa.outcomes import score

    result = score("startback", response["answers"])
    distress = int(result.subscores["distress"] or 0)
    return {
        "component": [
            {
                "code": {
                    "coding": [{"system": LOINC, "code": "91350-9", "display": "STarT Back distress score"}]
                },
                "valueQuantity": _quantity(float(distress), "{score}", "{score}"),
            },
            {
                "code": {
                    "coding": [{"system": LOINC, "code": "91352-5", "display": "STarT Back risk group"}]
                },
                "valueString": result.interpretation,
            },
        ]
    }


def check_bundle(bundle: Mapping[str, Any]) -> None:
    """Validate structure with fhir.resources (R4B) and Inversa's checks; raise FhirError."""
    from fhir.resources.R4B.bundle import Bundle

    try:
        Bundle.model_validate(bundle)
    except Exception as exc:  # pydantic ValidationError or the package's own errors
        raise FhirError(
            f"FHIR structure: {exc}".splitlines()[0] + f" ({str(exc).count(chr(10))} lines)"
        ) from None
    urls = {e["fullUrl"] for e in bundle.get("entry", [])}
    for e in bundle.get("entry", []):
        res = e["resource"]
        for ref in _references(res):
            if ref.startswith("urn:uuid:") and ref not in urls:
                raise FhirError(f"{res['resourceType']}: reference {ref} does not resolve in the bundle")
        if res["resourceType"] == "Observation":
            codings = res["code"]["coding"]
            if not any(c["system"] in (LOINC, LOCAL_SYSTEM) for c in codings):
                raise FhirError("Observation: code must come from LOINC or Inversa's local CodeSystem")
            component_codings = [cc for comp in res.get("component", []) for cc in comp["code"]["coding"]]
            for c in [*codings, *component_codings]:
                if c["system"] == LOINC and c["code"] not in _KNOWN_LOINC:
                    raise FhirError(f"Observation: unexpected LOINC code {c['code']}")
            for q in _quantities(res):
                if q.get("system") != UCUM or q.get("code") not in _UCUM_CODES:
                    raise FhirError(f"Observation: unit {q.get('code')!r} is not one of Inversa's UCUM codes")


_UCUM_CODES = {"mm[Hg]", "/min", "deg", "{score}"}
_KNOWN_LOINC = {c[1] for c in SCORE_CODES.values() if c[0] == LOINC} | {
    "8867-4",
    "85354-9",
    "8480-6",
    "8462-4",
    "91350-9",
    "91352-5",
}


def _references(obj: Any) -> list[str]:
    found: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "reference" and isinstance(v, str):
                found.append(v)
            else:
                found += _references(v)
    elif isinstance(obj, list):
        for v in obj:
            found += _references(v)
    return found


def _quantities(res: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    out = [res["valueQuantity"]] if "valueQuantity" in res else []
    out += [c["valueQuantity"] for c in res.get("component", []) if "valueQuantity" in c]
    if "valueSampledData" in res:
        out.append(res["valueSampledData"]["origin"])
    return out
