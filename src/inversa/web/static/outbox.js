// The phone's outbox for guided sessions: every session lives in IndexedDB from its first second
// until the server has confirmed it, so a reload, a lost connection or a closed tab loses nothing.
//
// One record per session, keyed by its client_id (made once, when the session starts). The record
// is rewritten as samples arrive (about once a second). Uploading posts the store's SessionRecord
// to the idempotent API: the same client_id sent twice is stored once (201, then 200), so retrying
// after a timeout whose answer was lost is always safe.
//
// Record states: "recording" (the session is running or was interrupted), "finished" (waiting to
// upload), "uploaded" (the server has it; kept a week for the sync line, then pruned) and
// "rejected" (the server refused it: kept, with the reason, never deleted by this code).

const DB_NAME = "inversa-guided";
const DB_VERSION = 1;
const STORE = "sessions";
const KEEP_UPLOADED_MS = 7 * 24 * 3600 * 1000;
const MAX_NOTES = 5000;

let dbPromise = null;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/** The database, opened once (and created on first use). */
export function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains(STORE)) {
          const store = db.createObjectStore(STORE, { keyPath: "client_id" });
          store.createIndex("patient_id", "patient_id");
        }
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  return dbPromise;
}

async function tx(mode, fn) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    let result;
    Promise.resolve(fn(t.objectStore(STORE))).then((r) => {
      result = r;
    }, reject);
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

/** A new client id: unique per session, within the API's pattern [A-Za-z0-9_.:-]{8,64}. */
export function newClientId() {
  const random =
    crypto.randomUUID ? crypto.randomUUID() : Array.from(crypto.getRandomValues(new Uint32Array(4))).join("-");
  return `guided-${random}`;
}

/** Save (insert or replace) a session record; resolves once it is durable in IndexedDB. */
export function put(record) {
  record.updated_ms = Date.now();
  return tx("readwrite", (store) => request(store.put(record)));
}

export function get(clientId) {
  return tx("readonly", (store) => request(store.get(clientId)));
}

/** Every record of one patient (the phone may be shared), oldest first. */
export async function forPatient(patientId) {
  const rows = await tx("readonly", (store) => request(store.index("patient_id").getAll(patientId)));
  return rows.sort((a, b) => a.started_ms - b.started_ms);
}

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The body the API takes (the store's SessionRecord). Symptom times go into the notes, because
 * the record keeps symptoms as a plain list. */
export function payload(record) {
  const endedMs = record.ended_ms || record.last_ms || record.started_ms;
  const lines = [];
  if (record.notes) lines.push(record.notes);
  if (record.symptom_events && record.symptom_events.length) {
    const parts = record.symptom_events.map(
      (e) => `${e.symptom.replace("_", " ")} at ${clock(e.t)}${e.angle == null ? "" : ` (${e.angle.toFixed(0)} deg)`}`,
    );
    lines.push(`Symptoms: ${parts.join("; ")}.`);
  }
  if (record.interrupted) lines.push(`Stopped early: ${record.interrupted}.`);
  let notes = lines.join("\n");
  if (notes.length > MAX_NOTES) notes = notes.slice(0, MAX_NOTES);
  return {
    client_id: record.client_id,
    started_at: new Date(record.started_ms).toISOString(),
    ended_at: new Date(Math.max(endedMs, record.started_ms)).toISOString(),
    planned_protocol: record.protocol || "",
    angle_trace: record.angle_trace,
    heart_rate_trace: record.heart_rate_trace,
    symptoms: Array.from(new Set(record.symptoms)),
    pain_before: record.pain_before,
    pain_after: record.pain_after,
    notes,
  };
}

function problem(body, status) {
  const detail = body && body.detail;
  if (Array.isArray(detail) && detail.length) {
    const first = detail[0];
    const where = (first.loc || []).filter((p) => p !== "body").join(".");
    return `${where ? where + ": " : ""}${first.msg}`;
  }
  if (typeof detail === "string") return detail;
  return `the server answered ${status}`;
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

/**
 * Send one finished record. Resolves to {state, message}: "uploaded" (stored now or before),
 * "pending" (offline, server busy, or signed out: try again later) or "rejected" (the server
 * refused this record; the message names the field).
 */
export async function upload(record, url) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(payload(record)),
    });
  } catch (err) {
    return { state: "pending", message: "no connection" };
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (response.status === 200 || response.status === 201) {
    record.status = "uploaded";
    record.server_id = body && body.id;
    record.uploaded_ms = Date.now();
    record.error = "";
    await put(record);
    return { state: "uploaded", message: "" };
  }
  if (response.status === 401 || response.status === 403) {
    return { state: "pending", message: "sign in again to upload it" };
  }
  if (response.status >= 500 || response.status === 429 || response.status === 408) {
    return { state: "pending", message: "the server is busy" };
  }
  record.status = "rejected";
  record.error = problem(body, response.status);
  await put(record);
  return { state: "rejected", message: record.error };
}

let flushing = null;

/**
 * Upload every finished record of this patient, one at a time; never two flushes at once (a
 * second call waits for the first). Resolves to a summary {uploaded, pending, rejected, message}.
 */
export function flush(patientId, url) {
  if (flushing) return flushing;
  flushing = (async () => {
    const summary = { uploaded: 0, pending: 0, rejected: 0, message: "" };
    try {
      const rows = await forPatient(patientId);
      for (const row of rows) {
        if (row.status === "uploaded" && Date.now() - (row.uploaded_ms || 0) > KEEP_UPLOADED_MS) {
          await tx("readwrite", (store) => request(store.delete(row.client_id)));
          continue;
        }
        if (row.status !== "finished") continue;
        const result = await upload(row, url);
        summary[result.state] += 1;
        if (result.message) summary.message = result.message;
        if (result.state === "pending") break; // offline: the others would fail the same way
      }
      const after = await forPatient(patientId);
      summary.pending = after.filter((r) => r.status === "finished").length;
      summary.rejected = after.filter((r) => r.status === "rejected").length;
      summary.recording = after.filter((r) => r.status === "recording").length;
    } finally {
      flushing = null;
    }
    return summary;
  })();
  return flushing;
}
