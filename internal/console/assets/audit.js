// Audit timeline of one HSM: its records filtered by time, principal,
// operation and result (GET /mhsm/audit/events), the verdict of verifying
// its hash chain, and a chart of requests and denials over time in plain
// SVG.
import { hsmCall, el } from "./app.js";

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

const denied = (r) => r.status === 401 || r.status === 403;

export async function render(main, hsm) {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  main.append(el("h1", {}, `Audit timeline of ${hsm}`));
  const form = el("form", { id: "audit-filter", onsubmit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams({ hsm });
    for (const name of ["since", "until", "principal", "operation", "result"]) {
      let v = ev.target.elements[name].value.trim();
      if (v && (name === "since" || name === "until")) v = new Date(v).toISOString();
      if (v) p.set(name, v);
    }
    location.hash = "#/audit?" + p;
  } });
  const local = (iso) => (iso ? new Date(new Date(iso) - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 16) : "");
  form.append(
    el("label", { for: "since" }, "From"), el("input", { id: "since", name: "since", type: "datetime-local", value: local(q.get("since")) }), " ",
    el("label", { for: "until" }, "To"), el("input", { id: "until", name: "until", type: "datetime-local", value: local(q.get("until")) }), " ",
    el("label", { for: "principal" }, "Principal"), el("input", { id: "principal", name: "principal", value: q.get("principal") || "", placeholder: "UPN or object id" }), " ",
    el("label", { for: "operation" }, "Operation"), el("input", { id: "operation", name: "operation", value: q.get("operation") || "", placeholder: "KeyRotate" }), " ",
    el("label", { for: "result" }, "Result"),
    el("select", { id: "result", name: "result" }, ...["", "Success", "Failure", "403"].map((v) => {
      const o = el("option", { value: v }, v || "any");
      if (v === (q.get("result") || "")) o.setAttribute("selected", "");
      return o;
    })), " ",
    el("button", { type: "submit" }, "Filter"));
  main.append(form);
  const p = new URLSearchParams();
  for (const name of ["since", "until", "principal", "operation", "result"]) if (q.get(name)) p.set(name, q.get(name));
  const res = await hsmCall(hsm, "GET", "/mhsm/audit/events?" + p);
  const v = res.verification;
  const ok = v.problems.length === 0 && v.lines > 0;
  const signed = v.checkpoints ? `signed checkpoints cover seq ≤ ${v.verifiedThrough}` : "no signed checkpoint yet";
  main.append(el("p", { id: "chain", class: ok ? "" : "error" }, ok
    ? `Hash chain checked, no problems: ${v.lines} lines; ${signed}` + (v.unverifiedTail ? `; the ${v.unverifiedTail} newest lines are chained but not signed yet.` : ".")
    : `Hash chain problems: ${v.problems.join("; ") || "no lines"}`));
  main.append(chart(res.value));
  const t = el("table", { id: "audit-table" }, el("caption", {}, `${res.value.length} records (newest last)`),
    el("tr", {}, ...["Time", "Operation", "Result", "Status", "Caller", "Caller IP", "Request id"].map((h) => el("th", { scope: "col" }, h))));
  for (const r of res.value) {
    t.append(el("tr", denied(r) ? { class: "denied" } : {}, el("td", {}, r.time.replace("T", " ").slice(0, 19)), el("td", {}, r.operationName),
      el("td", {}, r.resultType), el("td", {}, String(r.status)), el("td", {}, r.caller), el("td", {}, r.callerIpAddress), el("td", { class: "tag" }, r.id)));
  }
  main.append(t);
}

// chart draws requests and denials per time bucket as bars.
function chart(recs) {
  const W = 720, H = 160, B = 24, pad = 30;
  const box = svg("svg", { id: "audit-chart", viewBox: `0 0 ${W} ${H + 40}`, width: W, height: H + 40, role: "img", "aria-label": "Requests and denials over time" });
  if (!recs.length) return box;
  const t0 = Date.parse(recs[0].time), t1 = Date.parse(recs[recs.length - 1].time) + 1;
  const all = new Array(B).fill(0), den = new Array(B).fill(0);
  for (const r of recs) {
    const i = Math.min(B - 1, Math.floor(((Date.parse(r.time) - t0) / (t1 - t0)) * B));
    all[i]++;
    if (denied(r)) den[i]++;
  }
  const max = Math.max(...all), bw = (W - pad) / B;
  box.append(svg("text", { x: 0, y: 12, class: "axis" }, String(max)), svg("text", { x: 0, y: H, class: "axis" }, "0"));
  all.forEach((n, i) => {
    const h = (n / max) * (H - 20), hd = (den[i] / max) * (H - 20), x = pad + i * bw;
    box.append(svg("rect", { x, y: H - h, width: bw - 3, height: h, class: "bar-all" }, ""));
    if (den[i]) box.append(svg("rect", { x, y: H - hd, width: bw - 3, height: hd, class: "bar-denied" }));
  });
  box.append(svg("text", { x: pad, y: H + 16, class: "axis" }, new Date(t0).toISOString().slice(0, 19).replace("T", " ")),
    svg("text", { x: W, y: H + 16, class: "axis", "text-anchor": "end" }, new Date(t1).toISOString().slice(0, 19).replace("T", " ")),
    svg("rect", { x: pad, y: H + 26, width: 10, height: 10, class: "bar-all" }), svg("text", { x: pad + 14, y: H + 35, class: "axis" }, "requests"),
    svg("rect", { x: pad + 90, y: H + 26, width: 10, height: 10, class: "bar-denied" }), svg("text", { x: pad + 104, y: H + 35, class: "axis" }, "denied (401/403)"));
  return box;
}
