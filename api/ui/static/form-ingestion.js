// Create or edit an ingestion: PUT /ingestion/<id> with {"ingest": {...}}; the API
// validates everything, and each `invalid[]` entry appears beside its field.
import { ApiError, callAllowing, get, ingestionPath, put } from "./api.js";
import { card, fill, h } from "./dom.js";
import { field, FormErrors } from "./forms.js";
import { flash, pageHeader } from "./ui.js";

const ID_PATTERN = "[A-Za-z0-9][A-Za-z0-9_.\\-]{0,127}";

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
  // `$.ingest.ds_credentials.password` → the password field, `.username` → the user field.
  const errors = new FormErrors([idField, ...Object.values(f)], { strip: ["$.ingest."] });
  const credentialsField = errors.fieldFor.bind(errors);
  errors.fieldFor = (entry) => {
    const m = /^\$\.ingest\.(ds|es)_credentials(?:\.(username|password))?/.exec(entry);
    if (m) return { target: errors.fields.get(`${m[1]}_${m[2] || "username"}`), path: `${m[1]}_${m[2] || "username"}` };
    return credentialsField(entry);
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
  for (const which of ["ds", "es"]) {
    const username = values[`${which}_username`];
    const password = values[`${which}_password`];
    if (username !== undefined || password !== undefined) {
      out[`${which}_credentials`] = { ...(username !== undefined ? { username } : {}), ...(password !== undefined ? { password } : {}) };
    }
  }
  return out;
}
