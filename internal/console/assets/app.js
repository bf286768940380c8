// The console's core: sign-in (authorization code + PKCE S256 on
// login.<domain>), tokens kept in memory only (never in any storage),
// calls to the public APIs with them, and hash routing to the page
// modules. Only the PKCE verifier and state survive the redirect to the
// login page, in sessionStorage; they are removed when the code returns.
import * as hsms from "./hsms.js";
import * as keys from "./keys.js";
import * as access from "./access.js";
import * as roles from "./roles.js";
import * as audit from "./audit.js";

export const CLIENT_ID = "6d68736d-636c-4900-8000-000000000002";
const domainPort = location.host.replace(/^console\./, "");
export const url = (sub) => `https://${sub}.${domainPort}`;
const domain = location.hostname.replace(/^console\./, "");

const tokens = {}; // resource → promise of an access token (memory only)
let refreshToken = "";
let tenant = "";
export let me = { oid: "", upn: "" };

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function random() { return b64url(crypto.getRandomValues(new Uint8Array(32))); }

async function signIn(t) {
  const verifier = random(), state = random();
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem("mhsm.pkce", JSON.stringify({ verifier, state, tenant: t }));
  const q = new URLSearchParams({ client_id: CLIENT_ID, response_type: "code", redirect_uri: location.origin + "/callback",
    scope: url("managedhsm") + "/.default openid offline_access", state, code_challenge: challenge, code_challenge_method: "S256" });
  location.assign(`${url("login")}/${encodeURIComponent(t)}/oauth2/v2.0/authorize?${q}`);
}

async function tokenRequest(form) {
  const r = await fetch(`${url("login")}/${encodeURIComponent(tenant)}/oauth2/v2.0/token`, { method: "POST", body: new URLSearchParams(form) });
  const b = await r.json();
  if (!r.ok) throw new Error(b.error_description || b.error || r.status);
  if (b.refresh_token) refreshToken = b.refresh_token;
  return b.access_token;
}

async function finishSignIn() {
  const q = new URLSearchParams(location.search);
  const saved = JSON.parse(sessionStorage.getItem("mhsm.pkce") || "null");
  sessionStorage.removeItem("mhsm.pkce");
  history.replaceState(null, "", "/#/hsms");
  if (q.get("error")) throw new Error(q.get("error_description") || q.get("error"));
  if (!saved || !q.get("code") || q.get("state") !== saved.state) throw new Error("The sign-in answer did not match this page's request.");
  tenant = saved.tenant;
  const at = await tokenRequest({ grant_type: "authorization_code", client_id: CLIENT_ID, code: q.get("code"),
    redirect_uri: location.origin + "/callback", code_verifier: saved.verifier, scope: url("managedhsm") + "/.default openid" });
  tokens.managedhsm = Promise.resolve(at);
  const claims = JSON.parse(atob(at.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  me = { oid: claims.oid, upn: claims.upn || claims.oid };
}

// token returns an access token for resource ("managedhsm", "management"),
// redeeming the in-memory refresh token for a new audience.
// Refresh tokens are single-use and rotate with every redemption, so
// redemptions run one after another (refreshes), and concurrent callers
// share one pending token (tokens holds promises).
let refreshes = Promise.resolve();
function token(resource) {
  if (!tokens[resource]) {
    const p = refreshes.then(() => tokenRequest({ grant_type: "refresh_token", client_id: CLIENT_ID, refresh_token: refreshToken, scope: url(resource) + "/.default" }));
    refreshes = p.catch(() => {});
    tokens[resource] = p;
    p.catch(() => { if (tokens[resource] === p) delete tokens[resource]; });
  }
  return tokens[resource];
}

// ApiError is a refused or failed call, with the service's message.
export class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// call makes an API call as the signed-in user. base is a full URL.
export async function call(resource, method, target, body) {
  const init = { method, headers: { Authorization: "Bearer " + await token(resource) } };
  if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(target, init);
  const text = await r.text();
  const b = text ? JSON.parse(text) : null;
  if (!r.ok) {
    const e = (b && b.error) || {};
    throw new ApiError(r.status, e.code || String(r.status), e.message || r.statusText);
  }
  return b;
}

// hsmCall calls the data plane of HSM name.
export function hsmCall(name, method, path, body) {
  const sep = path.includes("?") ? "&" : "?";
  return call("managedhsm", method, `${url(name + ".managedhsm")}${path}${sep}api-version=7.6`, body);
}

// el builds an element: el("td", {class: "x"}, "text", child…).
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return e;
}

export function status(msg, isError) {
  const s = document.getElementById("status");
  s.textContent = msg;
  s.className = isError ? "error" : "";
}

// currentHSM is the HSM the pages show (from the route's ?hsm=).
export function currentHSM() {
  return new URLSearchParams(location.hash.split("?")[1] || "").get("hsm") || "";
}

const pages = { "#/hsms": hsms, "#/keys": keys, "#/access": access, "#/roles": roles, "#/audit": audit };

async function route() {
  const path = location.hash.split("?")[0] || "#/hsms";
  const page = pages[path] || hsms;
  const main = document.getElementById("main");
  const hsm = currentHSM();
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.hasAttribute("data-hsm")) a.hidden = !hsm;
    const base = a.getAttribute("href").split("?")[0];
    if (a.hasAttribute("data-hsm") && hsm) a.setAttribute("href", `${base}?hsm=${encodeURIComponent(hsm)}`);
    if (base === path) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  status("Loading…");
  try {
    await page.render(main, hsm);
    status("");
  } catch (e) {
    status(e.message, true);
  }
  main.focus();
}

async function start() {
  document.getElementById("tenant").value = domain;
  document.getElementById("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    signIn(document.getElementById("tenant").value.trim()).catch((e) => status(e.message, true));
  });
  if (location.pathname !== "/callback") return;
  try {
    await finishSignIn();
  } catch (e) {
    status("Sign-in failed: " + e.message, true);
    return;
  }
  document.getElementById("nav").hidden = false;
  document.getElementById("who").textContent = "Signed in as " + me.upn;
  window.addEventListener("hashchange", route);
  await route();
}

start();
