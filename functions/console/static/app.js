// The review console: sign-in, then the plans and a plan's review, routed by the URL's hash
// (#/plans, #/plans?scenario=…&status=…, #/plans/<id>). Talks only to this origin's /api/v1.
import { createApi } from "./api.js";
import { createAuth } from "./auth.js";
import { h, replace } from "./dom.js";
import { showPlans } from "./plans.js";
import { showPlan } from "./review.js";

const main = document.getElementById("main");
const identity = document.getElementById("identity");
const notice = document.getElementById("notice");
let ctx = null;
let leave = null;
let navigation = 0;

function notify(message, kind = "info") {
  notice.hidden = !message;
  notice.className = `notice ${kind}`;
  replace(notice, message || "");
}

function renderIdentity() {
  const { auth } = ctx;
  if (!auth.ready) return replace(identity);
  const out = () => {
    auth.signOut();
    route();
  };
  return replace(identity, ...auth.describe(), " ", h("button", { type: "button", class: "link", id: "sign-out", onclick: out }, auth.mode === "header" ? "switch tenant" : "sign out"));
}

async function route() {
  leave?.();
  leave = null;
  const turn = ++navigation;
  const isCurrent = () => turn === navigation;
  renderIdentity();
  if (!ctx.auth.ready) {
    replace(main, ctx.auth.form(() => route()));
    return;
  }
  const hash = location.hash || "#/plans";
  const plan = hash.match(/^#\/plans\/([^?]+)$/);
  try {
    const stop = plan
      ? await showPlan(main, ctx, decodeURIComponent(plan[1]), isCurrent)
      : await showPlans(main, ctx, new URLSearchParams(hash.split("?")[1] || ""));
    if (isCurrent()) leave = stop;
    else stop();
  } catch (error) {
    if (!isCurrent()) return;
    replace(
      main,
      h("section", { class: "panel error-panel" }, h("h2", {}, "Could not load this"), h("p", { id: "load-error" }, error.message), h("a", { href: "#/plans" }, "Back to the plans")),
    );
  }
}

async function boot() {
  let config;
  try {
    const response = await fetch(new URL("console/config.json", location.href), { cache: "no-store" });
    config = await response.json();
  } catch (error) {
    replace(main, h("p", { class: "error" }, `The console's settings did not load: ${error.message}`));
    return;
  }
  const auth = createAuth(config);
  if (auth.completeSignIn) await auth.completeSignIn().catch((error) => notify(error.message, "error"));
  const expired = () => {
    auth.signOut();
    notify("The API refused these credentials (missing, invalid or expired): sign in again.", "error");
    route();
  };
  ctx = { config, auth, api: createApi(auth, expired), notify };
  window.addEventListener("hashchange", () => {
    notify("");
    route();
  });
  await route();
  document.body.dataset.ready = "true";
}

boot();
