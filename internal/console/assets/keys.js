// Keys page: the keys of one HSM with type, versions, enabled, expiry
// (highlighted within 30 days), rotation policy and tags; create, rotate
// and disable for those allowed.
import { hsmCall, el, status } from "./app.js";
import { allowed } from "./allowed.js";

const SOON = 30 * 24 * 3600 * 1000;

function nameOf(kid) { return kid.split("/keys/")[1].split("/")[0]; }

export async function render(main, hsm) {
  main.append(el("h1", {}, `Keys of ${hsm}`));
  const can = await allowed(hsm, ["keys/create", "keys/rotate/action", "keys/write/action"]);
  if (can["keys/create"] !== false) {
    main.append(el("form", { id: "create-key", onsubmit: (ev) => act(ev, () => hsmCall(hsm, "POST", `/keys/${encodeURIComponent(ev.target.elements.keyname.value.trim())}/create`, { kty: ev.target.elements.kty.value })) },
      el("label", { for: "keyname" }, "New key name"), el("input", { id: "keyname", name: "keyname", required: "", pattern: "[A-Za-z0-9-]{1,127}" }), " ",
      el("label", { for: "kty" }, "Type"), el("select", { id: "kty", name: "kty" }, el("option", {}, "EC-HSM"), el("option", {}, "RSA-HSM"), el("option", {}, "oct-HSM")), " ",
      el("button", { type: "submit", id: "create-button" }, "Create key")));
  }
  const table = el("table", { id: "key-table" }, el("caption", {}, "Keys"),
    el("tr", {}, ...["Name", "Type", "Versions", "Enabled", "Expires", "Rotation policy", "Tags", "Actions"].map((h) => el("th", { scope: "col" }, h))));
  main.append(table);
  const list = await hsmCall(hsm, "GET", "/keys");
  for (const k of list.value || []) {
    const name = nameOf(k.kid);
    const [key, versions, policy] = await Promise.all([
      hsmCall(hsm, "GET", `/keys/${name}`),
      hsmCall(hsm, "GET", `/keys/${name}/versions`).catch(() => null),
      hsmCall(hsm, "GET", `/keys/${name}/rotationpolicy`).catch(() => null)]);
    const a = key.attributes || {};
    const exp = a.exp ? new Date(a.exp * 1000) : null;
    const soon = exp && exp - Date.now() < SOON;
    const actions = el("td", {});
    if (can["keys/rotate/action"] !== false) actions.append(el("button", { type: "button", "data-rotate": name, onclick: (ev) => act(ev, () => hsmCall(hsm, "POST", `/keys/${name}/rotate`, {})) }, `Rotate ${name}`), " ");
    if (can["keys/write/action"] !== false && a.enabled) actions.append(el("button", { type: "button", "data-disable": name, onclick: (ev) => act(ev, () => hsmCall(hsm, "PATCH", `/keys/${name}`, { attributes: { enabled: false } })) }, `Disable ${name}`));
    const rules = policy && (policy.lifetimeActions || []).map((l) => `${l.action.type} ${l.trigger.timeAfterCreate || l.trigger.timeBeforeExpiry || ""}`).join("; ");
    table.append(el("tr", { "data-key": name },
      el("td", {}, name), el("td", {}, key.key.kty), el("td", { "data-versions": name }, versions ? String((versions.value || []).length) : "—"),
      el("td", {}, a.enabled ? "yes" : "no"),
      el("td", soon ? { class: "soon", title: "expires within 30 days" } : {}, exp ? exp.toISOString().slice(0, 10) + (soon ? " (soon)" : "") : "never"),
      el("td", {}, rules || "none"),
      el("td", { class: "tag" }, Object.entries(k.tags || {}).map(([t, v]) => `${t}=${v}`).join(", ")),
      actions));
  }
  if (!(list.value || []).length) table.append(el("tr", {}, el("td", { colspan: "8" }, "No keys.")));
}

async function act(ev, fn) {
  ev.preventDefault();
  try {
    await fn();
    status("Done.");
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } catch (e) {
    status(`Refused: ${e.message}`, true);
  }
}
