// Presentation of values: numbers, times (browser zone, UTC on hover), durations, states.
import { dash, h } from "./dom.js";

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

export const STATES = ["queued", "running", "aborting", "aborted", "error", "successful", "skipped"];
export const ACTIVE_STATES = new Set(["queued", "running", "aborting"]);

export function number(value) {
  return value === null || value === undefined ? dash() : integer.format(value);
}

export function pct(fraction) {
  return percent.format(fraction);
}

/** docs/s with one decimal below 100, none above. */
export function rate(perSecond) {
  if (perSecond === null || perSecond === undefined || !isFinite(perSecond)) return dash();
  return `${perSecond < 100 ? decimal.format(perSecond) : integer.format(perSecond)} docs/s`;
}

function toDate(value) {
  if (value === null || value === undefined || value === "") return null;
  const date = typeof value === "number" ? new Date(value) : new Date(String(value));
  return isNaN(date.getTime()) ? null : date;
}

/** A <time> in the browser's zone, with the UTC instant on hover. */
export function time(value, { short = false } = {}) {
  const date = toDate(value);
  if (!date) return dash();
  const iso = date.toISOString();
  const sameDay = new Date().toDateString() === date.toDateString();
  const text = short && sameDay ? timeOnly.format(date) : dateTime.format(date);
  return h("time", { datetime: iso, title: `${iso.slice(0, 19).replace("T", " ")} UTC` }, text);
}

/** "2 h 5 min", "3 min 10 s", "4.2 s", "120 ms". */
export function duration(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return "—";
  ms = Math.max(0, ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${decimal.format(s)} s`;
  const total = Math.round(s);
  const d = Math.floor(total / 86400);
  const hr = Math.floor((total % 86400) / 3600);
  const min = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (d) return `${d} d ${hr} h`;
  if (hr) return `${hr} h ${min} min`;
  return `${min} min ${sec} s`;
}

/** How long ago an instant was, e.g. for heartbeats. */
export function ago(ms) {
  const date = toDate(ms);
  return date ? `${duration(Date.now() - date.getTime())} ago` : "—";
}

export function stateBadge(state) {
  if (!state) return dash();
  return h("span.badge", { class: `state-${state}`, dataset: { state } }, state);
}

export function yesNo(value) {
  return h("span.badge", { class: value ? "yes" : "no" }, value ? "yes" : "no");
}

/** Shorten a run id (<job id><uuid>) to its uuid's first block, keeping the whole on hover. */
export function shortRun(runId, jobId) {
  const uuid = jobId && runId.startsWith(jobId) ? runId.slice(jobId.length) : runId;
  return h("span.mono", { title: runId }, uuid.slice(0, 8));
}

/** A compact display of a JSON value in a table cell. */
export function cellValue(value) {
  if (value === null || value === undefined) return h("span.muted", "null");
  if (typeof value === "object") return h("span.mono", JSON.stringify(value));
  if (typeof value === "number") return h("span.num", String(value));
  return String(value);
}

/** Whether every non-null value of a column is a number (its cells are then right-aligned). */
export function numericColumn(rows, get) {
  let seen = false;
  for (const row of rows) {
    const value = get(row);
    if (value === null || value === undefined) continue;
    if (typeof value !== "number") return false;
    seen = true;
  }
  return seen;
}
