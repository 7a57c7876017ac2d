// The guided session on the table: tilt from the phone lying on the bed, the planned steps with
// countdowns, spoken cues and beeps, warnings past the target and the ceiling, heart rate from a
// Bluetooth strap (or typed), symptom buttons that lead to a guided return and rest, and a
// recording kept in IndexedDB (outbox.js) until the server has it.
//
// Angles are degrees past horizontal, positive head-down (flat 0, standing -90), as everywhere in
// Inversa. The page data (planned steps, the planned angle at each second, caps) comes from the
// server in the #guided-data JSON block; nothing here re-implements the protocol language.

import { HEART_RATE_MEASUREMENT, HEART_RATE_SERVICE, parseHeartRateMeasurement } from "./hrm.js";
import * as outbox from "./outbox.js";

const DATA = JSON.parse(document.getElementById("guided-data").textContent);
const $ = (id) => document.getElementById(id);

const TICK_MS = 250;
const FLAT_CONFIRM_S = 3;
const WARN_REPEAT_MS = 10000;
const MOTION_SMOOTHING = 0.3; // low-pass on the accelerometer: hands and breathing shake the bed
const UPLOAD_RETRY_MS = 30000;
const STRAP_FRESH_MS = 10000; // a strap reading this recent counts as the pulse at the start

// ------------------------------------------------------------------------------------------ state
const state = {
  phase: "prepare", // prepare, run, return, rest, restdone, finish, saved
  rec: null, // the outbox record of the running session
  muted: false,
  lastStep: -1,
  lastBeepSecond: -1,
  warnKey: "",
  warnAt: 0,
  flatSince: null,
  wakeLock: null,
  audio: null,
  saving: Promise.resolve(),
  strap: null, // the strap's latest {bpm, at}
};

// Raw readings by source, newest first in priority: gravity sensor, devicemotion, deviceorientation.
const sources = {
  gravity: { at: 0, theta: null, screen: 1 },
  motion: { at: 0, theta: null, screen: 1, y: null, z: null },
  orientation: { at: 0, theta: null, screen: 1 },
};
const PRIORITY = ["gravity", "motion", "orientation"];
let sensorsStarted = false;

function wrap(deg) {
  let d = deg % 360;
  if (d > 180) d -= 360;
  if (d <= -180) d += 360;
  return d;
}

function vectorReading(src, y, z) {
  if (y == null || z == null || !Number.isFinite(y) || !Number.isFinite(z) || (y === 0 && z === 0)) return;
  src.theta = (Math.atan2(y, z) * 180) / Math.PI; // rotation about the phone's short axis
  src.screen = z >= 0 ? 1 : -1;
  src.at = Date.now();
}

function startSensors() {
  if (sensorsStarted) return;
  sensorsStarted = true;
  if ("GravitySensor" in window) {
    try {
      const sensor = new window.GravitySensor({ frequency: 10 });
      sensor.addEventListener("reading", () => vectorReading(sources.gravity, sensor.y, sensor.z));
      sensor.addEventListener("error", () => {
        sources.gravity.theta = null; // not allowed or not there: devicemotion takes over
      });
      sensor.start();
    } catch (err) {
      sources.gravity.theta = null;
    }
  }
  window.addEventListener("devicemotion", (event) => {
    const g = event.accelerationIncludingGravity;
    if (!g || g.y == null || g.z == null) return;
    const m = sources.motion;
    m.y = m.y == null ? g.y : m.y + MOTION_SMOOTHING * (g.y - m.y);
    m.z = m.z == null ? g.z : m.z + MOTION_SMOOTHING * (g.z - m.z);
    vectorReading(m, m.y, m.z);
  });
  window.addEventListener("deviceorientation", (event) => {
    if (event.beta == null) return;
    const o = sources.orientation;
    o.theta = event.beta; // top edge up is positive, as atan2(g_y, g_z)
    o.screen = Math.abs(event.beta) <= 90 ? 1 : -1;
    o.at = Date.now();
  });
}

// A source counts once it has given a reading. Chrome sends sensor readings only when they change
// (a phone lying still may send none for a long time), so silence does not mean the sensor is gone;
// a sensor that fails says so with an error, which clears its reading.
function liveSource() {
  return PRIORITY.find((name) => sources[name].theta != null) || null;
}

/** The calibrated angle (deg, head-down positive), or null without a fresh reading or a zero. */
function currentAngle() {
  const cal = state.rec ? state.rec.calibration : pendingCalibration;
  if (!cal) return null;
  const name = PRIORITY.find((n) => cal.zeros[n] != null && sources[n].theta != null);
  if (!name) return null;
  const zero = cal.zeros[name];
  const raw = wrap(sources[name].theta - zero.theta);
  // head-down tips the head end of the bed down: with the phone's top at the head end and the screen
  // up, that lowers the top edge, which makes atan2(g_y, g_z) (and beta) negative.
  const angle = -cal.top * zero.screen * raw;
  return Math.max(-90, Math.min(90, angle));
}

let pendingCalibration = null;

async function askMotionPermission() {
  // iOS asks once, and only from a tap; elsewhere these functions do not exist.
  for (const Kind of [window.DeviceMotionEvent, window.DeviceOrientationEvent]) {
    if (Kind && typeof Kind.requestPermission === "function") {
      try {
        const answer = await Kind.requestPermission();
        if (answer !== "granted") return false;
      } catch (err) {
        return false;
      }
    }
  }
  return true;
}

function topSign() {
  const checked = document.querySelector('input[name="top"]:checked');
  return checked && checked.value === "feet" ? -1 : 1;
}

async function calibrate() {
  unlockAudio();
  const allowed = await askMotionPermission();
  startSensors();
  if (!allowed) {
    $("tilt-status").textContent = "Tilt sensor: permission refused. Allow motion access in the browser settings.";
    return;
  }
  $("tilt-status").textContent = "Tilt sensor: reading…";
  const deadline = Date.now() + 3000;
  while (!liveSource() && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const zeros = {};
  for (const name of PRIORITY) {
    const src = sources[name];
    if (src.theta != null) zeros[name] = { theta: src.theta, screen: src.screen };
  }
  if (!Object.keys(zeros).length) {
    $("tilt-status").textContent =
      "Tilt sensor: no reading. This phone or browser gives no motion data; follow the times and the voice.";
    return;
  }
  pendingCalibration = { zeros, top: topSign(), at: Date.now() };
  if (state.rec) {
    state.rec.calibration = pendingCalibration;
    save();
  }
  const names = { gravity: "gravity sensor", motion: "motion sensor", orientation: "orientation sensor" };
  $("tilt-status").textContent = `Tilt sensor: zeroed (${names[liveSource()]}).`;
  speak("Zeroed. The bed is flat.");
  beep(660, 0.12);
}

// ---------------------------------------------------------------------------------- voice, beeps
function unlockAudio() {
  if (state.audio || !(window.AudioContext || window.webkitAudioContext)) return;
  try {
    state.audio = new (window.AudioContext || window.webkitAudioContext)();
  } catch (err) {
    state.audio = null;
  }
}

function beep(freq = 880, seconds = 0.15, volume = 0.2) {
  if (state.muted || !state.audio) return;
  try {
    const ctx = state.audio;
    if (ctx.state === "suspended") ctx.resume().catch(() => {});
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = freq;
    gain.gain.value = volume;
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + seconds);
  } catch (err) {
    /* no sound device: the screen still shows everything */
  }
}

function speak(text, urgent = false) {
  if (state.muted || !("speechSynthesis" in window)) return;
  try {
    if (urgent) window.speechSynthesis.cancel();
    const u = new SpeechSynthesisUtterance(text);
    u.rate = 0.95;
    window.speechSynthesis.speak(u);
  } catch (err) {
    /* speech is a help, not a requirement */
  }
}

function spoken(text) {
  return text
    .replace(/-90 deg/g, "standing")
    .replace(/(-?\d+(?:\.\d+)?) deg/g, "$1 degrees")
    .replace(/(\d+) s\b/g, "$1 seconds")
    .replace(/(\d+) min\b/g, "$1 minutes");
}

// -------------------------------------------------------------------------------------- wake lock
async function keepAwake() {
  if (!("wakeLock" in navigator) || state.wakeLock) return;
  try {
    state.wakeLock = await navigator.wakeLock.request("screen");
    state.wakeLock.addEventListener("release", () => {
      state.wakeLock = null;
    });
    $("total").dataset.awake = "yes";
  } catch (err) {
    $("total").dataset.awake = "no"; // battery saver or no permission: the screen may dim
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && ["run", "return", "rest", "restdone"].includes(state.phase)) {
    keepAwake();
  }
});

// ------------------------------------------------------------------------------------ heart rate
function recordHeartRate(bpm) {
  if (!state.rec || !Number.isFinite(bpm) || bpm < 20 || bpm > 250) return false;
  const t = elapsed();
  const trace = state.rec.heart_rate_trace;
  const last = trace.length ? trace[trace.length - 1][0] : -Infinity;
  if (t - last < 1) return true; // at most one sample a second
  trace.push([Math.max(t, last === -Infinity ? 0 : last), Math.round(bpm)]);
  save();
  return true;
}

function showHeartRate(bpm, how) {
  $("hr").textContent = `${bpm}`;
  $("hr-status").textContent = `${how}: ${bpm} beats per minute.`;
}

function onHeartRateValue(event) {
  try {
    const m = parseHeartRateMeasurement(event.target.value);
    if (m.contactDetected === false) {
      $("hr-status").textContent = "Strap connected, but it does not touch the skin: wet it and tighten it.";
      return;
    }
    showHeartRate(m.heartRateBpm, "Strap");
    state.strap = { bpm: m.heartRateBpm, at: Date.now() };
    recordHeartRate(m.heartRateBpm);
  } catch (err) {
    $("hr-status").textContent = `Strap sent an unreadable value (${err.message}).`;
  }
}

async function connectStrap() {
  unlockAudio();
  try {
    const device = await navigator.bluetooth.requestDevice({ filters: [{ services: [HEART_RATE_SERVICE] }] });
    $("hr-status").textContent = `Connecting to ${device.name || "the strap"}…`;
    device.addEventListener("gattserverdisconnected", () => {
      $("hr-status").textContent = "The strap disconnected. Connect it again, or type your pulse.";
    });
    const server = await device.gatt.connect();
    const service = await server.getPrimaryService(HEART_RATE_SERVICE);
    const characteristic = await service.getCharacteristic(HEART_RATE_MEASUREMENT);
    characteristic.addEventListener("characteristicvaluechanged", onHeartRateValue);
    await characteristic.startNotifications();
    $("hr-status").textContent = `Strap ${device.name || ""} connected: waiting for a beat…`;
    if (characteristic.properties.read) {
      // some straps answer a read at once; the answer arrives through the same handler
      characteristic.readValue().catch(() => {});
    }
  } catch (err) {
    const why = err && err.name === "NotFoundError" ? "no strap was chosen" : err.message || String(err);
    $("hr-status").textContent = `No strap connected (${why}). You can type your pulse during the session.`;
  }
}

// ---------------------------------------------------------------------------------------- record
function elapsed() {
  return state.rec ? Math.max(0, (Date.now() - state.rec.started_ms) / 1000) : 0;
}

function guide() {
  return state.rec ? state.rec.guide : DATA;
}

/** Persist the record (serialised: one write at a time, in order). */
function save() {
  if (!state.rec) return state.saving;
  state.rec.last_ms = Date.now();
  const snapshot = structuredClone(state.rec);
  state.saving = state.saving.then(() => outbox.put(snapshot)).catch(() => {
    setSync("Could not write to this phone's storage: keep this page open until it uploads.", "bad");
  });
  return state.saving;
}

function sampleAngle() {
  const angle = currentAngle();
  if (angle == null || !state.rec) return;
  const t = Math.round(elapsed() * 10) / 10;
  const trace = state.rec.angle_trace;
  const last = trace.length ? trace[trace.length - 1][0] : -1;
  if (Math.floor(t) <= Math.floor(last)) return; // 1 Hz
  trace.push([Math.max(t, last), Math.round(angle * 10) / 10]);
  save();
}

function newRecord() {
  const pain = $("pain-before").value;
  return {
    client_id: outbox.newClientId(),
    patient_id: DATA.patient_id,
    status: "recording",
    started_ms: Date.now(),
    last_ms: Date.now(),
    ended_ms: null,
    protocol: DATA.protocol,
    guide: {
      steps: DATA.steps,
      target_trace: DATA.target_trace,
      duration_s: DATA.duration_s,
      ceiling_angle_deg: DATA.ceiling_angle_deg,
      tolerance_deg: DATA.tolerance_deg,
      near_flat_deg: DATA.near_flat_deg,
      return_rest_s: DATA.return_rest_s,
    },
    calibration: pendingCalibration,
    phase: "run",
    phase_ms: Date.now(),
    angle_trace: [],
    heart_rate_trace: [],
    symptoms: [],
    symptom_events: [],
    pain_before: pain === "" ? null : Number(pain),
    pain_after: null,
    notes: "",
    interrupted: "",
  };
}

// ---------------------------------------------------------------------------------------- phases
function show(phase) {
  state.phase = phase;
  if (state.rec) state.rec.phase = phase;
  $("plan").hidden = phase !== "prepare";
  $("prepare").hidden = phase !== "prepare";
  $("live").hidden = !["run", "return", "rest", "restdone"].includes(phase);
  $("return").hidden = !["return", "rest", "restdone"].includes(phase);
  $("finish").hidden = phase !== "finish";
  $("saved").hidden = phase !== "saved";
  document.body.classList.toggle("guided-live", ["run", "return", "rest", "restdone"].includes(phase));
}

function enterPhase(phase) {
  if (state.rec) state.rec.phase_ms = Date.now();
  show(phase);
  save();
}

async function startSession() {
  unlockAudio();
  startSensors();
  if (!pendingCalibration) {
    $("start-hint").textContent = "Zero the angle first (bed flat, press “Zero here”).";
    $("start-hint").classList.add("error");
    $("calibrate").focus();
    return;
  }
  state.rec = newRecord();
  state.lastStep = -1;
  if (state.strap && Date.now() - state.strap.at < STRAP_FRESH_MS) {
    state.rec.heart_rate_trace.push([0, Math.round(state.strap.bpm)]); // the pulse as the session starts
  }
  await save();
  keepAwake();
  enterPhase("run");
  setSync("Recording: kept on this phone as you go.", "");
}

function stepAt(t) {
  const steps = guide().steps;
  for (const step of steps) {
    if (t >= step.start_s && t < step.end_s) return step;
  }
  return null;
}

function plannedAngle(t) {
  const trace = guide().target_trace;
  if (!trace.length) return null;
  const i = Math.floor(t);
  if (i >= trace.length - 1) return trace[trace.length - 1];
  return trace[i] + (trace[i + 1] - trace[i]) * (t - i);
}

function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function degrees(value) {
  return value == null ? "–" : `${Math.round(value)}°`;
}

function setBoard(nowText, countdown, target, actual, nextText) {
  $("now-text").textContent = nowText;
  $("countdown").textContent = countdown;
  $("target").textContent = target;
  $("actual").textContent = actual;
  $("next-text").textContent = nextText;
  $("dup-countdown").textContent = countdown;
  $("dup-target").textContent = target;
  $("dup-actual").textContent = actual;
}

function warn(key, text) {
  const box = $("warning");
  if (!key) {
    if (state.warnKey) {
      box.hidden = true;
      box.textContent = "";
      box.className = "warn";
      state.warnKey = "";
    }
    return;
  }
  const now = Date.now();
  if (key !== state.warnKey || now - state.warnAt > WARN_REPEAT_MS) {
    state.warnAt = now;
    speak(text, true);
    beep(key === "ceiling" ? 1200 : 990, 0.4, 0.3);
  }
  state.warnKey = key;
  box.hidden = false;
  box.textContent = text;
  box.className = `warn ${key === "ceiling" ? "danger" : ""}`;
}

function checkLimits(angle, top) {
  const g = guide();
  if (angle == null) return warn("", "");
  if (angle > g.ceiling_angle_deg + 1) {
    return warn(
      "ceiling",
      `Past your ceiling: ${Math.round(angle)}° is steeper than ${Math.round(g.ceiling_angle_deg)}°. Come back toward flat now.`,
    );
  }
  // only the head-down direction is a risk: lying flat while the plan says "stand" is not warned
  const limit = Math.max(top == null ? 0 : top, 0);
  if (angle > limit + g.tolerance_deg) {
    return warn("target", `Past the target: ${Math.round(angle)}° instead of ${Math.round(limit)}°. Ease back.`);
  }
  return warn("", "");
}

function runTick() {
  const t = elapsed();
  const g = guide();
  const angle = currentAngle();
  if (t >= g.duration_s) {
    speak("The session is over. Take your time before you get off.");
    beep(660, 0.3);
    warn("", "");
    enterPhase("finish");
    state.rec.ended_ms = Date.now();
    save();
    $("pain-after").focus();
    return;
  }
  const step = stepAt(t);
  if (!step) return;
  if (step.index !== state.lastStep) {
    state.lastStep = step.index;
    speak(spoken(step.text));
    beep(880, 0.2);
  }
  const left = step.end_s - t;
  const second = Math.ceil(left);
  if (second <= 3 && second >= 1 && second !== state.lastBeepSecond) {
    state.lastBeepSecond = second;
    beep(second === 1 ? 990 : 740, 0.08);
  }
  const next = g.steps[step.index + 1];
  const target = step.kind === "oscillate" ? plannedAngle(t) : step.to_deg;
  setBoard(step.text, clock(left), degrees(target), degrees(angle), next ? next.text : "the end: rest, then get off slowly");
  $("total").textContent = `Session: ${clock(t)} of ${clock(g.duration_s)}.${
    $("total").dataset.awake === "no" ? " The screen may dim: tap it now and then." : ""
  }`;
  checkLimits(angle, step.top_deg);
}

function startReturn(reason) {
  state.rec.interrupted = reason;
  state.flatSince = null;
  enterPhase("return");
  const text = "Bring the table back to flat now, slowly. Then rest lying flat.";
  $("return-text").textContent = text;
  speak(text, true);
  beep(990, 0.3, 0.3);
  $("flat-now").hidden = false;
  $("rest-done").hidden = true;
}

function returnTick() {
  const g = guide();
  const angle = currentAngle();
  const near = angle != null && Math.abs(angle) <= g.near_flat_deg;
  setBoard("Come back to flat", clock(g.return_rest_s), "0°", degrees(angle), `rest ${clock(g.return_rest_s)} lying flat`);
  $("total").textContent = `Stopped early (${state.rec.interrupted}). Then rest before you get off.`;
  if (angle != null && angle > g.ceiling_angle_deg + 1) {
    warn("ceiling", `Past your ceiling: ${Math.round(angle)}°. Come back toward flat now.`);
  } else {
    warn("", "");
  }
  if (near) {
    state.flatSince = state.flatSince || Date.now();
    if (Date.now() - state.flatSince >= FLAT_CONFIRM_S * 1000) beginRest();
  } else {
    state.flatSince = null;
  }
}

function beginRest() {
  enterPhase("rest");
  state.rec.rest_ms = Date.now();
  $("flat-now").hidden = true;
  const text = `Good. Stay lying flat for ${Math.round(guide().return_rest_s / 60)} minutes before you get off.`;
  $("return-text").textContent = text;
  speak(text, true);
  save();
}

function restTick() {
  const g = guide();
  const angle = currentAngle();
  const left = g.return_rest_s - (Date.now() - state.rec.rest_ms) / 1000;
  setBoard("Rest lying flat", clock(left), "0°", degrees(angle), "rise slowly, then get off");
  if (angle != null && Math.abs(angle) > g.near_flat_deg) {
    warn("flat", `Stay flat: the bed is at ${Math.round(angle)}°.`);
  } else {
    warn("", "");
  }
  if (left <= 0) {
    enterPhase("restdone");
    const text = "Rest done. Rise slowly to standing, hold on, and get off when you feel steady.";
    $("return-text").textContent = text;
    speak(text, true);
    beep(660, 0.3);
    $("rest-done").hidden = false;
    $("rest-done").focus();
  }
}

function onSymptom(event) {
  const symptom = event.currentTarget.dataset.symptom;
  if (!state.rec) return;
  const t = Math.round(elapsed());
  const angle = currentAngle();
  state.rec.symptoms.push(symptom);
  state.rec.symptom_events.push({ symptom, t, angle: angle == null ? null : Math.round(angle * 10) / 10 });
  event.currentTarget.classList.add("pressed");
  event.currentTarget.setAttribute("aria-pressed", "true");
  save();
  if (state.phase === "run") startReturn(`${symptom.replace("_", " ")} at ${clock(t)}`);
}

function goFinish() {
  if (!state.rec.ended_ms) state.rec.ended_ms = Date.now();
  warn("", "");
  enterPhase("finish");
  $("pain-after").focus();
}

async function finishSession(event) {
  event.preventDefault();
  const pain = $("pain-after").value;
  state.rec.pain_after = pain === "" ? null : Number(pain);
  state.rec.notes = $("notes").value.slice(0, 4000);
  state.rec.ended_ms = state.rec.ended_ms || Date.now();
  state.rec.status = "finished";
  await save();
  if (state.wakeLock) state.wakeLock.release().catch(() => {});
  show("saved");
  setSync("Saved on this phone. Uploading…", "");
  await sync();
}

// -------------------------------------------------------------------------------------- syncing
function setSync(text, kind) {
  const line = $("sync");
  line.textContent = text;
  line.className = `sync ${kind || ""}`;
}

async function sync() {
  let summary;
  try {
    summary = await outbox.flush(DATA.patient_id, DATA.upload_url);
  } catch (err) {
    setSync("Saved on this phone. Could not read the phone's storage to upload it yet.", "bad");
    return;
  }
  const parts = [];
  if (summary.rejected) {
    parts.push(`${summary.rejected} session(s) refused by the server (${summary.message}); they stay on this phone.`);
  }
  if (summary.pending) {
    const why = summary.message ? ` (${summary.message})` : "";
    parts.push(
      `${summary.pending} session(s) saved on this phone, not uploaded yet${why}. They upload by themselves when you are online.`,
    );
  }
  if (summary.uploaded && !summary.pending) parts.unshift("Uploaded: your session is in your record.");
  if (!parts.length && state.phase === "saved") parts.push("Uploaded: your session is in your record.");
  if (parts.length) setSync(parts.join(" "), summary.rejected ? "bad" : summary.pending ? "pending" : "ok");
}

// --------------------------------------------------------------------------------------- resume
async function offerResume() {
  let rows = [];
  try {
    rows = await outbox.forPatient(DATA.patient_id);
  } catch (err) {
    setSync("This browser keeps no storage for this site (private mode?): keep the page open until it uploads.", "bad");
    return;
  }
  const open = rows.filter((r) => r.status === "recording");
  const pending = rows.filter((r) => r.status === "finished");
  if (pending.length) setSync(`${pending.length} session(s) saved on this phone, not uploaded yet. Trying now…`, "pending");
  if (open.length) {
    const rec = open[open.length - 1];
    const started = new Date(rec.started_ms);
    $("resume-text").textContent =
      `Started ${started.toLocaleString()}, last recorded ${Math.round((Date.now() - rec.last_ms) / 60000)} min ago, ` +
      `${rec.angle_trace.length} angle readings. Resume it, or finish it and save it as it is.`;
    $("resume").hidden = false;
    $("resume-go").onclick = () => resume(rec);
    $("resume-finish").onclick = () => finishOld(rec);
  }
}

async function resume(rec) {
  unlockAudio();
  await askMotionPermission();
  startSensors();
  state.rec = rec;
  pendingCalibration = rec.calibration;
  state.lastStep = -1;
  $("resume").hidden = true;
  keepAwake();
  const phase = rec.phase === "finish" ? "finish" : rec.phase || "run";
  if (phase === "return") {
    startReturn(rec.interrupted || "resumed");
  } else {
    enterPhase(phase);
  }
  for (const s of rec.symptoms) {
    const button = document.querySelector(`[data-symptom="${s}"]`);
    if (button) button.classList.add("pressed");
  }
  setSync("Recording again: kept on this phone as you go.", "");
}

function finishOld(rec) {
  state.rec = rec;
  rec.ended_ms = rec.ended_ms || rec.last_ms;
  if (!rec.interrupted && elapsed() < rec.guide.duration_s) rec.interrupted = "the page was closed before the end";
  $("resume").hidden = true;
  show("finish");
  save();
  $("pain-after").focus();
}

// ---------------------------------------------------------------------------------------- wiring
function tick() {
  const angle = currentAngle();
  // whole degrees: Chrome rounds sensor readings (0.1 m/s2), so a tenth of a degree would be noise
  $("preview-angle").textContent = degrees(angle);
  if (!state.rec) return;
  if (["run", "return", "rest", "restdone"].includes(state.phase)) sampleAngle();
  if (state.phase === "run") runTick();
  else if (state.phase === "return") returnTick();
  else if (state.phase === "rest") restTick();
  else if (state.phase === "restdone") {
    setBoard("Rise slowly, then get off", "0:00", "–", degrees(angle), "the last questions");
  }
}

function init() {
  if ("bluetooth" in navigator) $("hr-connect").hidden = false;
  else $("hr-status").textContent = "This browser has no Bluetooth: type your pulse during the session.";
  $("hr-connect").addEventListener("click", connectStrap);
  $("calibrate").addEventListener("click", calibrate);
  $("start").addEventListener("click", startSession);
  $("flat-now").addEventListener("click", beginRest);
  $("rest-done").addEventListener("click", goFinish);
  $("finish-form").addEventListener("submit", finishSession);
  $("flip").addEventListener("click", (e) => {
    const on = $("board").classList.toggle("flipped");
    e.currentTarget.setAttribute("aria-pressed", String(on));
  });
  $("mute").addEventListener("click", (e) => {
    state.muted = !state.muted;
    e.currentTarget.setAttribute("aria-pressed", String(state.muted));
    if (state.muted && "speechSynthesis" in window) window.speechSynthesis.cancel();
  });
  for (const button of document.querySelectorAll("[data-symptom]")) {
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", onSymptom);
  }
  $("hr-manual").addEventListener("submit", (event) => {
    event.preventDefault();
    const bpm = Number($("hr-input").value);
    if (!Number.isInteger(bpm) || bpm < 20 || bpm > 250) {
      $("hr-error").hidden = false;
      $("hr-error").textContent = "Type a pulse between 20 and 250 beats per minute.";
      $("hr-input").setAttribute("aria-invalid", "true");
      return;
    }
    $("hr-error").hidden = true;
    $("hr-input").removeAttribute("aria-invalid");
    recordHeartRate(bpm);
    showHeartRate(bpm, "Typed");
    $("hr-input").value = "";
  });
  // Browsers that need no permission start reading at once, so the preview moves before the tap.
  if (!(window.DeviceMotionEvent && typeof window.DeviceMotionEvent.requestPermission === "function")) startSensors();
  window.addEventListener("online", sync);
  setInterval(tick, TICK_MS);
  setInterval(() => {
    if (navigator.onLine) sync();
  }, UPLOAD_RETRY_MS);
  show("prepare");
  offerResume().then(sync);
}

init();
