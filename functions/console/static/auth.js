// Who the console calls the API as. Four modes, chosen by /console/config.json:
//  header       the local run's default: a tenant picker, sent as X-Tenant-ID (every role, no name)
//  token        LOCAL_AUTH=jwt: there is no local identity provider, so a pasted `make token`
//  oauth        deployed: the identity provider's sign-in, authorization code with PKCE (S256)
//  unconfigured deployed without the Console* stack parameters: says what to set
import { h } from "./dom.js";

const TENANT_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const KEYS = {
  tenant: "smc.tenant",
  tenants: "smc.tenants",
  token: "smc.token",
  pkce: "smc.pkce",
};
const REMEMBERED = 8;

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function s256(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** A JWT's claims, for display and expiry only: the API's authorizer is what verifies it. */
export function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part.padEnd(Math.ceil(part.length / 4) * 4, "=")), (c) =>
      c.charCodeAt(0),
    );
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

function claim(claims, name) {
  if (!claims) return undefined;
  if (name in claims) return claims[name];
  return name.split(".").reduce((value, key) => (value && typeof value === "object" ? value[key] : undefined), claims);
}

function asList(value) {
  if (Array.isArray(value)) return value.map(String);
  return typeof value === "string" ? value.split(/[\s,]+/).filter(Boolean) : [];
}

class HeaderAuth {
  mode = "header";
  needsNames = true; // nothing authenticates a name here: approve sends the name typed

  constructor() {
    this.tenant = localStorage.getItem(KEYS.tenant);
  }

  get ready() {
    return Boolean(this.tenant);
  }

  headers() {
    return this.tenant ? { "X-Tenant-ID": this.tenant } : {};
  }

  remembered() {
    try {
      return JSON.parse(localStorage.getItem(KEYS.tenants) || "[]").filter((t) => TENANT_PATTERN.test(t));
    } catch {
      return [];
    }
  }

  use(tenant) {
    this.tenant = tenant;
    localStorage.setItem(KEYS.tenant, tenant);
    const list = [tenant, ...this.remembered().filter((t) => t !== tenant)].slice(0, REMEMBERED);
    localStorage.setItem(KEYS.tenants, JSON.stringify(list));
  }

  signOut() {
    this.tenant = null;
    localStorage.removeItem(KEYS.tenant);
  }

  describe() {
    return [h("span", {}, "Tenant "), h("strong", { id: "current-tenant" }, this.tenant), h("span", { class: "muted" }, " · header mode: every role")];
  }

  form(done) {
    const input = h("input", {
      id: "tenant",
      name: "tenant",
      list: "known-tenants",
      required: true,
      pattern: "[A-Za-z0-9._:\\-]{1,128}", // TENANT_PATTERN, as the v-flag regexp HTML uses
      placeholder: "acme",
      autocomplete: "off",
      value: this.tenant || this.remembered()[0] || "",
    });
    const error = h("p", { class: "error", hidden: true });
    const pick = (tenant) => {
      if (!TENANT_PATTERN.test(tenant)) {
        error.hidden = false;
        error.textContent = "A tenant id is 1-128 letters, digits and . _ : -";
        return;
      }
      this.use(tenant);
      done();
    };
    const remembered = this.remembered();
    return h(
      "form",
      { class: "sign-in", id: "tenant-picker", onsubmit: (event) => (event.preventDefault(), pick(input.value.trim())) },
      h("h2", {}, "Choose a tenant"),
      h(
        "p",
        { class: "muted" },
        "This local run trusts the X-Tenant-ID header (header mode): the tenant you name is sent with every call, with every role. ",
        "LOCAL_AUTH=jwt make run runs the deployed authorizer instead.",
      ),
      h("label", { for: "tenant" }, "Tenant id"),
      input,
      h("datalist", { id: "known-tenants" }, remembered.map((t) => h("option", { value: t }))),
      h("button", { type: "submit", class: "primary", id: "use-tenant" }, "Use this tenant"),
      remembered.length
        ? h("p", { class: "remembered" }, "Recent: ", remembered.map((t) => h("button", { type: "button", class: "link", onclick: () => pick(t) }, t)))
        : null,
      error,
    );
  }
}

class TokenAuth {
  mode = "token";
  needsNames = false; // the token's principal is who acted

  constructor(config) {
    this.config = config;
    this.token = sessionStorage.getItem(KEYS.token);
    this.claims = this.token ? claimsOf(this.token) : null;
  }

  get ready() {
    return Boolean(this.token && this.claims && (!this.claims.exp || this.claims.exp * 1000 > Date.now()));
  }

  headers() {
    return this.token ? { Authorization: `Bearer ${this.token}` } : {};
  }

  store(token) {
    const claims = claimsOf(token);
    if (!claims) throw new Error("that is not a JWT (three base64url parts separated by dots)");
    this.token = token;
    this.claims = claims;
    sessionStorage.setItem(KEYS.token, token);
  }

  signOut() {
    this.token = null;
    this.claims = null;
    sessionStorage.removeItem(KEYS.token);
  }

  describe() {
    const who = this.claims.email || this.claims.sub || "?";
    const tenant = claim(this.claims, this.config.tenant_claim) ?? "?";
    const roles = asList(claim(this.claims, this.config.roles_claim)).join(", ") || "no roles";
    return [
      h("span", {}, "Signed in as "),
      h("strong", { id: "current-principal" }, who),
      h("span", { class: "muted" }, ` · tenant ${tenant} · ${roles}`),
    ];
  }

  form(done) {
    const area = h("textarea", { id: "token", rows: 5, required: true, placeholder: "eyJhbGciOi…", spellcheck: "false" });
    const error = h("p", { class: "error", hidden: true });
    const submit = (event) => {
      event.preventDefault();
      try {
        this.store(area.value.trim().replace(/^Bearer\s+/i, ""));
        done();
      } catch (failure) {
        error.hidden = false;
        error.textContent = failure.message;
      }
    };
    return h(
      "form",
      { class: "sign-in", id: "token-form", onsubmit: submit },
      h("h2", {}, "Paste a token"),
      h(
        "p",
        {},
        "This local run checks every call with the deployed stack's authorizer (LOCAL_AUTH=jwt) but has no identity provider to sign in with, ",
        "so the console takes a token you paste. Print one with:",
      ),
      h("pre", {}, "make -s token TENANT=acme ROLE=operator,viewer,approver SUB=ana"),
      h("p", { class: "muted" }, "Deployed, the console signs in with the identity provider instead. The token stays in this tab only (session storage)."),
      h("label", { for: "token" }, "Token"),
      area,
      h("button", { type: "submit", class: "primary", id: "use-token" }, "Use this token"),
      error,
    );
  }
}

class OAuthAuth extends TokenAuth {
  mode = "oauth";

  redirectUri() {
    return `${location.origin}${location.pathname}`;
  }

  async signIn() {
    const verifier = randomString(48);
    const state = randomString(16);
    sessionStorage.setItem(KEYS.pkce, JSON.stringify({ verifier, state, back: location.hash }));
    const url = new URL(this.config.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: this.config.client_id,
      redirect_uri: this.redirectUri(),
      scope: this.config.scope,
      state,
      code_challenge: await s256(verifier),
      code_challenge_method: "S256",
    }).toString();
    location.assign(url.toString());
  }

  /** Back from the identity provider with ?code&state: exchange the code for tokens (PKCE). */
  async completeSignIn() {
    const params = new URLSearchParams(location.search);
    if (!params.has("code") && !params.has("error")) return;
    const saved = JSON.parse(sessionStorage.getItem(KEYS.pkce) || "null");
    sessionStorage.removeItem(KEYS.pkce);
    history.replaceState(null, "", `${location.pathname}${saved?.back || ""}`);
    if (params.has("error")) {
      throw new Error(`sign-in failed: ${params.get("error_description") || params.get("error")}`);
    }
    if (!saved || saved.state !== params.get("state")) {
      throw new Error("sign-in failed: the answer does not match a sign-in this tab started");
    }
    const response = await fetch(this.config.token_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: params.get("code"),
        client_id: this.config.client_id,
        redirect_uri: this.redirectUri(),
        code_verifier: saved.verifier,
      }),
      credentials: "omit",
    });
    const tokens = await response.json().catch(() => ({}));
    if (!response.ok || !tokens.id_token) {
      throw new Error(`sign-in failed: the token endpoint answered ${response.status} ${tokens.error || ""}`);
    }
    // The ID token: its aud is this client, which the API's authorizer accepts (AuthAudience).
    this.store(tokens.id_token);
  }

  form() {
    return h(
      "div",
      { class: "sign-in", id: "oauth-sign-in" },
      h("h2", {}, "Sign in"),
      h("p", {}, "The console calls the API with your identity provider's token: your tenant and roles come from it."),
      h("button", { type: "button", class: "primary", id: "sign-in", onclick: () => this.signIn() }, "Sign in"),
    );
  }
}

class UnconfiguredAuth {
  mode = "unconfigured";
  ready = false;
  needsNames = false;

  headers() {
    return {};
  }

  signOut() {}

  describe() {
    return [];
  }

  form() {
    return h(
      "div",
      { class: "sign-in" },
      h("h2", {}, "Sign-in is not configured"),
      h(
        "p",
        {},
        "Set the stack parameters ConsoleAuthorizationEndpoint and ConsoleTokenEndpoint (and ConsoleClientId unless it is AuthAudience), ",
        "and register this page's URL as the client's callback URL: docs/operations.md, “Review console”.",
      ),
    );
  }
}

export function createAuth(config) {
  switch (config.mode) {
    case "header":
      return new HeaderAuth();
    case "token":
      return new TokenAuth(config);
    case "oauth":
      return new OAuthAuth(config); // app.js completes a sign-in the URL brings back
    default:
      return new UnconfiguredAuth();
  }
}
