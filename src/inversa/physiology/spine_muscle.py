"""The coupled spine and back-muscle model: state, parameters, derivatives and outputs.

Gravity traction reaches the discs through the bed-friction play operator (an input computed from
the angle history); paraspinal activation adds compression (so activity slows disc recovery, as in
Healey et al. 2008); disc creep, muscle after-effect, stress relaxation and stretch tolerance are the
states. The model holds no solver: ``rhs`` gives derivatives, ``outputs`` the algebraic results.

Discs: the six levels T12-L1 ... L5-S1 are modelled one by one; the 11 thoracic and 6 cervical
discs are two lumped discs that only serve the stature mapping (stature change = the sum of all
disc height changes; curvature and non-disc tissue are not modelled).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from inversa._compile import jit_uncached
from inversa.body import LEVELS, Person
from inversa.body.anthropometry import cranial_mass_fractions
from inversa.body.person import STANDARD_GRAVITY_M_S2
from inversa.parameters import ParameterSet, load_parameter_set
from inversa.physiology.layout import Layout, override_column
from inversa.physiology.muscle import paraspinal as mus
from inversa.physiology.spine import disc

__all__ = [
    "DISCS",
    "INPUTS",
    "PARAMS",
    "STATE",
    "ModelParameters",
    "build_parameters",
    "initial_state",
    "outputs",
    "rhs",
    "rhs_compiled",
]

#: All modelled discs: the six lumbar levels, then the lumped thoracic and cervical discs.
DISCS: tuple[str, ...] = (*LEVELS, "thoracic", "cervical")
N_DISCS = len(DISCS)
N_LEVELS = len(LEVELS)

STATE = Layout(
    (
        ("creep_fast_mm", N_DISCS),
        ("creep_slow_mm", N_DISCS),
        ("activation_pct_mvc", 1),
        ("guarding_pct_mvc", 1),
        ("after_effect_fraction", 1),
        ("relaxation_fraction", 1),
        ("tolerance_fraction", 1),
    )
)

#: Inputs at each time: angle (rad), gravity traction fraction, and the rate of its tensile part (1/s).
INPUTS = Layout((("angle_rad", 1), ("traction_fraction", 1), ("tension_rate_per_s", 1)))

_SCALARS = (
    "creep_fast_share",
    "creep_slow_share",
    "recovery_slowdown",
    "creep_fast_tau_s",
    "creep_slow_tau_s",
    "compressive_modulus_mpa",
    "tensile_modulus_mpa",
    "compressive_stiffening_stress_mpa",
    "unloaded_nucleus_pressure_mpa",
    "pressure_stress_factor",
    "pressure_tension_factor",
    "minimum_nucleus_pressure_mpa",
    "activation_standing_pct_mvc",
    "activation_lying_pct_mvc",
    "activation_tau_s",
    "guarding_gain_pct_mvc",
    "guarding_tau_s",
    "inversion_emg_change_fraction",
    "inversion_emg_onset_tau_s",
    "inversion_emg_offset_tau_s",
    "stress_relaxation_tau_s",
    "stress_relaxation_max_fraction",
    "stress_relaxation_recovery_tau_s",
    "stretch_onset_traction_fraction",
    "tolerance_exposure_tau_s",
    "tolerance_decay_tau_s",
)

PARAMS = Layout(
    (
        ("cranial_weight_n", N_DISCS),
        ("disc_height_mm", N_DISCS),
        ("disc_area_mm2", N_DISCS),
        ("mvc_compression_n", N_DISCS),
        ("standing_creep_mm", N_DISCS),
        *((name, 1) for name in _SCALARS),
    )
)

#: Parameters a caller may override per person (the rest derive from the person).
OVERRIDABLE: tuple[str, ...] = ("bed_friction_coefficient", "mvc_compression_n", *_SCALARS)


@dataclass(frozen=True)
class ModelParameters:
    """Per-person parameter matrix [people, PARAMS.size], friction coefficients and citations."""

    matrix: NDArray[np.float64]
    bed_friction_coefficient: NDArray[np.float64]
    citations: list[str]

    @property
    def n_people(self) -> int:
        return int(self.matrix.shape[0])

    def column(self, name: str) -> NDArray[np.float64]:
        """One named scalar parameter for every person."""
        return self.matrix[:, PARAMS[name]]

    def block(self, name: str) -> NDArray[np.float64]:
        """One named per-disc block for every person: [people, N_DISCS]."""
        return self.matrix[:, PARAMS.span(name)]


def disc_equilibrium_mm(
    force_n: NDArray[np.float64],
    height_mm: NDArray[np.float64],
    area_mm2: NDArray[np.float64],
    material: Callable[[str], NDArray[np.float64]],
) -> NDArray[np.float64]:
    """Equilibrium displacement with the disc material read through ``material(name)``."""
    return np.asarray(
        disc.equilibrium_displacement_mm(
            force_n,
            height_mm,
            area_mm2,
            material("compressive_modulus_mpa"),
            material("tensile_modulus_mpa"),
            material("compressive_stiffening_stress_mpa"),
        )
    )


def _sets() -> tuple[ParameterSet, ParameterSet]:
    return load_parameter_set("spine"), load_parameter_set("muscle")


def build_parameters(
    people: Sequence[Person],
    overrides: dict[str, float | Sequence[float] | NDArray[np.float64]] | None = None,
) -> ModelParameters:
    """Assemble every person's parameters from the data files, their body and any overrides."""
    spine, muscle = _sets()
    n = len(people)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"unknown parameter override(s): {', '.join(unknown)}")
    cols = {k: override_column(v, n, k) for k, v in overrides.items()}

    def scalar(name: str) -> NDArray[np.float64]:
        if name in cols:
            return np.asarray(cols[name])
        src = spine if name in spine.parameters else muscle
        return np.full(n, src[name])

    m = np.zeros((n, PARAMS.size))
    for name in _SCALARS:
        m[:, PARAMS[name]] = scalar(name)
    bad = [
        k
        for k in ("creep_fast_tau_s", "creep_slow_tau_s", "activation_tau_s")
        if np.any(m[:, PARAMS[k]] <= 0)
    ]
    if bad:
        raise ValueError(f"parameter(s) {', '.join(bad)} must be positive")

    heights = np.array([p.height_m for p in people])
    masses = np.array([p.mass_kg for p in people])
    ref = spine["disc_reference_stature_m"]
    h_rest = np.array([spine[f"mri_disc_height_mm.{d}"] for d in DISCS])
    area = np.array([spine[f"disc_area_mm2.{d}"] for d in DISCS])
    size = heights / ref
    m[:, PARAMS.span("disc_height_mm")] = size[:, None] * h_rest[None, :]  # provisional, see below
    m[:, PARAMS.span("disc_area_mm2")] = (size**2)[:, None] * area[None, :]
    lumped = np.array([spine["cranial_mass_fraction.thoracic"], spine["cranial_mass_fraction.cervical"]])
    fractions = np.stack([np.concatenate([cranial_mass_fractions(p.sex), lumped]) for p in people])
    m[:, PARAMS.span("cranial_weight_n")] = fractions * (masses * STANDARD_GRAVITY_M_S2)[:, None]

    # Maximal paraspinal compression at L4/L5, spread to other discs in proportion to disc area
    # (uniform muscle stress across levels: an assumption stated in muscle.json).
    mvc = cols.get("mvc_compression_n", np.full(n, muscle["mvc_compression_n"]))
    a = m[:, PARAMS.span("disc_area_mm2")]
    m[:, PARAMS.span("mvc_compression_n")] = mvc[:, None] * a / a[:, [LEVELS.index("L4-L5")]]

    def material(name: str) -> NDArray[np.float64]:
        return m[:, [PARAMS[name]]]

    # The tabulated heights were measured on MRI during the day, lying: the fully hydrated height
    # (the model's reference, never reached in a daily rhythm) is larger by that day's creep.
    # Displacements scale with height, so one provisional pass gives the exact factor.
    provisional = ModelParameters(matrix=m, bed_friction_coefficient=np.zeros(n), citations=[])
    scan_hours = np.full(n, spine["mri_scan_hours_upright_h"])
    x_scan = initial_state(provisional, scan_hours, 0.0, np.zeros(n))
    creep_scan = x_scan[:, STATE.span("creep_fast_mm")] + x_scan[:, STATE.span("creep_slow_mm")]
    h_table = m[:, PARAMS.span("disc_height_mm")].copy()
    lying_force = -m[:, PARAMS.span("mvc_compression_n")] * (
        m[:, [PARAMS["activation_lying_pct_mvc"]]] / 100.0
    )
    elastic_scan = (1.0 - m[:, [PARAMS["creep_fast_share"]]] - m[:, [PARAMS["creep_slow_share"]]]) * (
        disc_equilibrium_mm(lying_force, h_table, m[:, PARAMS.span("disc_area_mm2")], material)
    )
    m[:, PARAMS.span("disc_height_mm")] = h_table / (1.0 + (creep_scan + elastic_scan) / h_table)

    # Creep displacement at the relaxed-standing equilibrium: the zero of the osmotic pre-stress.
    standing_force = -m[:, PARAMS.span("cranial_weight_n")] - m[:, PARAMS.span("mvc_compression_n")] * (
        m[:, [PARAMS["activation_standing_pct_mvc"]]] / 100.0
    )
    d_stand = disc_equilibrium_mm(standing_force, m[:, PARAMS.span("disc_height_mm")], a, material)
    creep_share = m[:, [PARAMS["creep_fast_share"]]] + m[:, [PARAMS["creep_slow_share"]]]
    m[:, PARAMS.span("standing_creep_mm")] = np.abs(d_stand) * creep_share

    mu = cols.get("bed_friction_coefficient", np.full(n, spine["bed_friction_coefficient"]))
    if np.any(mu < 0):
        raise ValueError("bed_friction_coefficient must be >= 0")
    citations = load_parameter_set("anthropometry").citations() + spine.citations() + muscle.citations()
    return ModelParameters(
        matrix=m, bed_friction_coefficient=np.asarray(mu), citations=list(dict.fromkeys(citations))
    )


def _make_rhs(
    force: Callable[..., Any],
    equilibrium: Callable[..., Any],
    creep: Callable[..., Any],
    target: Callable[..., Any],
    stretch: Callable[..., Any],
    guarding: Callable[..., Any],
    relax: Callable[..., Any],
    tolerance: Callable[..., Any],
) -> Callable[..., None]:
    """Build the derivative function from the mechanism equations (Python or compiled)."""
    hf0, hs0 = STATE["creep_fast_mm"], STATE["creep_slow_mm"]
    ia, ig = STATE["activation_pct_mvc"], STATE["guarding_pct_mvc"]
    ir, iz, it = (
        STATE["after_effect_fraction"],
        STATE["relaxation_fraction"],
        STATE["tolerance_fraction"],
    )
    pw, ph, pa, pm = (
        PARAMS["cranial_weight_n"],
        PARAMS["disc_height_mm"],
        PARAMS["disc_area_mm2"],
        PARAMS["mvc_compression_n"],
    )
    p = {name: PARAMS[name] for name in _SCALARS}
    s0 = p["compressive_stiffening_stress_mpa"]
    (s_f, s_s, rho, tau_f, tau_s, e_c, e_t) = (
        p["creep_fast_share"],
        p["creep_slow_share"],
        p["recovery_slowdown"],
        p["creep_fast_tau_s"],
        p["creep_slow_tau_s"],
        p["compressive_modulus_mpa"],
        p["tensile_modulus_mpa"],
    )
    a_st, a_ly, a_tau = (
        p["activation_standing_pct_mvc"],
        p["activation_lying_pct_mvc"],
        p["activation_tau_s"],
    )
    g_gain, g_tau = p["guarding_gain_pct_mvc"], p["guarding_tau_s"]
    r_eff, r_on, r_off = (
        p["inversion_emg_change_fraction"],
        p["inversion_emg_onset_tau_s"],
        p["inversion_emg_offset_tau_s"],
    )
    z_tau, z_max, z_rec = (
        p["stress_relaxation_tau_s"],
        p["stress_relaxation_max_fraction"],
        p["stress_relaxation_recovery_tau_s"],
    )
    s_on, t_exp, t_dec = (
        p["stretch_onset_traction_fraction"],
        p["tolerance_exposure_tau_s"],
        p["tolerance_decay_tau_s"],
    )
    n_discs = N_DISCS

    def rhs(x: Any, u: Any, q: Any, dx: Any) -> None:
        """Derivatives into ``dx``. x, q, dx index state/params first: [S] or [S, people]."""
        angle, trac, trac_rate = u[0], u[1], u[2]
        act = x[ia]
        stim = stretch(trac, q[s_on])
        dx[ia] = (target(angle, q[a_st], q[a_ly], x[ir], x[ig]) - act) / q[a_tau]
        dx[ig] = guarding(x[ig], trac_rate, q[g_gain], q[g_tau])
        dx[ir] = relax(x[ir], q[r_eff] * stim, q[r_on], q[r_off])
        dx[iz] = relax(x[iz], q[z_max] * stim, q[z_tau], q[z_rec])
        dx[it] = tolerance(x[it], stim, q[t_exp], q[t_dec])
        for i in range(n_discs):
            f = force(q[pw + i], trac, q[pm + i] * act / 100.0)
            d_eq = equilibrium(f, q[ph + i], q[pa + i], q[e_c], q[e_t], q[s0])
            dx[hf0 + i] = creep(x[hf0 + i], q[s_f] * d_eq, q[tau_f], q[rho])
            dx[hs0 + i] = creep(x[hs0 + i], q[s_s] * d_eq, q[tau_s], q[rho])

    return rhs


#: Reference (NumPy) derivatives: x[S, people], u[3, people] or [3], q[P, people], dx[S, people].
rhs = _make_rhs(
    disc.disc_axial_force_n,
    disc.equilibrium_displacement_mm,
    disc.creep_rate_mm_s,
    mus.activation_target_pct_mvc,
    mus.stretch_stimulus,
    mus.guarding_rate,
    mus.relaxation_rate,
    mus.tolerance_rate,
)

#: Compiled derivatives for one person: x[S], u[3], q[P], dx[S].
rhs_compiled = jit_uncached(
    _make_rhs(
        disc.disc_axial_force_n_jit,
        disc.equilibrium_displacement_mm_jit,
        disc.creep_rate_mm_s_jit,
        mus.activation_target_pct_mvc_jit,
        mus.stretch_stimulus_jit,
        mus.guarding_rate_jit,
        mus.relaxation_rate_jit,
        mus.tolerance_rate_jit,
    )
)


def _relax_exact(
    x: NDArray[np.float64],
    target: NDArray[np.float64],
    tau_load: NDArray[np.float64],
    rho: NDArray[np.float64],
    t_s: float,
) -> NDArray[np.float64]:
    """Exact creep under a constant target (the direction, hence tau, cannot change on the way)."""
    tau = np.where(target > x, tau_load * rho, tau_load)
    return np.asarray(target + (x - target) * np.exp(-t_s / tau))


def initial_state(
    params: ModelParameters,
    hours_upright_h: NDArray[np.float64],
    start_angle_deg: float,
    start_traction_fraction: NDArray[np.float64],
    tolerance_fraction: NDArray[np.float64] | None = None,
    night_h: float = 8.0,
    day_h: float = 16.0,
    settle_days: int = 12,
) -> NDArray[np.float64]:
    """State at the protocol start: a settled rhythm of nights lying and days standing, then the
    person's hours upright today, then settled muscles at the start angle. Shape [people, S]."""
    q = params.matrix
    n = params.n_people
    col = {name: q[:, [PARAMS[name]]] for name in _SCALARS}
    w, area, height = (params.block(k) for k in ("cranial_weight_n", "disc_area_mm2", "disc_height_mm"))
    mvc = params.block("mvc_compression_n")

    def targets(
        trac: float, activation: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        f = disc.disc_axial_force_n(w, trac, mvc * activation / 100.0)
        d_eq = disc_equilibrium_mm(f, height, area, col.__getitem__)
        return col["creep_fast_share"] * d_eq, col["creep_slow_share"] * d_eq

    stand = targets(-1.0, col["activation_standing_pct_mvc"])
    lie = targets(0.0, col["activation_lying_pct_mvc"])
    fast = np.zeros((n, N_DISCS))
    slow = np.zeros((n, N_DISCS))
    taus = (col["creep_fast_tau_s"], col["creep_slow_tau_s"])
    rho = col["recovery_slowdown"]

    def hold(
        load: tuple[NDArray[np.float64], NDArray[np.float64]], hours: NDArray[np.float64] | float
    ) -> None:
        nonlocal fast, slow
        secs = np.asarray(hours, dtype=float).reshape(-1, 1) * 3600.0
        fast = _relax_exact(fast, load[0], taus[0], rho, secs)  # type: ignore[arg-type]
        slow = _relax_exact(slow, load[1], taus[1], rho, secs)  # type: ignore[arg-type]

    for _ in range(settle_days):
        hold(lie, night_h)
        hold(stand, day_h)
    hold(lie, night_h)
    hold(stand, np.asarray(hours_upright_h, dtype=float))

    x = np.zeros((n, STATE.size))
    x[:, STATE.span("creep_fast_mm")] = fast
    x[:, STATE.span("creep_slow_mm")] = slow
    angle = np.radians(start_angle_deg)
    x[:, STATE["activation_pct_mvc"]] = mus.activation_target_pct_mvc(
        np.full(n, angle),
        col["activation_standing_pct_mvc"][:, 0],
        col["activation_lying_pct_mvc"][:, 0],
        np.zeros(n),
        np.zeros(n),
    )
    x[:, STATE["tolerance_fraction"]] = 0.0 if tolerance_fraction is None else tolerance_fraction
    del start_traction_fraction  # muscles start settled: no guarding, after-effect or relaxation yet
    return x


def outputs(
    x: NDArray[np.float64],
    traction_fraction: NDArray[np.float64],
    params: ModelParameters,
) -> dict[str, NDArray[np.float64]]:
    """Algebraic results for states x[people, time, S] and traction [people, time].

    Returns arrays [people, time] or [people, time, discs]: axial force (N, + tension), total
    disc displacement from the fully hydrated height (mm), nucleus pressure (MPa).
    """
    q = params.matrix[:, None, :]
    col = {name: q[:, :, PARAMS[name]] for name in _SCALARS}
    w = q[:, :, PARAMS.span("cranial_weight_n")]
    mvc = q[:, :, PARAMS.span("mvc_compression_n")]
    area = q[:, :, PARAMS.span("disc_area_mm2")]
    height = q[:, :, PARAMS.span("disc_height_mm")]
    act = x[:, :, STATE["activation_pct_mvc"]]
    force = disc.disc_axial_force_n(w, traction_fraction[:, :, None], mvc * act[:, :, None] / 100.0)
    d_eq = disc_equilibrium_mm(force, height, area, lambda name: col[name][..., None])
    creep_mm = x[:, :, STATE.span("creep_fast_mm")] + x[:, :, STATE.span("creep_slow_mm")]
    elastic_share = 1.0 - col["creep_fast_share"] - col["creep_slow_share"]
    displacement = elastic_share[..., None] * d_eq + creep_mm
    pressure = disc.nucleus_pressure_mpa(
        force,
        area,
        creep_mm,
        q[:, :, PARAMS.span("standing_creep_mm")],
        col["unloaded_nucleus_pressure_mpa"][..., None],
        col["pressure_stress_factor"][..., None],
        col["pressure_tension_factor"][..., None],
        col["minimum_nucleus_pressure_mpa"][..., None],
    )
    return {
        "axial_force_n": force,
        "disc_displacement_mm": displacement,
        "disc_height_mm": height + displacement,
        "nucleus_pressure_mpa": pressure,
        "activation_pct_mvc": act,
        "relaxation_fraction": x[:, :, STATE["relaxation_fraction"]],
        "tolerance_fraction": x[:, :, STATE["tolerance_fraction"]],
    }
