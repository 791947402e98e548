// One job: its current or last run (or one run of its history), live while active;
// Run, Resume, Abort; the run history; the rejected-rows report.
import { ApiError, callAllowing, can, fetchText, gate, get, ingestionPath, jobPath, post, runPath } from "./api.js";
import { card, dash, fields, fill, h, json, table } from "./dom.js";
import { ACTIVE_STATES, ago, cellValue, duration, number, pct, rate, shortRun, stateBadge, time, yesNo } from "./format.js";
import { partitionsCard, partitionsMark, rangesOf, rangesSummary, workersCell } from "./job-partitions.js";
import { RateTracker, remainingMs } from "./live.js";
import { actionButton, confirmDialog, flash, pageHeader, pager, progressBar, runFraction, saveText } from "./ui.js";

const ACTIVE_POLL_MS = 1000;
const IDLE_POLL_MS = 5000;
const HISTORY_SIZE = 10;
const REPORT_VIEW_LINES = 500;

export async function jobPage(ctx) {
  const [jobId, runId] = ctx.params;
  const jobHref = `#/jobs/ingestion/${encodeURIComponent(jobId)}`;
  const state = { status: null, historyFrom: 0 };

  const badge = h("span.title-badge");
  const actions = h("div.actions");
  const banner = h("div");
  const live = h("div");
  const errors = h("div");
  const partitions = partitionsCard();
  const statusBox = h("div", h("p.muted.loading", "Loading…"));
  const report = h("div", h("p.muted.loading", "Loading…"));
  const history = h("div", h("p.muted.loading", "Loading…"));
  const header = pageHeader(h("span", "Job ", h("span.mono", jobId), " ", badge), {
    crumbs: [["Jobs", "#/jobs"]],
    actions: [actions],
    subtitle: can("admin") ? h("a", { href: `#/ingestions/${encodeURIComponent(jobId)}` }, "Ingestion definition ›") : null,
  });
  fill(
    ctx.main,
    header,
    banner,
    live,
    errors,
    partitions.el,
    h("div.columns.job-columns", card("Status", statusBox), h("div", card("Rejected rows", report), card("Run history", history))),
  );

  const tracker = new RateTracker();
  let asking = null; // the Abort question while it is open
  let poller = null; // the status polling, once the first load is done
  const progress = progressBar(null);
  const liveFigures = h("div.live-figures");
  let lastKey = "";

  const load = async () => {
    let status;
    if (runId) {
      status = (await get(runPath(jobId, runId))).status;
    } else {
      const { status: code, body } = await callAllowing([404], "GET", jobPath(jobId));
      status = code === 404 ? null : body.status;
    }
    if (!ctx.alive()) return;
    state.status = status;
    render(status);
    const key = status ? `${status.run_id}:${status.state}:${status.error_count}` : "none";
    if (key !== lastKey) {
      lastKey = key;
      await renderHistory();
      renderReport(status);
    }
  };

  const render = (status) => {
    if (asking && !(status && ACTIVE_STATES.has(status.state))) {
      asking.cancel(); // nothing left to abort: the question would only earn a 409
      flash(`The run of ${jobId} has ended (${status ? status.state : "gone"}): nothing left to abort.`, "info");
    }
    fill(badge, status ? stateBadge(status.state) : h("span.badge.state-none", "never ran"));
    fill(actions, buttons(status));
    fill(
      banner,
      runId
        ? h("div.notice", "You are looking at one run of this job's history. ", h("a", { href: jobHref }, "Show the current run."))
        : null,
      !status ? h("div.notice", "This job never ran. Run it to load its target index.") : null,
    );
    if (status && ACTIVE_STATES.has(status.state)) {
      const docsPerSecond = tracker.observe(status);
      const fraction = runFraction(status);
      progress.update(status.state === "queued" ? null : fraction, status.state === "queued" ? "waiting for a worker" : fraction === null ? "size unknown" : null);
      const left = status.state === "running" ? remainingMs(status, docsPerSecond) : null;
      const ranges = rangesOf(status);
      fill(
        liveFigures,
        figure("Documents", [number(status.count), status.total ? h("span.muted", " of ~", number(status.total)) : null], "count"),
        figure("Rate", status.state === "running" ? rate(docsPerSecond) : dash(), "rate"),
        status.deleted ? figure("Deleted", number(status.deleted), "deleted") : null,
        figure("Time left", left ? `${left.estimated ? "~" : ""}${duration(left.ms)}` : dash(), "eta", status.eta ? `ETA ${status.eta} (UTC)` : null),
        ranges ? figure("Key ranges", rangesSummary(ranges), "ranges") : null,
        figure("Worker", workersCell(status), "worker"),
        figure("Heartbeat", status.heartbeat ? ago(status.heartbeat) : dash(), "heartbeat"),
      );
      if (!live.firstChild) fill(live, card(null, h("div.live", progress, liveFigures)));
    } else {
      fill(live);
    }
    fill(errors, status && status.error && status.error.length ? errorPanel(status.error) : null);
    partitions.update(status);
    fill(statusBox, status ? statusFields(status) : h("p.empty-state", "No status: the job never ran."));
  };

  const buttons = (status) => {
    const active = status && ACTIVE_STATES.has(status.state);
    const resumable = status && ["error", "aborted"].includes(status.state);
    const run = actionButton("Run", () => start(false), { className: "primary" });
    const resume = actionButton("Resume", () => start(true), {
      title: "Continue the last failed or aborted run from its checkpoint (needs pk_field)",
    });
    const abort = actionButton("Abort", abortRun, { className: "danger" });
    run.disabled = Boolean(active);
    resume.disabled = !resumable || Boolean(active);
    if (resumable && status.resumable === false && can("job:write")) {
      resume.title = "This run has no checkpoint to continue from: a resume would start it over (Run does the same)";
    }
    abort.disabled = !active;
    if (run.disabled && can("job:write")) run.title = "A run is queued or running";
    if (abort.disabled && can("job:write")) abort.title = "No run is queued or running";
    return [gate(run, "job:write"), gate(resume, "job:write"), gate(abort, "job:write")];
  };

  const start = async (resume) => {
    try {
      await post(`${ingestionPath(jobId)}/_run`, {}, resume ? { resume: "true" } : null);
      flash(resume ? `Resuming ${jobId}.` : `Run of ${jobId} queued.`, "success", { keep: Boolean(runId) });
      if (runId) ctx.navigate(`jobs/ingestion/${encodeURIComponent(jobId)}`);
      else {
        await load(); // the buttons show the queued run before they can be pressed again
        if (poller) poller.wake(); // and the page follows it at the active pace from now on
      }
    } catch (ex) {
      if (!(ex instanceof ApiError)) throw ex;
      flash(ex.readable, "error", { requestId: ex.requestId });
      await load();
    }
  };

  ctx.onLeave(() => asking && asking.cancel()); // a page left by any way takes its question with it
  const abortRun = async () => {
    asking = confirmDialog({
      title: `Abort the run of ${jobId}?`,
      body:
        "The worker stops before its next batch. Documents already indexed by an INCREMENTAL run stay; " +
        "a REPLACE run leaves its target untouched.",
      confirm: "Abort run",
    });
    const ok = await asking;
    asking = null;
    if (!ok) return;
    try {
      const envelope = await post(`${jobPath(jobId)}/_abort`);
      const final = envelope.status && envelope.status.state;
      flash(final === "aborted" ? `Run of ${jobId} aborted.` : `Abort requested: the run stops at its next batch.`, "success");
    } catch (ex) {
      if (!(ex instanceof ApiError)) throw ex;
      flash(ex.readable, "error", { requestId: ex.requestId });
    }
    await load();
  };

  const renderHistory = async () => {
    const result = await get("jobs/_search", { type: "ingestion", id: jobId, from: state.historyFrom, size: HISTORY_SIZE });
    if (!ctx.alive()) return;
    const shown = state.status && state.status.run_id;
    const runs = result.hits.hits.map((hit) => hit._source.ingestion);
    fill(
      history,
      table(
        [
          {
            label: "Run",
            cell: (s) => [h("a", { href: `${jobHref}/runs/${encodeURIComponent(s.run_id)}` }, shortRun(s.run_id, s.id)), " ", partitionsMark(rangesOf(s)?.length)],
          },
          { label: "State", cell: (s) => stateBadge(s.state) },
          { label: "Trigger", cell: (s) => s.trigger || "—" },
          { label: "Started", cell: (s) => time(s.start_time || s.create_time, { short: true }) },
          { label: "Duration", className: "num", cell: (s) => (s.start_time ? duration((s.end_time || Date.now()) - s.start_time) : "—") },
          { label: "Documents", className: "num", cell: (s) => number(s.count) },
          { label: "Rejected", className: "num", cell: (s) => number(s.error_count || 0) },
          runs.some((s) => s.deleted) ? { label: "Deleted", className: "num", cell: (s) => number(s.deleted || 0) } : null,
        ].filter(Boolean),
        runs,
        {
          empty: "No run yet.",
          className: "runs compact",
          rowAttrs: (s) => ({ class: s.run_id === shown ? "selected" : "", dataset: { run: s.run_id, state: s.state } }),
        },
      ),
      pager({
        from: state.historyFrom,
        size: HISTORY_SIZE,
        total: result.hits.total,
        onPage: async (from) => {
          state.historyFrom = from;
          await renderHistory();
        },
      }),
    );
  };

  const renderReport = (status) => {
    if (!status) {
      fill(report, h("p.empty-state", "No run, no report."));
      return;
    }
    const path = `${runPath(jobId, status.run_id)}/_errors`;
    const view = h("div.report-view");
    const count = status.error_count || 0;
    const download = (format) =>
      actionButton(`Download ${format.toUpperCase()}`, async () => {
        try {
          const file = await fetchText(path, format === "csv" ? { format: "csv" } : null);
          saveText(file.text, file.filename, file.type);
        } catch (ex) {
          if (!(ex instanceof ApiError)) throw ex;
          flash(ex.readable, "error", { requestId: ex.requestId });
        }
      });
    const show = actionButton("View", async () => {
      try {
        const file = await fetchText(path);
        const lines = file.text.split("\n").filter(Boolean);
        const records = lines.slice(0, REPORT_VIEW_LINES).map((line) => JSON.parse(line));
        fill(
          view,
          table(
            [
              { label: "#", className: "num", cell: (r) => String(r.seq) },
              { label: "Key", cell: (r) => (r.pk === null ? dash() : h("span.mono", r.pk)) },
              { label: "Field", cell: (r) => (r.field === null ? dash() : h("span.mono", r.field)) },
              { label: "Type", cell: (r) => h("span.mono.small", r.error_type) },
              { label: "Reason", className: "wrap", cell: (r) => r.reason },
              { label: "At", cell: (r) => time(r.time, { short: true }) },
            ],
            records,
            { empty: "The report is empty." },
          ),
          lines.length > REPORT_VIEW_LINES ? h("p.muted", `First ${REPORT_VIEW_LINES} of ${number(lines.length)} rows; download the report for all.`) : null,
        );
      } catch (ex) {
        if (!(ex instanceof ApiError)) throw ex;
        flash(ex.readable, "error", { requestId: ex.requestId });
      }
    });
    fill(
      report,
      h(
        "p",
        count
          ? [h("strong.warn", number(count)), ` row${count === 1 ? "" : "s"} rejected by run `, shortRun(status.run_id, jobId), "."]
          : ["No row rejected by run ", shortRun(status.run_id, jobId), "."],
      ),
      h("div.actions.left", count ? show : null, download("csv"), download("ndjson")),
      view,
    );
  };

  await load(); // a failure here (an unknown run) is the page's error, not a passing message
  poller = ctx.every(() => (state.status && ACTIVE_STATES.has(state.status.state) ? ACTIVE_POLL_MS : IDLE_POLL_MS), load, {
    immediate: false,
  });
}

function figure(label, value, name, title = null) {
  return h("div.figure", { dataset: { figure: name }, title }, h("div.figure-label", label), h("div.figure-value", value));
}

function errorPanel(messages) {
  return h(
    "section.card.error-panel",
    { role: "alert" },
    h("h2", "Errors"),
    h("ol.error-list", messages.map((m) => h("li", h("pre.error-msg", m)))),
  );
}

// Every seed-003 field is always listed (a dash when absent), then the extensions present.
const SEED_FIELDS = ["version", "id", "is_running", "is_aborting", "start_time", "end_time", "infos", "error", "state", "count", "last_id"];
const EXTENSION_ORDER = [
  "run_id",
  "type",
  "trigger",
  "create_time",
  "total",
  "progress",
  "error_count",
  "deleted",
  "partitions",
  "watermark",
  "estimated_time_remaining",
  "eta",
  "worker",
  "heartbeat",
  "target",
  "strategy",
  "staging_index",
  "staging_kept",
  "fire_time",
  "resume_of",
  "last_record",
  "last_record_timestamp",
  "server_rendering",
  "params",
  "checkpoint",
  "links",
];
const TIME_FIELDS = new Set(["start_time", "end_time", "create_time", "heartbeat", "fire_time", "last_record_timestamp"]);

function statusFields(status) {
  const names = [...SEED_FIELDS, ...EXTENSION_ORDER.filter((n) => n in status), ...Object.keys(status).filter((n) => !SEED_FIELDS.includes(n) && !EXTENSION_ORDER.includes(n))];
  const pairs = names.map((name) => [h("span.mono", name), fieldValue(name, status[name], status), { dataset: { field: name } }]);
  if (status.start_time) {
    pairs.splice(6, 0, [h("span.muted", "duration"), duration((status.end_time || Date.now()) - status.start_time), { dataset: { field: "duration" } }]);
  }
  return fields(pairs, { className: "status-fields" });
}

function fieldValue(name, value, status) {
  if (value === undefined || value === null) return null;
  if (TIME_FIELDS.has(name)) return time(value);
  if (name === "state") return stateBadge(value);
  if (name === "error") return value.length ? h("span.warn", `${value.length} message${value.length === 1 ? "" : "s"} (above)`) : null;
  if (name === "partitions" && Array.isArray(value)) return `${value.length} key range${value.length === 1 ? "" : "s"}: ${rangesSummary(value)} (above)`;
  if (typeof value === "boolean") return yesNo(value);
  if (name === "progress") return pct(value);
  if (name === "estimated_time_remaining") return duration(value);
  if (name === "eta") return time(value);
  if (name === "run_id" || name === "resume_of") return h("span.mono.small", value);
  if (name === "links") {
    const entries = Object.entries(value);
    return h(
      "details.links",
      h("summary", entries.map(([rel]) => rel).join(" · ")),
      h("ul.links", entries.map(([rel, href]) => h("li", h("span.muted", `${rel}: `), h("span.mono.small", href)))),
    );
  }
  if (name === "watermark") return watermark(value);
  if (typeof value === "number") return name.endsWith("count") || name === "total" || name === "deleted" ? number(value) : String(value);
  if (typeof value === "object") {
    const compact = JSON.stringify(value);
    return compact.length <= 80 ? h("span.mono.small", compact) : json(value);
  }
  return name === "last_id" || name === "target" || name === "staging_index" ? h("span.mono", String(value)) : cellValue(value);
}

/**
 * Where the next run reads from (SPEC §10): the tracking column's value and the key of the last
 * row read. A time is shown in the browser's zone, with the value as the database gave it beside.
 */
function watermark(value) {
  if (typeof value !== "object" || value === null) return cellValue(value);
  const raw = value.value;
  const asTime = typeof raw === "string" && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(raw) ? time(raw) : null;
  return h(
    "dl.watermark",
    h("dt", "value"),
    h("dd", { dataset: { part: "value" } }, asTime ? [asTime, h("span.raw.mono.small.muted", String(raw))] : cellValue(raw)),
    h("dt", "key"),
    h("dd", { dataset: { part: "pk" } }, raw === undefined && value.pk === undefined ? dash() : cellValue(value.pk)),
  );
}
