// HSMs page: the Managed HSMs the user can read on the management plane,
// with activation state and network rules, and a form to open an HSM by
// name (a user may hold data-plane roles only).
import { call, el, url } from "./app.js";

export async function render(main) {
  main.append(el("h1", {}, "Managed HSMs"));
  const open = el("form", { id: "open-hsm", onsubmit: (ev) => { ev.preventDefault(); location.hash = "#/keys?hsm=" + encodeURIComponent(ev.target.elements.hsmname.value.trim()); } },
    el("label", { for: "hsmname" }, "Open an HSM by name"), el("input", { id: "hsmname", name: "hsmname", required: "" }), " ", el("button", { type: "submit" }, "Open"));
  main.append(open);
  const table = el("table", { id: "hsm-table" }, el("caption", {}, "HSMs you can see on the management plane"),
    el("tr", {}, ...["Name", "Resource group", "Provisioning", "Activation", "Public access", "Network default", "IP rules"].map((h) => el("th", { scope: "col" }, h))));
  main.append(table);
  let subs;
  try {
    subs = await call("management", "GET", `${url("management")}/subscriptions?api-version=2022-12-01`);
  } catch (e) {
    table.append(el("tr", {}, el("td", { colspan: "7" }, "Management plane: " + e.message)));
    return;
  }
  let n = 0;
  for (const sub of subs.value || []) {
    const list = await call("management", "GET", `${url("management")}/subscriptions/${sub.subscriptionId}/providers/Microsoft.KeyVault/managedHSMs?api-version=2023-07-01`);
    for (const h of list.value || []) {
      const p = h.properties || {};
      const acl = p.networkAcls || {};
      const rg = (h.id.match(/resourceGroups\/([^/]+)/i) || [])[1] || "";
      table.append(el("tr", {},
        el("td", {}, el("a", { href: "#/keys?hsm=" + encodeURIComponent(h.name) }, h.name)), el("td", {}, rg),
        el("td", {}, p.provisioningState || ""), el("td", {}, (p.securityDomainProperties || {}).activationStatus || ""),
        el("td", {}, p.publicNetworkAccess || ""), el("td", {}, acl.defaultAction || "Allow"),
        el("td", {}, (acl.ipRules || []).map((r) => r.value).join(", ") || "—")));
      n++;
    }
  }
  if (n === 0) table.append(el("tr", {}, el("td", { colspan: "7" }, "No HSM is visible to you on the management plane.")));
}
