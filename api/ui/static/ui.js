// Shared widgets: messages, confirmation dialog, progress bar, pager, page header, downloads.
import { ApiError, del } from "./api.js";
import { h } from "./dom.js";
import { number, pct } from "./format.js";

const flashArea = document.getElementById("flash");
const MAX_FLASHES = 3;

/**
 * A message at the top of the page: kind info, success or error (errors stay until closed).
 * `keep`: survive the next change of page (a message about what led there).
 */
export function flash(text, kind = "info", { requestId = null, keep = false } = {}) {
  const close = h("button.close", { type: "button", "aria-label": "Dismiss", title: "Dismiss" }, "×");
  const message = h(
    "div.flash",
    { class: `flash-${kind}`, role: kind === "error" ? "alert" : "status", dataset: { kind, keep: keep ? "1" : "" } },
    h(
      "div.flash-body",
      h("div.flash-text", text),
      requestId ? h("div.request-id", { title: "X-Request-ID: quote it when asking about this error" }, `request ${requestId}`) : null,
    ),
    close,
  );
  close.addEventListener("click", () => message.remove());
  flashArea.append(message);
  // A few at a time: older ones give way instead of piling up over the page, errors last.
  while (flashArea.children.length > MAX_FLASHES) {
    const children = [...flashArea.children];
    (children.find((el) => el.dataset.kind !== "error" && el !== message) || children[0]).remove();
  }
  if (kind !== "error") window.setTimeout(() => message.remove(), 8000);
  return message;
}

/** Remove the messages of the previous page, except those meant to survive this change. */
export function clearFlash() {
  for (const el of [...flashArea.children]) {
    if (el.dataset.keep) el.dataset.keep = "";
    else el.remove();
  }
}

/**
 * Ask before doing something that cannot be undone; resolves to true if confirmed.
 * Leaving the page answers no, and so does `cancel()` on the returned promise.
 */
export function confirmDialog({ title, body, confirm, danger = true }) {
  let cancel = () => {};
  const answer = new Promise((resolve) => {
    const yes = h(`button.${danger ? "danger" : "primary"}`, { type: "button", value: "yes" }, confirm);
    const no = h("button", { type: "button", value: "no" }, "Cancel");
    const dialog = h(
      "dialog.confirm",
      { "aria-labelledby": "confirm-title" },
      h("h2#confirm-title", title),
      h("p", body),
      h("div.actions", no, yes),
    );
    let settled = false;
    const done = (yes) => {
      if (settled) return;
      settled = true;
      window.removeEventListener("hashchange", leave);
      dialog.close();
      dialog.remove();
      resolve(yes);
    };
    const leave = () => done(false);
    cancel = leave;
    window.addEventListener("hashchange", leave);
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    no.focus();
  });
  answer.cancel = () => cancel();
  return answer;
}

/** A progress bar; fraction null shows an indeterminate (striped) bar. */
export function progressBar(fraction, { label = null } = {}) {
  const fill = h("div.progress-fill");
  const bar = h("div.progress", { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" }, fill);
  const text = h("span.progress-text");
  const el = h("div.progress-cell", bar, text);
  el.update = (value, caption) => {
    if (value === null || value === undefined) {
      bar.classList.add("indeterminate");
      bar.removeAttribute("aria-valuenow");
      fill.style.width = "100%";
      text.textContent = caption || "";
    } else {
      const clamped = Math.max(0, Math.min(1, value));
      bar.classList.remove("indeterminate");
      bar.setAttribute("aria-valuenow", (clamped * 100).toFixed(1));
      fill.style.width = `${(clamped * 100).toFixed(2)}%`;
      text.textContent = caption || pct(clamped);
    }
  };
  el.update(fraction, label);
  return el;
}

/** The progress of a run: the service's progress, else count/total, else unknown. */
export function runFraction(status) {
  if (status.state === "successful") return 1;
  if (typeof status.progress === "number") return status.progress;
  if (status.total) return Math.min(1, status.count / status.total);
  return null;
}

/** Paging controls for a from/size listing; `labels` name where the buttons go (newest-first lists by default). */
export function pager({ from, size, total, onPage, labels = ["‹ Newer", "Older ›"] }) {
  const first = total ? from + 1 : 0;
  const last = Math.min(from + size, total);
  const prev = h("button", { type: "button", disabled: from <= 0, onClick: () => onPage(Math.max(0, from - size)) }, labels[0]);
  const next = h("button", { type: "button", disabled: from + size >= total, onClick: () => onPage(from + size) }, labels[1]);
  return h(
    "div.pager",
    h("span.pager-text", total ? ["Showing ", number(first), "–", number(last), " of ", number(total)] : "No results"),
    h("span.pager-buttons", prev, next),
  );
}

export function pageHeader(title, { subtitle = null, actions = [], crumbs = [] } = {}) {
  return h(
    "div.page-header",
    crumbs.length ? h("nav.crumbs", { "aria-label": "Breadcrumb" }, crumbs.map(([label, href]) => h("a", { href }, label)).flatMap((a) => [a, h("span.sep", "/")]).slice(0, -1)) : null,
    h("div.page-title-row", h("h1", title), h("div.actions", actions)),
    subtitle ? h("div.subtitle", subtitle) : null,
  );
}

/** Let the browser save text we fetched with credentials (a plain link could not send them). */
export function saveText(text, filename, type) {
  const blob = new Blob([text], { type: type || "text/plain" });
  const href = URL.createObjectURL(blob);
  const a = h("a", { href, download: filename });
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(href), 10000);
}

/** A button that shows it is working while its async action runs. */
/** A Delete button: asks first, deletes `path`, says so on the next page (`goTo`), or shows the API's refusal. */
export function deleteButton({ title, body, path, deleted, goTo, navigate }) {
  return actionButton(
    "Delete",
    async () => {
      if (!(await confirmDialog({ title, body, confirm: "Delete" }))) return;
      try {
        await del(path);
        flash(deleted, "success", { keep: true });
        navigate(goTo);
      } catch (ex) {
        if (!(ex instanceof ApiError)) throw ex;
        flash(ex.readable, "error", { requestId: ex.requestId });
      }
    },
    { className: "danger" },
  );
}

export function actionButton(label, action, { className = "", type = "button", title = null } = {}) {
  const button = h("button", { type, class: className, title });
  button.textContent = label;
  button.addEventListener("click", async (event) => {
    if (button.disabled) return;
    event.preventDefault();
    button.disabled = true;
    button.classList.add("busy");
    try {
      await action(event);
    } finally {
      button.disabled = false;
      button.classList.remove("busy");
    }
  });
  return button;
}
