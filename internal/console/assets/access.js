// Access matrix: principals (groups expanded) × data actions at a chosen
// scope, each cell naming the role assignment that grants it, from the
// access review API (POST /mhsm/access/whocan).
import { hsmCall, el } from "./app.js";
import { P } from "./allowed.js";

const ACTIONS = ["keys/read/action", "keys/create", "keys/rotate/action", "keys/write/action", "keys/delete", "keys/sign/action",
  "keys/encrypt/action", "keys/wrap/action", "keys/backup/action", "roleAssignments/read/action", "roleAssignments/write/action"];

export async function render(main, hsm) {
  const scope = new URLSearchParams(location.hash.split("?")[1] || "").get("scope") || "/";
  main.append(el("h1", {}, `Access matrix of ${hsm}`),
    el("form", { onsubmit: (ev) => { ev.preventDefault(); location.hash = `#/access?hsm=${encodeURIComponent(hsm)}&scope=${encodeURIComponent(ev.target.elements.scope.value)}`; } },
      el("label", { for: "scope" }, "Scope (/, /keys or /keys/name)"), el("input", { id: "scope", name: "scope", value: scope }), " ", el("button", { type: "submit" }, "Show")));
  const rows = new Map(); // principal → {label, cells: action → grant}
  for (const a of ACTIONS) {
    const r = await hsmCall(hsm, "POST", "/mhsm/access/whocan", { action: P + a, scope });
    for (const g of r.value || []) {
      const key = g.principalId || g.assignee;
      if (!rows.has(key)) rows.set(key, { label: `${g.principalType || "principal"} ${key}`, cells: {} });
      rows.get(key).cells[a] = g;
    }
  }
  const table = el("table", { id: "access-matrix" }, el("caption", {}, `Who can do what at ${scope}`),
    el("tr", {}, el("th", { scope: "col" }, "Principal"), ...ACTIONS.map((a) => el("th", { scope: "col" }, a.replace("/action", "")))));
  for (const [, row] of [...rows].sort()) {
    table.append(el("tr", {}, el("th", { scope: "row" }, row.label), ...ACTIONS.map((a) => {
      const g = row.cells[a];
      if (!g) return el("td", { class: "no" }, "—");
      const role = (g.roleName || g.roleDefinitionId).replace(/^Managed HSM /, "");
      const via = g.via ? ` via group …${g.via.slice(-6)}` : "";
      return el("td", { class: "yes", title: `assignment ${g.assignmentId} at ${g.scope}${g.via ? ", through group " + g.via : ""}` },
        `✓ ${role}${via}`, el("br"), el("small", {}, `assignment …${g.assignmentId.slice(-8)}`));
    })));
  }
  if (!rows.size) table.append(el("tr", {}, el("td", { colspan: String(ACTIONS.length + 1) }, "Nobody.")));
  main.append(table);
}
