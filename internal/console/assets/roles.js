// Role assignments and definitions of one HSM, with add and remove for
// those allowed.
import { hsmCall, el, status } from "./app.js";
import { allowed } from "./allowed.js";

const RA = "/providers/Microsoft.Authorization/roleAssignments";
const RD = "/providers/Microsoft.Authorization/roleDefinitions";

export async function render(main, hsm) {
  main.append(el("h1", {}, `Role assignments of ${hsm}`));
  const [ras, rds, can] = await Promise.all([hsmCall(hsm, "GET", RA), hsmCall(hsm, "GET", RD),
    allowed(hsm, ["roleAssignments/write/action", "roleAssignments/delete/action"])]);
  const names = new Map((rds.value || []).map((d) => [d.id, d.properties.roleName]));
  if (can["roleAssignments/write/action"] !== false) {
    const sel = el("select", { id: "role", name: "role" }, ...(rds.value || []).map((d) => el("option", { value: d.id }, d.properties.roleName)));
    main.append(el("form", { id: "add-assignment", onsubmit: (ev) => act(ev, () => hsmCall(hsm, "PUT", `${ev.target.elements.scope.value === "/" ? "" : ev.target.elements.scope.value}${RA}/${crypto.randomUUID()}`,
      { properties: { roleDefinitionId: ev.target.elements.role.value, principalId: ev.target.elements.principal.value.trim() } })) },
      el("label", { for: "principal" }, "Principal object id"), el("input", { id: "principal", name: "principal", required: "" }), " ",
      el("label", { for: "role" }, "Role"), sel, " ",
      el("label", { for: "ra-scope" }, "Scope"), el("input", { id: "ra-scope", name: "scope", value: "/" }), " ",
      el("button", { type: "submit" }, "Add assignment")));
  }
  const t = el("table", { id: "assignments" }, el("caption", {}, "Assignments"),
    el("tr", {}, ...["Principal", "Role", "Scope", "Assignment", ""].map((h) => el("th", { scope: "col" }, h))));
  for (const a of ras.value || []) {
    const p = a.properties;
    const cell = el("td", {});
    if (can["roleAssignments/delete/action"] !== false) {
      cell.append(el("button", { type: "button", "data-remove-principal": p.principalId, "aria-label": `Remove ${names.get(p.roleDefinitionId) || "role"} of ${p.principalId}`, onclick: (ev) => act(ev, () => hsmCall(hsm, "DELETE", `${p.scope === "/" ? "" : p.scope}${RA}/${a.name}`)) }, "Remove"));
    }
    t.append(el("tr", {}, el("td", {}, p.principalId), el("td", {}, names.get(p.roleDefinitionId) || p.roleDefinitionId), el("td", {}, p.scope), el("td", {}, a.name), cell));
  }
  main.append(t);
  const d = el("table", { id: "definitions" }, el("caption", {}, "Role definitions"),
    el("tr", {}, ...["Role", "Type", "Data actions"].map((h) => el("th", { scope: "col" }, h))));
  for (const r of rds.value || []) {
    const perms = (r.properties.permissions || []).flatMap((x) => x.dataActions || []);
    d.append(el("tr", {}, el("td", {}, r.properties.roleName), el("td", {}, r.properties.type), el("td", { class: "tag" }, perms.join(", "))));
  }
  main.append(d);
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
