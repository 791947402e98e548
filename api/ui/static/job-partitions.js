// The key ranges of a partitioned run (SPEC §15), as the run's status lists them: the job page's
// "Partitions" card, updated in place on every poll, and the short forms other tables show.
import { card, dash, fill, h } from "./dom.js";
import { number, stateBadge } from "./format.js";
import { progressBar } from "./ui.js";

const RANGE_STATES = ["running", "queued", "done", "error", "aborted"];

/** The ranges of a run's status, or null when the run is not partitioned (or not planned yet). */
export function rangesOf(status) {
  return status && Array.isArray(status.partitions) && status.partitions.length ? status.partitions : null;
}

/** "×4" beside a run or an ingestion split in 4 key ranges; null when it is not split. */
export function partitionsMark(n, { what = "key ranges" } = {}) {
  if (!n || n <= 1) return null;
  return h("span.badge.partitions-mark", { title: `partitioned: ${n} ${what}`, dataset: { partitions: String(n) } }, `×${n}`);
}

/** The workers executing ranges of the run now, other than the run's own (its coordinator). */
export function otherWorkers(status) {
  const ranges = rangesOf(status) || [];
  const names = new Set(ranges.filter((p) => p.state === "running" && p.worker).map((p) => p.worker));
  names.delete(status.worker);
  return [...names].sort();
}

/** A worker cell: the run's worker, and "+N" for the other workers executing its ranges (named on hover). */
export function workersCell(status) {
  if (!status.worker) return dash();
  const others = otherWorkers(status);
  return h(
    "span.workers",
    h("span.mono.small", status.worker),
    others.length ? h("span.muted.small.more-workers", { title: `also running its ranges:\n${others.join("\n")}` }, ` +${others.length}`) : null,
  );
}

/** "2 done · 1 running · 1 queued": the ranges counted by state, in the order a reader looks for. */
export function rangesSummary(ranges) {
  const counts = new Map();
  for (const p of ranges) counts.set(p.state, (counts.get(p.state) || 0) + 1);
  const order = [...RANGE_STATES, ...[...counts.keys()].filter((s) => !RANGE_STATES.includes(s))];
  return order.filter((s) => counts.has(s)).map((s) => `${counts.get(s)} ${s}`).join(" · ");
}

/**
 * The "Partitions" card: one row per key range (k, state, a bar and the rows read of its total,
 * documents, rejected rows, deleted documents when any, worker) and a failed range's messages under it.
 * `update(status)` follows the run; the card is hidden while the status has no ranges.
 */
export function partitionsCard() {
  const summary = h("p.partitions-summary");
  const body = h("div");
  const el = card("Partitions", summary, body);
  el.classList.add("partitions-card");
  el.hidden = true;
  let shape = "";
  let rows = new Map();

  const update = (status) => {
    const ranges = rangesOf(status);
    el.hidden = !ranges;
    if (!ranges) {
      shape = "";
      fill(body);
      return;
    }
    fill(
      summary,
      h("strong", `${ranges.length} key range${ranges.length === 1 ? "" : "s"}`),
      " in key order, executed by any workers: ",
      h("span", { dataset: { ranges: "" } }, rangesSummary(ranges)),
      ".",
    );
    const withDeleted = ranges.some((p) => p.deleted);
    // The rows are rebuilt when the run or its ranges change, else updated in place (bars move smoothly).
    const key = `${status.run_id}|${ranges.map((p) => p.k).join(",")}|${withDeleted}`;
    if (key !== shape) {
      shape = key;
      rows = new Map(ranges.map((p) => [p.k, rangeRow(p.k, ranges.length, { withDeleted })]));
      fill(body, h("div.table-wrap", h("table.partitions.compact", tableHead(withDeleted), h("tbody", [...rows.values()].map((r) => r.trs)))));
    }
    for (const p of ranges) rows.get(p.k).update(p);
  };
  return { el, update };
}

function tableHead(withDeleted) {
  const th = (label, className = "", title = null) => h("th", { class: className, title }, label);
  return h(
    "thead",
    h(
      "tr",
      th("k", "num", "The range's number in key order, from 0, as the run's messages name it"),
      th("State"),
      th("Progress"),
      th("Rows read", "num", "Rows read, of the rows the range held when the run was planned"),
      th("Documents", "num"),
      th("Rejected", "num"),
      withDeleted ? th("Deleted", "num") : null,
      th("Worker"),
    ),
  );
}

function rangeRow(k, n, { withDeleted }) {
  const cell = (name, className = "") => h("td", { class: className, dataset: { col: name } });
  const cells = {
    k: cell("k", "num mono"),
    state: cell("state"),
    progress: cell("progress", "range-progress"),
    read: cell("read", "num"),
    count: cell("count", "num"),
    rejected: cell("rejected", "num"),
    deleted: withDeleted ? cell("deleted", "num") : null,
    worker: cell("worker"),
  };
  const bar = progressBar(0);
  cells.progress.append(bar);
  cells.k.textContent = String(k);
  cells.k.title = `range ${k + 1} of ${n}`;
  const tr = h("tr", { dataset: { k: String(k) } }, Object.values(cells));
  const messages = h("td", { colSpan: Object.values(cells).filter(Boolean).length });
  const errorTr = h("tr.range-errors", { dataset: { errorsOf: String(k) } }, messages);
  errorTr.hidden = true;
  return {
    trs: [tr, errorTr],
    update(p) {
      tr.dataset.state = p.state;
      fill(cells.state, stateBadge(p.state));
      bar.update(readFraction(p));
      bar.dataset.state = p.state;
      fill(cells.read, number(p.rows_read || 0), p.total ? h("span.muted", " / ", number(p.total)) : null);
      fill(cells.count, number(p.count));
      cells.count.dataset.count = String(p.count);
      fill(cells.rejected, p.error_count ? h("span.warn", number(p.error_count)) : "0");
      if (cells.deleted) fill(cells.deleted, number(p.deleted || 0));
      fill(cells.worker, p.worker ? h("span.mono.small", p.worker) : dash());
      const lines = Array.isArray(p.error) ? p.error : [];
      errorTr.hidden = !lines.length;
      fill(messages, lines.length ? h("ol.error-list", lines.map((m) => h("li", h("pre.error-msg", m)))) : null);
    },
  };
}

/** How far a range got: rows read of its planned rows; null (a striped bar) while running with no total. */
function readFraction(p) {
  if (p.state === "done") return 1;
  if (p.total) return Math.min(1, (p.rows_read || 0) / p.total);
  return p.state === "running" ? null : 0;
}
