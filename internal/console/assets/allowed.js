// allowed asks the access review API whether the signed-in user may do
// each action at scope. The answer only decides which buttons to show:
// the server decides every call. When the user may not read role
// assignments (the review needs it), every answer is "unknown" (null) and
// the buttons are shown; a refused call then says so.
import { hsmCall, me } from "./app.js";

export const P = "Microsoft.KeyVault/managedHsm/";

export async function allowed(hsm, actions, scope) {
  const out = {};
  for (const a of actions) {
    try {
      const r = await hsmCall(hsm, "POST", "/mhsm/access/check", { principalId: me.oid, action: P + a, scope: scope || "/" });
      out[a] = r.allowed;
    } catch (e) {
      out[a] = null;
    }
  }
  return out;
}
