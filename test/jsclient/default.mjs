// The unmodified Azure JavaScript SDK with DEFAULT options: DefaultAzureCredential
// (EnvironmentCredential from AZURE_CLIENT_ID/SECRET/TENANT_ID, authority
// login.microsoftonline.com, instance discovery on) and KeyClient on the
// HSM's Azure URL. Run by test/compat against mhsm in Azure-hostnames mode,
// where the machine resolves Azure's names to mhsm and NODE_EXTRA_CA_CERTS
// trusts its CA. Prints one JSON summary of the steps; exits 1 on failure.
import crypto from "node:crypto";
import { DefaultAzureCredential } from "@azure/identity";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";

const url = "https://dev.managedhsm.azure.net";
const steps = {};
let failed = false;
async function step(name, fn) {
  try {
    await fn();
    steps[name] = "ok";
  } catch (e) {
    failed = true;
    steps[name] = `FAIL${e?.statusCode ? " [" + e.statusCode + "]" : ""}: ${e?.message ?? e}`;
    process.stderr.write(`step ${name} failed: ${e?.stack ?? e}\n`);
  }
}
const check = (c, what) => {
  if (!c) throw new Error(`check failed: ${what}`);
};

const cred = new DefaultAzureCredential();
const keys = new KeyClient(url, cred);
let ec;
await step("createKey", async () => {
  ec = await keys.createEcKey("js-default", { curve: "P-256" });
  check(ec.id.startsWith(url + "/keys/js-default/"), `kid ${ec.id}`);
});
await step("signVerify", async () => {
  const cc = new CryptographyClient(ec, cred);
  const digest = crypto.createHash("sha256").update("drop-in").digest();
  const sig = await cc.sign("ES256", digest);
  check((await cc.verify("ES256", digest, sig.result)).result, "signature verifies");
});
await step("rotateWithoutPolicy", async () => {
  const p = await keys.getKeyRotationPolicy("js-default");
  check(p.lifetimeActions?.length === 1 && p.lifetimeActions[0].action === "Notify" && p.lifetimeActions[0].timeBeforeExpiry === "P30D",
    `default policy ${JSON.stringify(p)}`);
  const r = await keys.rotateKey("js-default");
  check(r.properties.version !== ec.properties.version, "new version");
});
await step("listKeys", async () => {
  let n = 0;
  for await (const _ of keys.listPropertiesOfKeys()) n++;
  check(n >= 1, "at least one key");
});
process.stdout.write(JSON.stringify({ ok: !failed, steps }) + "\n");
process.exit(failed ? 1 : 0);
