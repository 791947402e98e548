// The page's shell: sign-in, navigation, routing (#/…), polling, messages.
import { ApiError, AUTH_MODE, can, credentials, currentPrincipal, forget, onUnauthorized, whoami } from "./api.js";
import { fill, h } from "./dom.js";
import { ingestionForm } from "./form-ingestion.js";
import { datasourceForm } from "./form-datasource.js";
import { datasourcePage, datasourcesPage } from "./page-datasources.js";
import { ingestionPage, ingestionsPage } from "./page-ingestions.js";
import { jobPage } from "./page-job.js";
import { jobsPage } from "./page-jobs.js";
import { flash, clearFlash } from "./ui.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

const SECTIONS = [
  { label: "Jobs", href: "#/jobs", scope: "job:read", match: "jobs" },
  { label: "Ingestions", href: "#/ingestions", scope: "admin", match: "ingestions" },
  { label: "Datasources", href: "#/datasources", scope: "admin", match: "datasources" },
];

// [pattern, page]; a page is async (ctx) => void and renders into ctx.main.
const ROUTES = [
  [/^jobs$/, jobsPage],
  [/^jobs\/ingestion\/([^/]+)$/, jobPage],
  [/^jobs\/ingestion\/([^/]+)\/runs\/([^/]+)$/, jobPage],
  [/^ingestions$/, ingestionsPage],
  [/^ingestions\/_new$/, (ctx) => ingestionForm(ctx, null)],
  [/^ingestions\/([^/]+)\/edit$/, (ctx) => ingestionForm(ctx, ctx.params[0])],
  [/^ingestions\/([^/]+)$/, ingestionPage],
  [/^datasources$/, datasourcesPage],
  [/^datasources\/_new$/, (ctx) => datasourceForm(ctx, null)],
  [/^datasources\/([^/]+)\/edit$/, (ctx) => datasourceForm(ctx, ctx.params[0])],
  [/^datasources\/([^/]+)$/, datasourcePage],
];

let generation = 0;
let cleanups = [];
let signInReason = null;
let signingIn = false;

function parseHash() {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [path, search] = raw.split("?");
  return { path: path.replace(/\/+$/, ""), query: new URLSearchParams(search || "") };
}

/** Go to a page of the app; `query` (an object) becomes the hash's query string. */
export function navigate(path, query) {
  const search = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v != null)) : null;
  const hash = `#/${path}${search && [...search].length ? `?${search}` : ""}`;
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
}

function context(path, params, query) {
  const mine = ++generation;
  const alive = () => mine === generation;
  return {
    main,
    path,
    params: params.map(decodeURIComponent),
    query,
    alive,
    navigate,
    onLeave(fn) {
      cleanups.push(fn);
    },
    /**
     * Call fn now and then every `ms` (after it settles) until the page is left.
     * Pauses while the tab is hidden; `ms` may be a function for an adaptive interval.
     * Returns `{ wake }`: call fn again at once (after the call under way, if any), then
     * every `ms` as it is now — e.g. after a click that made a job active.
     */
    every(ms, fn, { immediate = true } = {}) {
      let timer = null;
      let busy = false;
      let again = false;
      const next = () => (typeof ms === "function" ? ms() : ms);
      const schedule = (delay) => {
        window.clearTimeout(timer);
        if (alive()) timer = window.setTimeout(tick, delay);
      };
      const tick = async () => {
        if (!alive()) return;
        busy = true;
        again = false;
        if (!document.hidden) {
          try {
            await fn();
          } catch (ex) {
            if (alive()) reportError(ex);
          }
        }
        busy = false;
        schedule(again ? 0 : next());
      };
      cleanups.push(() => window.clearTimeout(timer));
      if (immediate) tick();
      else schedule(next());
      return {
        wake() {
          if (busy) again = true;
          else schedule(0);
        },
      };
    },
  };
}

/** Show an error where the page is; 401s are handled by the sign-in form. */
export function reportError(ex) {
  if (ex instanceof ApiError && ex.status === 401) return;
  if (!(ex instanceof ApiError)) console.error(ex); // a bug of the page: its detail for the console
  flash(ex instanceof ApiError ? ex.readable : `Unexpected error in the page: ${ex.message}`, "error", {
    requestId: ex instanceof ApiError ? ex.requestId : null,
  });
}

function renderNav(path) {
  const section = path.split("/")[0] || "jobs";
  if (!currentPrincipal()) {
    fill(nav);
    fill(who);
    return;
  }
  fill(
    nav,
    SECTIONS.map((s) => {
      const current = section === s.match;
      if (!can(s.scope)) {
        return h(
          "span.nav-item.disabled",
          { title: `Needs the ${s.scope} scope`, "aria-disabled": "true", dataset: { requiresScope: s.scope } },
          s.label,
        );
      }
      return h("a.nav-item", { href: s.href, class: current ? "current" : "", "aria-current": current ? "page" : null }, s.label);
    }),
  );
  const principal = currentPrincipal();
  fill(
    who,
    h("span.who-name", { title: `auth mode: ${principal.auth_mode}` }, principal.name),
    principal.scopes.map((s) => h("span.scope", s)),
    AUTH_MODE === "none"
      ? h("span.muted.small", { title: "auth.mode = none: anyone who reaches the service may do everything" }, "no sign-in")
      : h("button.link", { type: "button", onClick: signOut }, "Sign out"),
  );
}

function runCleanups() {
  for (const fn of cleanups) fn();
  cleanups = [];
}

async function route() {
  runCleanups();
  const { path, query } = parseHash();
  if (AUTH_MODE !== "none" && !credentials.get()) {
    showSignIn(path);
    return;
  }
  if (!currentPrincipal()) {
    try {
      await whoami();
    } catch (ex) {
      if (ex instanceof ApiError && ex.status === 401) return; // onUnauthorized shows the form
      fill(main, h("div.notice.error", ex instanceof ApiError ? ex.readable : String(ex)));
      return;
    }
  }
  if (path === "signin" || path === "") {
    navigate("jobs");
    return;
  }
  renderNav(path);
  clearFlash();
  for (const [pattern, page] of ROUTES) {
    const match = pattern.exec(path);
    if (!match) continue;
    const ctx = context(path, match.slice(1), query);
    fill(main, h("p.muted.loading", "Loading…"));
    try {
      await page(ctx);
    } catch (ex) {
      if (!ctx.alive()) return;
      if (ex instanceof ApiError && ex.status === 401) return;
      fill(main, h("div.notice.error", ex instanceof ApiError ? ex.readable : `The page failed: ${ex.message}`));
      if (!(ex instanceof ApiError)) console.error(ex);
    }
    return;
  }
  fill(main, h("div.notice", "No such page. ", h("a", { href: "#/jobs" }, "Go to the jobs.")));
}

// ------------------------------------------------------------------ sign-in

function showSignIn(returnTo) {
  runCleanups(); // the page it replaces stops polling and closes its questions
  generation++;
  renderNav("");
  fill(who);
  const reason = signInReason;
  signInReason = null;
  const error = h("p.field-error", { id: "signin-error", role: "alert" }, reason || "");
  error.hidden = !reason;
  const inputs =
    AUTH_MODE === "token"
      ? [
          h("label", { for: "signin-token" }, "API token"),
          h("input#signin-token", {
            type: "password",
            name: "token",
            autocomplete: "off",
            spellcheck: "false",
            required: true,
            placeholder: "cst_…",
          }),
          h("p.help", "A token from ", h("code", "connector token create"), ". It is kept in this tab only and sent as ", h("code", "Authorization: Bearer"), "."),
        ]
      : [
          h("label", { for: "signin-user" }, "User name"),
          h("input#signin-user", { type: "text", name: "username", autocomplete: "username", required: true }),
          h("label", { for: "signin-password" }, "Password"),
          h("input#signin-password", { type: "password", name: "password", autocomplete: "current-password", required: true }),
          h("p.help", "Kept in this tab only and sent as HTTP basic credentials."),
        ];
  const submit = h("button.primary", { type: "submit" }, "Sign in");
  const form = h(
    "form.signin.card",
    {
      onSubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        if (AUTH_MODE === "token") credentials.setToken(form.elements.token.value);
        else credentials.setBasic(form.elements.username.value, form.elements.password.value);
        signingIn = true;
        try {
          await whoami();
        } catch (ex) {
          forget();
          submit.disabled = false;
          error.hidden = false;
          error.textContent =
            ex instanceof ApiError && ex.status === 401
              ? `The service refused these credentials (${ex.message}).`
              : ex instanceof ApiError
                ? ex.readable
                : String(ex);
          return;
        } finally {
          signingIn = false;
        }
        navigate(returnTo && returnTo !== "signin" ? returnTo : "jobs");
      },
    },
    h("h1", "Sign in"),
    h("p.muted", `This service requires ${AUTH_MODE === "token" ? "an API token" : "a user name and password"}.`),
    error,
    inputs,
    h("div.actions", submit),
  );
  fill(main, form);
  form.querySelector("input").focus();
}

function signOut() {
  forget();
  navigate("signin");
}

onUnauthorized((ex) => {
  if (signingIn) return; // the sign-in form says it itself
  forget();
  signInReason = `Please sign in again: ${ex.message}.`;
  showSignIn(parseHash().path); // which stops the page it replaces
});

window.addEventListener("hashchange", route);
route();
