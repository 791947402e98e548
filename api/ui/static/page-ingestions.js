// Ingestions: the list (target, strategy, schedule and next fire times, last run) and one
// ingestion (its definition, recent runs, a dry run).
import { ApiError, can, gate, get, ingestionPath, post } from "./api.js";
import { card, code, dash, fields, fill, h, json, table } from "./dom.js";
import { cellValue, duration, number, numericColumn, pct, shortRun, stateBadge, time, yesNo } from "./format.js";
import { field, FormErrors } from "./forms.js";
import { formatSoftValues } from "./form-ingestion.js";
import { partitionsMark } from "./job-partitions.js";
import { actionButton, deleteButton, flash, pageHeader, pager } from "./ui.js";

const PAGE_SIZE = 25;

export async function ingestionsPage(ctx) {
  const from = Math.max(0, Number(ctx.query.get("start")) || 0);
  const result = await get("ingestion/_search", { from, size: PAGE_SIZE });
  if (!ctx.alive()) return;
  const hits = result.hits.hits;
  const lastRuns = new Map(
    await Promise.all(
      hits.map(async (hit) => {
        const runs = await get("jobs/_search", { type: "ingestion", id: hit._id, size: 1 });
        return [hit._id, runs.hits.hits.length ? runs.hits.hits[0]._source.ingestion : null];
      }),
    ),
  );
  if (!ctx.alive()) return;
  const newButton = h("a.button.primary", { href: "#/ingestions/_new" }, "New ingestion");
  fill(
    ctx.main,
    pageHeader("Ingestions", { subtitle: "SQL queries loaded into Elasticsearch indices.", actions: [newButton] }),
    card(
      null,
      table(
        [
          { label: "Ingestion", cell: (hit) => h("a.mono", { href: `#/ingestions/${encodeURIComponent(hit._id)}` }, hit._id) },
          { label: "Datasource", cell: (hit) => h("span.mono", hit._source.ingest.datasource) },
          { label: "Target", cell: (hit) => h("span.mono", hit._source.ingest.target) },
          { label: "Strategy", cell: (hit) => [strategy(hit._source.ingest), " ", partitionsMark(hit._source.ingest.partitions, { what: "key ranges per run" })] },
          { label: "Schedule", cell: (hit) => schedule(hit._source.ingest, hit.next_fire_times, { compact: true }) },
          {
            label: "Last run",
            cell: (hit) => {
              const run = lastRuns.get(hit._id);
              return run
                ? h("a.last-run", { href: `#/jobs/ingestion/${encodeURIComponent(hit._id)}` }, stateBadge(run.state), " ", time(run.end_time || run.start_time || run.create_time, { short: true }))
                : h("span.muted", "never ran");
            },
          },
          {
            label: "",
            className: "row-actions",
            cell: (hit) => gate(actionButton("Run", () => runNow(hit._id), { className: "small" }), "job:write"),
          },
        ],
        hits,
        {
          empty: h("span", "No ingestion yet. ", h("a", { href: "#/ingestions/_new" }, "Create the first one.")),
          rowAttrs: (hit) => ({ dataset: { ingestion: hit._id } }),
        },
      ),
      result.hits.total > PAGE_SIZE
        ? pager({ from, size: PAGE_SIZE, total: result.hits.total, onPage: (start) => ctx.navigate("ingestions", { start }) })
        : null,
    ),
  );
}

async function runNow(id) {
  try {
    await post(`${ingestionPath(id)}/_run`, {});
    flash(`Run of ${id} queued.`, "success", { keep: true });
    window.location.hash = `#/jobs/ingestion/${encodeURIComponent(id)}`;
  } catch (ex) {
    if (!(ex instanceof ApiError)) throw ex;
    flash(ex.readable, "error", { requestId: ex.requestId });
  }
}

function strategy(ingest) {
  return h("span.badge.neutral", { title: ingest.strategy === "REPLACE" ? "a fresh index swapped in by alias" : `upserts by ${ingest.pk_field}` }, ingest.strategy || "REPLACE");
}

function enabled(ingest) {
  const value = ingest.enable_scheduler ?? ingest.enable_schedule;
  return Boolean(value);
}

/** The cron expression, whether it is enabled, and the next fire times (when the service gives them). */
function schedule(ingest, nextFireTimes, { compact = false } = {}) {
  if (!ingest.schedule) return h("span.muted", "manual only");
  const on = enabled(ingest);
  const next = Array.isArray(nextFireTimes) ? nextFireTimes : [];
  const parts = [
    h("code.cron", ingest.schedule),
    " ",
    h("span.badge", { class: on ? "yes" : "no", title: on ? "the scheduler runs it" : "enable_scheduler is off" }, on ? "enabled" : "disabled"),
  ];
  if (ingest.timezone) parts.push(h("span.muted.small", ` ${ingest.timezone}`));
  if (!on || !next.length) return h("span.schedule", parts);
  if (compact) {
    return h(
      "span.schedule",
      parts,
      h("div.small.next-fire", { title: next.map((t) => `${new Date(t).toLocaleString()}  (${t})`).join("\n") }, "next ", time(next[0])),
    );
  }
  return h("div.schedule", parts, h("ol.next-fire-times", next.map((t) => h("li", time(t), h("span.muted.small", ` ${t}`)))));
}

// ------------------------------------------------------------------ one ingestion

export async function ingestionPage(ctx) {
  const [id] = ctx.params;
  const [doc, runs] = await Promise.all([get(ingestionPath(id)), get("jobs/_search", { type: "ingestion", id, size: 5 })]);
  if (!ctx.alive()) return;
  const ingest = doc._source.ingest;

  const remove = deleteButton({
    title: `Delete ingestion ${id}?`,
    body: "The definition is removed; its target index and job log stay.",
    path: ingestionPath(id),
    deleted: `Ingestion ${id} deleted.`,
    goTo: "ingestions",
    navigate: ctx.navigate,
  });
  const actions = [
    gate(actionButton("Run", () => runNow(id), { className: "primary" }), "job:write"),
    h("a.button", { href: `#/jobs/ingestion/${encodeURIComponent(id)}` }, "Job status"),
    gate(h("a.button", { href: `#/ingestions/${encodeURIComponent(id)}/edit` }, "Edit"), "admin"),
    gate(remove, "admin"),
  ];
  fill(
    ctx.main,
    pageHeader(h("span", "Ingestion ", h("span.mono", id)), {
      crumbs: [["Ingestions", "#/ingestions"]],
      actions,
      subtitle: ingest.description || null,
    }),
    h(
      "div.columns",
      card("Definition", definition(ingest, doc.next_fire_times)),
      card(
        "Recent runs",
        table(
          [
            { label: "Run", cell: (s) => h("a", { href: `#/jobs/ingestion/${encodeURIComponent(id)}/runs/${encodeURIComponent(s.run_id)}` }, shortRun(s.run_id, id)) },
            { label: "State", cell: (s) => stateBadge(s.state) },
            { label: "Started", cell: (s) => time(s.start_time || s.create_time, { short: true }) },
            { label: "Duration", className: "num", cell: (s) => (s.start_time ? duration((s.end_time || Date.now()) - s.start_time) : "—") },
            { label: "Documents", className: "num", cell: (s) => number(s.count) },
          ],
          runs.hits.hits.map((hit) => hit._source.ingestion),
          { empty: "Never ran." },
        ),
      ),
    ),
    card("Query", code(ingest.query)),
    ingest.transforms && ingest.transforms.length ? card("Transforms", transformsTable(ingest.transforms)) : null,
    ingest.mapping ? card("Mapping", json(ingest.mapping)) : null,
    ingest.pipeline ? card("Pipeline", json(ingest.pipeline)) : null,
    dryRun(id, ingest),
  );
}

function definition(ingest, nextFireTimes) {
  const credentials = (c) => (c ? h("span", c.username ? h("span.mono", c.username) : dash(), h("span.muted.small", " (password write-only)")) : null);
  return fields([
    ["Datasource", can("admin") ? h("a.mono", { href: `#/datasources/${encodeURIComponent(ingest.datasource)}` }, ingest.datasource) : ingest.datasource],
    ["Target", h("span.mono", ingest.target)],
    ["Strategy", strategy(ingest)],
    ["Primary key", ingest.pk_field ? h("span.mono", ingest.pk_field) : null],
    ...partitions(ingest),
    ["Batch size", ingest.batch_size ? number(ingest.batch_size) : h("span.muted", "service default")],
    ["Staging prefix", ingest.staging_prefix ? h("span.mono", ingest.staging_prefix) : null],
    ["Schedule", schedule(ingest, nextFireTimes)],
    ["Max error ratio", ingest.max_error_ratio ?? h("span.muted", "service default")],
    ["Exact total", yesNo(Boolean(ingest.count_total))],
    ...changeSync(ingest),
    ["Database user", credentials(ingest.ds_credentials) || h("span.muted", "the datasource's")],
    ["Elasticsearch user", credentials(ingest.es_credentials) || h("span.muted", "the service's")],
  ]);
}

/** The partitions row (SPEC §15), when the definition sets them. */
function partitions(ingest) {
  const n = ingest.partitions;
  if (n === undefined || n === null) return [];
  const value =
    n > 1
      ? h("span", number(n), h("span.muted", " key ranges of "), h("span.mono", ingest.pk_field || "?"), h("span.muted", " per run, on any workers"))
      : h("span", "1", h("span.muted", ": runs are not split"));
  return [["Partitions", value, { dataset: { def: "partitions" } }]];
}

/** The change-sync rows of the definition (SPEC §10): always for INCREMENTAL, else only what is set. */
function changeSync(ingest) {
  const incremental = ingest.strategy === "INCREMENTAL";
  const soft = ingest.delete?.soft;
  const reconcile = ingest.delete?.reconcile;
  const rows = [];
  if (incremental || ingest.tracking_column) {
    rows.push([
      "Tracking column",
      ingest.tracking_column
        ? h(
            "span",
            h("span.mono", ingest.tracking_column),
            ingest.tracking_overlap
              ? h("span.muted", { title: "re-read below the watermark: seconds for a date/time column, the column's own units for a number" }, `, overlap ${ingest.tracking_overlap}`)
              : null,
          )
        : h("span.muted", "none: every run reads the whole query"),
      { dataset: { def: "tracking_column" } },
    ]);
  }
  if (incremental || soft) {
    rows.push([
      "Soft delete",
      soft ? h("span", h("span.mono", soft.column), " in ", h("span.mono", formatSoftValues(soft.values))) : h("span.muted", "off"),
      { dataset: { def: "soft_delete" } },
    ]);
  }
  if (incremental || reconcile) {
    const every = reconcile?.every_runs ?? 1;
    rows.push([
      "Reconcile",
      reconcile
        ? h(
            "span",
            every === 1 ? "every run" : `every ${number(every)} runs`,
            h("span.muted", `, at most ${pct(reconcile.max_delete_ratio ?? 0.05)} of the documents deleted`),
          )
        : h("span.muted", "off"),
      { dataset: { def: "reconcile" } },
    ]);
  }
  if (incremental || ingest.on_mapping_conflict) {
    rows.push(["On mapping conflict", h("span.badge.neutral", ingest.on_mapping_conflict || "fail"), { dataset: { def: "on_mapping_conflict" } }]);
  }
  return rows;
}

// ------------------------------------------------------------------ dry run

function dryRun(id, ingest) {
  const size = field("size", "Rows", { kind: "number", value: 10, attrs: { min: "1", max: "1000" } });
  const params = field("params", "Parameters (JSON object, optional)", {
    kind: "json",
    rows: 2,
    placeholder: '{"country": "IE"}',
    help: "Given to the query template as params.<name>, as _run would.",
  });
  const errors = new FormErrors([size, params], { strip: ["$."] });
  const output = h("div.dry-run-output");
  const form = h(
    "form.dry-run-form",
    {
      onSubmit: async (event) => {
        event.preventDefault();
        const values = errors.collect();
        if (!values) return;
        button.disabled = true;
        fill(output, h("p.muted.loading", "Running the query…"));
        try {
          const result = await post(`${ingestionPath(id)}/_validate`, values);
          fill(output, dryRunResult(result, ingest));
        } catch (ex) {
          if (!(ex instanceof ApiError)) throw ex;
          fill(output);
          errors.show(ex);
        } finally {
          button.disabled = false;
        }
      },
    },
    h("div.form-grid.compact", size.el, params.el),
    errors.general,
  );
  const button = h("button.primary", { type: "submit" }, "Dry run");
  form.append(h("div.actions.left", gate(button, "admin"), h("span.muted.small", "Renders the query, reads a few rows and builds their documents. Nothing is written.")));
  return card("Dry run", form, output);
}

function dryRunResult(result, ingest) {
  const docs = result.documents || [];
  const deletes = result.deletes || [];
  const replace = ingest.strategy !== "INCREMENTAL";
  const keys = [...new Set(docs.flatMap((d) => Object.keys(d._source)))];
  const params = Object.entries(result.query.params || {});
  return h(
    "div.dry-run",
    h(
      "p",
      result.valid ? h("span.badge.yes", "valid") : h("span.badge.state-error", "rows rejected"),
      " ",
      result.total !== null && result.total !== undefined ? ["about ", number(result.total), " rows expected"] : "row count unknown",
      deletes.length ? h("span.muted", ` · of the rows read, ${number(docs.length)} indexed, ${number(deletes.length)} soft-deleted`) : null,
    ),
    result.warnings && result.warnings.length ? h("ul.warnings", result.warnings.map((w) => h("li", w))) : null,
    h("h3", "Rendered SQL"),
    code(result.query.sql),
    ingest.tracking_column && ingest.strategy === "INCREMENTAL"
      ? h(
          "p.muted.small.read-order",
          "Read as the next run reads it: in (",
          h("span.mono", `${ingest.tracking_column}, ${ingest.pk_field}`),
          ingest.tracking_overlap
            ? `) order, from ${ingest.tracking_overlap} (the overlap) below the last successful run's watermark; everything before the first.`
            : ") order, after the last successful run's watermark; everything before the first.",
        )
      : null,
    h("h3", "Bound parameters"),
    params.length
      ? table(
          [
            { label: "Name", cell: ([name]) => h("span.mono", name) },
            { label: "Value", cell: ([, value]) => cellValue(value) },
          ],
          params,
        )
      : h("p.muted", "None: the query has no template variables with values."),
    h("h3", "Columns"),
    h("p.columns-list", result.columns.map((c) => h("span.chip", { title: c.db_type || "" }, c.name, c.db_type ? h("span.muted", ` ${c.db_type}`) : null))),
    h("h3", `First documents (${docs.length})`),
    table(
      [
        { label: "_id", cell: (d) => h("span.mono", d._id) },
        ...keys.map((k) => ({
          label: k,
          className: numericColumn(docs, (d) => d._source[k]) ? "num" : "",
          cell: (d) => (k in d._source ? cellValue(d._source[k]) : dash()),
        })),
      ],
      docs,
      { empty: deletes.length ? "No document: every row read is a soft delete." : "The query returned no row.", className: "documents" },
    ),
    deletes.length
      ? h(
          "div.dry-run-deletes",
          h("h3", replace ? `Rows left out by the soft delete (${deletes.length})` : `Documents these rows would delete (${deletes.length})`),
          h(
            "p.muted.small",
            "Their ",
            ingest.delete?.soft?.column ? [h("span.mono", ingest.delete.soft.column), " column"] : "soft-delete column",
            " holds one of the soft-delete values",
            replace ? ": REPLACE does not index them." : ": a run deletes the documents with these ids.",
          ),
          h("p.chips.deletes", deletes.map((id) => h("span.chip.mono", id))),
        )
      : null,
    result.rejected && result.rejected.length
      ? [
          h("h3.warn", `Rejected rows (${result.rejected.length})`),
          table(
            [
              { label: "Key", cell: (r) => (r.pk === null ? dash() : h("span.mono", r.pk)) },
              { label: "Field", cell: (r) => (r.field === null ? dash() : h("span.mono", r.field)) },
              { label: "Type", cell: (r) => h("span.mono.small", r.error_type) },
              { label: "Reason", className: "wrap", cell: (r) => r.reason },
            ],
            result.rejected,
          ),
        ]
      : null,
    h("h3", "Mapping"),
    mappingTable(result.mapping),
    h("details", h("summary", "Mapping as JSON"), json(result.mapping)),
  );
}

/** An Elasticsearch mapping as rows: field, type, the rest of its definition. */
function mappingTable(mapping) {
  const rows = [];
  const walk = (properties, prefix) => {
    for (const [name, spec] of Object.entries(properties || {})) {
      const { type, properties: nested, ...rest } = spec;
      rows.push({ field: `${prefix}${name}`, type: type || (nested ? "object" : ""), rest });
      if (nested) walk(nested, `${prefix}${name}.`);
    }
  };
  walk(mapping.properties, "");
  return table(
    [
      { label: "Field", cell: (r) => h("span.mono", r.field) },
      { label: "Type", cell: (r) => h("span.badge.neutral", r.type || "?") },
      { label: "Options", className: "wrap", cell: (r) => (Object.keys(r.rest).length ? h("span.mono.small", JSON.stringify(r.rest)) : "") },
    ],
    rows,
    { empty: "No field.", className: "mapping" },
  );
}

/** Transforms as rows: output ← function(inputs). */
function transformsTable(transforms) {
  const input = (i) => (i.source !== undefined && i.source !== null ? h("span.mono", i.source) : h("span.mono.muted", JSON.stringify(i.value)));
  return table(
    [
      { label: "Output", cell: (t) => h("span.mono", t.output) },
      { label: "Function", cell: (t) => h("span.badge.neutral", t.transform || "copy") },
      { label: "Inputs", cell: (t) => t.input.flatMap((i, n) => (n ? [", ", input(i)] : [input(i)])) },
      { label: "Params", cell: (t) => (t.params && Object.keys(t.params).length ? h("span.mono.small", JSON.stringify(t.params)) : "") },
      { label: "Mapping", cell: (t) => (t.mapping ? h("span.mono.small", JSON.stringify(t.mapping)) : "") },
    ],
    transforms,
  );
}
