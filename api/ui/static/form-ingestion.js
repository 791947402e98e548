// Create or edit an ingestion: PUT /ingestion/<id> with {"ingest": {...}}; the API
// validates everything, and each `invalid[]` entry appears beside its field.
import { ApiError, callAllowing, get, ingestionPath, put } from "./api.js";
import { card, fill, h } from "./dom.js";
import { field, FormErrors } from "./forms.js";
import { flash, pageHeader } from "./ui.js";

const ID_PATTERN = "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,127}";

// `invalid[].entry` paths (after `$.ingest.`) of fields that the form splits in several inputs.
const ENTRY_FIELDS = [
  ["ds_credentials.username", "ds_username"],
  ["ds_credentials.password", "ds_password"],
  ["ds_credentials", "ds_username"],
  ["es_credentials.username", "es_username"],
  ["es_credentials.password", "es_password"],
  ["es_credentials", "es_username"],
  ["delete.soft.column", "soft_column"],
  ["delete.soft.values", "soft_values"],
  ["delete.soft", "soft_column"],
  ["delete.reconcile.max_delete_ratio", "reconcile_ratio"],
  ["delete.reconcile.every_runs", "reconcile_every"],
  ["delete.reconcile", "reconcile"],
];

export async function ingestionForm(ctx, id) {
  const editing = id !== null;
  const [doc, datasources] = await Promise.all([
    editing ? get(ingestionPath(id)) : Promise.resolve(null),
    get("datasource/_search", { size: 1000 }),
  ]);
  if (!ctx.alive()) return;
  const ingest = doc ? doc._source.ingest : { strategy: "REPLACE" };
  const dsOptions = [["", "— choose —"], ...datasources.hits.hits.map((hit) => [hit._id, hit._id])];
  if (ingest.datasource && !dsOptions.some(([v]) => v === ingest.datasource)) dsOptions.push([ingest.datasource, ingest.datasource]);

  const idField = field("id", "Id", {
    value: id || "",
    required: true,
    placeholder: "e.g. sales-orders",
    help: "Letters, digits, '_', '.' or '-'; also the job's id and part of index and pipeline names.",
    attrs: editing ? { readOnly: true } : { pattern: ID_PATTERN },
  });
  const f = {
    description: field("description", "Description", { value: ingest.description, wide: true }),
    datasource: field("datasource", "Datasource", { kind: "select", value: ingest.datasource || "", options: dsOptions, required: true }),
    target: field("target", "Target index", {
      value: ingest.target,
      required: true,
      placeholder: "e.g. orders",
      help: "REPLACE: the alias swapped to each new index. Lowercase.",
    }),
    query: field("query", "SQL query", {
      kind: "textarea",
      value: ingest.query,
      rows: 7,
      required: true,
      wide: true,
      help: "A Mustache template: {{max_primary_key}}, {{last_record_timestamp}}, {{params.x}} are bound as SQL parameters; {{#x}}…{{/x}} drops out when x is absent.",
    }),
    strategy: field("strategy", "Strategy", {
      kind: "select",
      value: ingest.strategy || "REPLACE",
      options: [
        ["REPLACE", "REPLACE — load a fresh index, then swap the alias"],
        ["INCREMENTAL", "INCREMENTAL — upsert into the target by primary key"],
      ],
    }),
    pk_field: field("pk_field", "Primary key column", { value: ingest.pk_field, help: "Document _id; required by INCREMENTAL; enables resume." }),
    batch_size: field("batch_size", "Batch size", { kind: "number", value: ingest.batch_size, attrs: { min: "1" }, help: "Rows per bulk request; empty: the service default." }),
    staging_prefix: field("staging_prefix", "Staging prefix", { value: ingest.staging_prefix, help: "REPLACE: prefix of the new index; default <target>-." }),
    schedule: field("schedule", "Schedule", {
      value: ingest.schedule,
      placeholder: "0 0 3 * * ?",
      help: "Quartz cron (seconds first) or 5-field cron.",
    }),
    timezone: field("timezone", "Schedule time zone", { value: ingest.timezone, placeholder: "UTC", help: "IANA name, e.g. Europe/Paris." }),
    enable_scheduler: field("enable_scheduler", "Run on the schedule", { kind: "checkbox", value: ingest.enable_scheduler ?? ingest.enable_schedule }),
    count_total: field("count_total", "Count rows exactly for progress (count(*) before each run)", { kind: "checkbox", value: ingest.count_total }),
    max_error_ratio: field("max_error_ratio", "Max error ratio", {
      kind: "number",
      value: ingest.max_error_ratio,
      attrs: { min: "0", max: "1", step: "any" },
      help: "Rejected rows / rows read above which the run fails; empty: the service default.",
    }),
    mapping: field("mapping", "Mapping (JSON)", { kind: "json", value: ingest.mapping, rows: 4, placeholder: '{"properties": {"id": {"type": "keyword"}}}', help: "Fields absent here are mapped from column types." }),
    transforms: field("transforms", "Transforms (JSON array)", {
      kind: "json",
      value: ingest.transforms && ingest.transforms.length ? ingest.transforms : "",
      rows: 4,
      placeholder: '[{"input": [{"source": "lat"}, {"source": "lon"}], "output": "location", "transform": "geo_point"}]',
    }),
    // Change sync (SPEC §10; README "Keeping an index in sync").
    tracking_column: field("tracking_column", "Tracking column", {
      value: ingest.tracking_column,
      placeholder: "e.g. updated_at",
      help: "A column that every insert and update makes grow (a timestamp, a version number); needs the primary key column. Each run reads only the rows after the last successful run's watermark.",
    }),
    tracking_overlap: field("tracking_overlap", "Tracking overlap", {
      kind: "number",
      value: ingest.tracking_overlap,
      placeholder: "0",
      attrs: { min: "0", step: "any" },
      help: "Re-read the rows this far below the watermark, to catch transactions that commit late: seconds for a date or time column, the column's own units for a number. Default 0.",
    }),
    soft_column: field("soft_column", "Soft-delete column", {
      value: ingest.delete?.soft?.column,
      placeholder: "e.g. is_deleted",
      help: "A row whose column holds one of the values deletes its document (REPLACE leaves it out). The column itself is never indexed.",
    }),
    soft_values: field("soft_values", "Soft-delete values", {
      value: ingest.delete?.soft ? formatSoftValues(ingest.delete.soft.values) : "",
      placeholder: "e.g. true, 1, Y",
      help: 'A comma list (true, false and numbers are read as such, other words as text: "1" in quotes is the text 1) or a JSON array.',
    }),
    reconcile: field("reconcile", "Reconcile hard deletes: delete the documents whose row is gone", {
      kind: "checkbox",
      value: Boolean(ingest.delete?.reconcile),
      wide: true,
      help: "INCREMENTAL only. After its changes, the run compares the query's keys with the target's documents (a read of every key).",
    }),
    reconcile_ratio: field("reconcile_ratio", "Max delete ratio", {
      kind: "number",
      value: ingest.delete?.reconcile?.max_delete_ratio,
      placeholder: "0.05",
      attrs: { min: "0", max: "1", step: "any" },
      help: "A reconcile that would delete more than this share of the target's documents fails the run before deleting any. Default 0.05.",
    }),
    reconcile_every: field("reconcile_every", "Reconcile every … runs", {
      kind: "number",
      value: ingest.delete?.reconcile?.every_runs,
      placeholder: "1",
      attrs: { min: "1", step: "1" },
      help: "Default 1: every run.",
    }),
    on_mapping_conflict: field("on_mapping_conflict", "On a mapping conflict", {
      kind: "select",
      value: ingest.on_mapping_conflict || "fail",
      options: [
        ["fail", "fail — stop before writing, naming each field whose type would change"],
        ["rebuild", "rebuild — load everything into a new index, then swap the alias"],
      ],
      help: "When the mapping a run needs changes a field's type in the target. New fields are added in both cases.",
    }),
    pipeline: field("pipeline", "Ingest pipeline (JSON)", { kind: "json", value: ingest.pipeline, rows: 3, placeholder: '{"processors": [...]}' }),
    ds_username: field("ds_username", "Database user (overrides the datasource's)", { value: ingest.ds_credentials?.username, attrs: { autocomplete: "off" } }),
    ds_password: field("ds_password", "Database password", {
      kind: "password",
      attrs: { autocomplete: "new-password" },
      placeholder: editing && ingest.ds_credentials ? "unchanged — write-only" : "",
      help: editing && ingest.ds_credentials ? "Leave empty to keep the stored password (same user)." : null,
    }),
    es_username: field("es_username", "Elasticsearch user (overrides the service's)", { value: ingest.es_credentials?.username, attrs: { autocomplete: "off" } }),
    es_password: field("es_password", "Elasticsearch password", {
      kind: "password",
      attrs: { autocomplete: "new-password" },
      placeholder: editing && ingest.es_credentials ? "unchanged — write-only" : "",
    }),
  };
  // The soft-delete values are typed as a list; the form sends what that list reads as.
  const softText = f.soft_values.value;
  f.soft_values.value = () => {
    const text = softText();
    return text === undefined ? undefined : parseSoftValues(text);
  };
  // The reconcile figures only mean something with reconcile on.
  const reconcileInputs = () => {
    for (const input of [f.reconcile_ratio.input, f.reconcile_every.input]) input.disabled = !f.reconcile.input.checked;
  };
  f.reconcile.input.addEventListener("change", reconcileInputs);
  reconcileInputs();

  const errors = new FormErrors([idField, ...Object.values(f)], { strip: ["$.ingest."] });
  const byName = errors.fieldFor.bind(errors);
  errors.fieldFor = (entry) => {
    const path = entry.startsWith("$.ingest.") ? entry.slice("$.ingest.".length) : entry;
    for (const [prefix, name] of ENTRY_FIELDS) {
      if (path === prefix) return { target: errors.fields.get(name), path: name };
      if (path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`)) return { target: errors.fields.get(name), path };
    }
    return byName(entry);
  };

  const submit = h("button.primary", { type: "submit" }, editing ? "Save changes" : "Create ingestion");
  const form = h(
    "form.entity-form",
    {
      noValidate: true, // the service's own messages, beside each field, are the reference
      onSubmit: async (event) => {
        event.preventDefault();
        const values = errors.collect();
        if (!values) return;
        const newId = editing ? id : String(values.id || "").trim();
        if (!newId) {
          idField.setError("required");
          idField.input.focus();
          return;
        }
        submit.disabled = true;
        try {
          if (!editing) {
            // PUT replaces silently; a form that says "create" must not overwrite someone's ingestion.
            const existing = await callAllowing([404], "GET", ingestionPath(newId));
            if (existing.status !== 404) {
              idField.setError(`an ingestion [${newId}] already exists`);
              idField.input.focus();
              return;
            }
          }
          const result = await put(ingestionPath(newId), { ingest: body(values, ingest) });
          flash(`Ingestion ${newId} ${result.result}.`, "success", { keep: true });
          ctx.navigate(`ingestions/${encodeURIComponent(newId)}`);
        } catch (ex) {
          if (!(ex instanceof ApiError)) throw ex;
          errors.show(ex);
        } finally {
          submit.disabled = false;
        }
      },
    },
    errors.general,
    h("fieldset", h("legend", "What to load"), h("div.form-grid", idField.el, f.datasource.el, f.description.el, f.query.el)),
    h("fieldset", h("legend", "Where it goes"), h("div.form-grid", f.target.el, f.strategy.el, f.pk_field.el, f.staging_prefix.el, f.batch_size.el, f.max_error_ratio.el, f.count_total.el)),
    h(
      "fieldset",
      h("legend", "Change sync (INCREMENTAL)"),
      h("p.help.fieldset-help", "Keep the target equal to the query: changed rows by a tracking column, deleted rows by a flag or by comparing keys. All optional."),
      h(
        "div.form-grid",
        f.tracking_column.el,
        f.tracking_overlap.el,
        f.soft_column.el,
        f.soft_values.el,
        f.reconcile.el,
        f.reconcile_ratio.el,
        f.reconcile_every.el,
        f.on_mapping_conflict.el,
      ),
    ),
    h("fieldset", h("legend", "When"), h("div.form-grid", f.schedule.el, f.timezone.el, f.enable_scheduler.el)),
    h("fieldset", h("legend", "Documents"), h("div.form-grid", f.mapping.el, f.transforms.el, f.pipeline.el)),
    h(
      "fieldset",
      h("legend", "Credentials (optional)"),
      h("div.form-grid", f.ds_username.el, f.ds_password.el, f.es_username.el, f.es_password.el),
    ),
    h("div.actions.left", submit, h("a.button", { href: editing ? `#/ingestions/${encodeURIComponent(id)}` : "#/ingestions" }, "Cancel")),
  );
  fill(
    ctx.main,
    pageHeader(editing ? h("span", "Edit ingestion ", h("span.mono", id)) : "New ingestion", { crumbs: [["Ingestions", "#/ingestions"]] }),
    card(null, form),
  );
  (editing ? f.query.input : idField.input).focus();
}

/** The `ingest` object from the form's values; empty fields are left out, so the service applies its defaults. */
function body(values, previous) {
  const out = {};
  for (const key of ["description", "datasource", "query", "target", "strategy", "pk_field", "batch_size", "staging_prefix", "schedule", "timezone", "max_error_ratio", "mapping", "transforms", "pipeline"]) {
    if (values[key] !== undefined) out[key] = values[key];
  }
  if (values.enable_scheduler || previous.enable_scheduler !== undefined || previous.enable_schedule !== undefined) {
    out.enable_scheduler = Boolean(values.enable_scheduler);
  }
  if (values.count_total) out.count_total = true;
  if (values.tracking_column !== undefined) out.tracking_column = values.tracking_column;
  if (values.tracking_overlap !== undefined) out.tracking_overlap = values.tracking_overlap;
  const deletes = {};
  if (values.soft_column !== undefined || values.soft_values !== undefined) {
    // One half without the other is sent as it is: the service says which is missing, beside it.
    deletes.soft = {
      ...(values.soft_column !== undefined ? { column: values.soft_column } : {}),
      ...(values.soft_values !== undefined ? { values: values.soft_values } : {}),
    };
  }
  if (values.reconcile) {
    deletes.reconcile = {
      ...(values.reconcile_ratio !== undefined ? { max_delete_ratio: values.reconcile_ratio } : {}),
      ...(values.reconcile_every !== undefined ? { every_runs: values.reconcile_every } : {}),
    };
  }
  if (Object.keys(deletes).length) out.delete = deletes;
  // "fail" is the default: sent when chosen against it, or when the stored definition names one.
  if (values.on_mapping_conflict === "rebuild" || previous.on_mapping_conflict !== undefined) {
    out.on_mapping_conflict = values.on_mapping_conflict;
  }
  for (const which of ["ds", "es"]) {
    const username = values[`${which}_username`];
    const password = values[`${which}_password`];
    if (username !== undefined || password !== undefined) {
      out[`${which}_credentials`] = { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
    }
  }
  return out;
}

// ------------------------------------------------------------------ soft-delete values

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * `delete.soft.values` as typed: a JSON array, or a comma list whose items are read as
 * true/false, numbers and "quoted text" where they are one, and as text otherwise
 * (`true, 1, Y` → [true, 1, "Y"]). Throws an Error (a SyntaxError for bad JSON) saying what is wrong.
 */
export function parseSoftValues(text) {
  const trimmed = text.trim();
  let values;
  if (trimmed.startsWith("[")) {
    values = JSON.parse(trimmed);
    if (!Array.isArray(values)) throw new Error("must be a JSON array or a comma list");
  } else {
    values = splitList(trimmed).map(readItem);
  }
  if (!values.length) throw new Error("give at least one value");
  for (const value of values) {
    if (!["string", "number", "boolean"].includes(typeof value)) {
      throw new Error(`${JSON.stringify(value)} is not a text, a number, true or false`);
    }
  }
  return values;
}

/** The values as a comma list that parseSoftValues reads back the same (else as JSON). */
export function formatSoftValues(values) {
  if (!Array.isArray(values)) return "";
  const plainText = (v) => v === v.trim() && v !== "" && !/[",]/.test(v) && !["true", "false"].includes(v) && !NUMBER.test(v) && !v.startsWith("[");
  const text = values.map((v) => (typeof v === "string" && !plainText(v) ? JSON.stringify(v) : String(v))).join(", ");
  try {
    if (JSON.stringify(parseSoftValues(text)) === JSON.stringify(values)) return text;
  } catch (ex) {
    // not representable as a list: JSON below
  }
  return JSON.stringify(values);
}

/** Split at the commas outside double quotes. */
function splitList(text) {
  const items = [];
  let current = "";
  let quoted = false;
  let escaped = false;
  for (const ch of text) {
    if (quoted) {
      current += ch;
      if (escaped) escaped = false;
      else if (ch === "\\") escaped = true;
      else if (ch === '"') quoted = false;
    } else if (ch === ",") {
      items.push(current);
      current = "";
    } else {
      if (ch === '"') quoted = true;
      current += ch;
    }
  }
  if (quoted) throw new Error("a quoted value is not closed");
  items.push(current);
  return items;
}

function readItem(raw, index) {
  const item = raw.trim();
  if (!item) throw new Error(`value ${index + 1} is empty`);
  if (item.startsWith('"')) {
    let value;
    try {
      value = JSON.parse(item);
    } catch (ex) {
      value = undefined;
    }
    if (typeof value !== "string") throw new Error(`${item} is not one quoted text`);
    return value;
  }
  if (item === "true" || item === "false") return item === "true";
  if (NUMBER.test(item)) return Number(item);
  return item;
}
