// The unmodified Azure JavaScript SDK (@azure/keyvault-keys + @azure/identity)
// against a running mhsm. Only documented client options are used:
// authorityHost and disableInstanceDiscovery on the credential. Trust comes
// from NODE_EXTRA_CA_CERTS and name resolution from resolve.mjs (preloaded).
//
// Env: MHSM_TENANT_ID, MHSM_CLIENT_ID, MHSM_CLIENT_SECRET, MHSM_HSM_URL,
// MHSM_AUTHORITY_HOST. Prints one JSON summary on stdout; exits 1 if any step
// failed.
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { ClientCertificateCredential, ClientSecretCredential, ManagedIdentityCredential } from "@azure/identity";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";

const started = Date.now();
const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const version = (pkg) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${pkg}/package.json`, import.meta.url), "utf8")).version;

const summary = {
  ok: false,
  node: process.version,
  sdk: { "@azure/keyvault-keys": version("@azure/keyvault-keys"), "@azure/identity": version("@azure/identity") },
  steps: {},
  facts: {},
  durationMs: 0,
};

let failed = false;
async function step(name, fn) {
  const t0 = Date.now();
  try {
    const fact = await fn();
    summary.steps[name] = "ok";
    if (fact !== undefined) summary.facts[name] = fact;
  } catch (e) {
    failed = true;
    const status = e?.statusCode ? ` [${e.statusCode}${e.code ? " " + e.code : ""}]` : "";
    summary.steps[name] = `FAIL${status}: ${e?.message ?? e}`;
    process.stderr.write(`step ${name} failed: ${e?.stack ?? e}\n`);
  }
  process.stderr.write(`step ${name}: ${Date.now() - t0} ms\n`);
}
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}
const b64u = (u8) => Buffer.from(u8).toString("base64url");
const sha256 = (b) => crypto.createHash("sha256").update(b).digest();
function publicKey(jwk) {
  if (jwk.n) return crypto.createPublicKey({ format: "jwk", key: { kty: "RSA", n: b64u(jwk.n), e: b64u(jwk.e) } });
  return crypto.createPublicKey({ format: "jwk", key: { kty: "EC", crv: jwk.crv, x: b64u(jwk.x), y: b64u(jwk.y) } });
}
async function expectStatus(p, status, what) {
  try {
    await p;
  } catch (e) {
    check(e?.statusCode === status, `${what}: want ${status}, got ${e?.statusCode} ${e?.message}`);
    return e.code;
  }
  throw new Error(`${what}: want ${status}, got success`);
}

const hsmUrl = env("MHSM_HSM_URL");
// The token scope: the HSM origin without its first label (port kept).
const hsmScope = new URL(hsmUrl).origin.replace(/\/\/[^.]+\./, "//") + "/.default";
const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url").toString());
const credential = new ClientSecretCredential(env("MHSM_TENANT_ID"), env("MHSM_CLIENT_ID"), env("MHSM_CLIENT_SECRET"), {
  authorityHost: env("MHSM_AUTHORITY_HOST"),
  disableInstanceDiscovery: true,
});
const client = new KeyClient(hsmUrl, credential);

const suffix = crypto.randomBytes(4).toString("hex");
const rsaName = `js-rsa-${suffix}`;
const ecName = `js-ec-${suffix}`;
const octName = `js-oct-${suffix}`;
const importName = `js-imp-${suffix}`;
const delName = `js-del-${suffix}`;
let rsa, ec;
const message = Buffer.from("mhsm: the Azure JavaScript SDK, unchanged");
const digest = sha256(message);

await step("token", async () => {
  const t = await credential.getToken(hsmScope);
  check(t?.token?.split(".").length === 3, "a JWT access token");
});

await step("createRsaKey", async () => {
  rsa = await client.createRsaKey(rsaName, { hsm: true, keySize: 2048, tags: { purpose: "jsclient" } });
  check(rsa.keyType === "RSA-HSM", `keyType ${rsa.keyType}`);
  check(rsa.key?.n?.length === 256, "2048-bit modulus");
  check(rsa.properties.version && rsa.id.startsWith(hsmUrl.replace(/\/$/, "") + "/keys/" + rsaName + "/"), `kid ${rsa.id}`);
  check(rsa.properties.tags?.purpose === "jsclient", "tags");
  return { kid: rsa.id };
});

await step("createEcKey", async () => {
  ec = await client.createEcKey(ecName, { hsm: true, curve: "P-256" });
  check(ec.keyType === "EC-HSM", `keyType ${ec.keyType}`);
  check(ec.key?.crv === "P-256" && ec.key.x?.length === 32, "P-256 point");
});

await step("getKey", async () => {
  const latest = await client.getKey(rsaName);
  check(latest.id === rsa.id, "latest is the created version");
  const byVersion = await client.getKey(rsaName, { version: rsa.properties.version });
  check(Buffer.compare(Buffer.from(byVersion.key.n), Buffer.from(rsa.key.n)) === 0, "same modulus");
  const code = await expectStatus(client.getKey(`js-missing-${suffix}`), 404, "missing key");
  return { missingKeyCode: code };
});

await step("listPropertiesOfKeys", async () => {
  const names = [];
  for await (const p of client.listPropertiesOfKeys()) names.push(p.name);
  check(names.includes(rsaName) && names.includes(ecName), `listed ${names}`);
  // One key a page: the SDK follows nextLink.
  const paged = [];
  let pages = 0;
  for await (const page of client.listPropertiesOfKeys().byPage({ maxPageSize: 1 })) {
    pages++;
    for (const p of page) paged.push(p.name);
  }
  check(pages >= 2 && paged.includes(rsaName) && paged.includes(ecName), `paged ${pages} pages: ${paged}`);
  return { keys: names.length, pages };
});

await step("updateKeyProperties", async () => {
  const notBefore = new Date(Date.now() - 3600_000);
  const p = await client.updateKeyProperties(rsaName, rsa.properties.version, {
    tags: { purpose: "jsclient", updated: "yes" },
    enabled: true,
    notBefore,
  });
  check(p.properties.tags?.updated === "yes", "tag updated");
  check(Math.abs(p.properties.notBefore?.getTime() - notBefore.getTime()) < 1000, `notBefore ${p.properties.notBefore}`);
  const again = await client.getKey(rsaName);
  check(again.properties.tags?.updated === "yes", "tag persisted");
});

await step("signVerifyRS256", async () => {
  // From the key id: the client GETs the key first, then signs remotely.
  const cc = new CryptographyClient(rsa.id, credential);
  const s = await cc.sign("RS256", digest);
  check(s.result?.length === 256 && s.keyID === rsa.id, "signature and kid");
  const v = await cc.verify("RS256", digest, s.result);
  check(v.result === true, "remote verify");
  const bad = await cc.verify("RS256", digest, Buffer.from(s.result).fill(1, 0, 8));
  check(bad.result === false, "remote verify rejects a bad signature");
  check(crypto.verify("sha256", message, publicKey(rsa.key), Buffer.from(s.result)), "node crypto.verify");
  const sd = await cc.signData("RS256", message);
  check((await cc.verifyData("RS256", message, sd.result)).result, "signData/verifyData");
  // No version: the latest ("/keys/<name>/" then "/keys/<name>//sign").
  const latest = client.getCryptographyClient(rsaName);
  const s2 = await latest.sign("PS256", digest);
  check(
    crypto.verify("sha256", message, { key: publicKey(rsa.key), padding: crypto.constants.RSA_PKCS1_PSS_PADDING }, Buffer.from(s2.result)),
    "PS256 by the latest version, node crypto.verify",
  );
});

await step("signVerifyES256", async () => {
  const cc = client.getCryptographyClient(ecName, { keyVersion: ec.properties.version });
  const s = await cc.sign("ES256", digest);
  check(s.result?.length === 64, "raw r||s");
  check((await cc.verify("ES256", digest, s.result)).result === true, "remote verify");
  const ok = crypto.verify("sha256", message, { key: publicKey(ec.key), dsaEncoding: "ieee-p1363" }, Buffer.from(s.result));
  check(ok, "node crypto.verify");
});

await step("encryptDecryptRSAOAEP256", async () => {
  const cc = new CryptographyClient(rsa, credential);
  const plaintext = Buffer.from("secret: " + suffix);
  const e = await cc.encrypt({ algorithm: "RSA-OAEP-256", plaintext });
  check(e.result?.length === 256 && e.algorithm === "RSA-OAEP-256", "ciphertext");
  const d = await cc.decrypt({ algorithm: "RSA-OAEP-256", ciphertext: e.result });
  check(Buffer.from(d.result).equals(plaintext), "round trip");
  // Encrypted by node, decrypted by the HSM.
  const local = crypto.publicEncrypt(
    { key: publicKey(rsa.key), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    plaintext,
  );
  const d2 = await cc.decrypt({ algorithm: "RSA-OAEP-256", ciphertext: local });
  check(Buffer.from(d2.result).equals(plaintext), "node-encrypted round trip");
});

await step("wrapUnwrapRSAOAEP256", async () => {
  const cc = new CryptographyClient(rsa.id, credential);
  const cek = crypto.randomBytes(32);
  const w = await cc.wrapKey("RSA-OAEP-256", cek);
  check(w.result?.length === 256, "wrapped key");
  const u = await cc.unwrapKey("RSA-OAEP-256", w.result);
  check(Buffer.from(u.result).equals(cek), "round trip");
});

await step("octKeyWrapA256KW", async () => {
  const oct = await client.createOctKey(octName, { hsm: true, keySize: 256 });
  check(oct.keyType === "oct-HSM", `keyType ${oct.keyType}`);
  const cc = new CryptographyClient(oct.id, credential);
  const cek = crypto.randomBytes(32);
  const w = await cc.wrapKey("A256KW", cek);
  const u = await cc.unwrapKey("A256KW", w.result);
  check(Buffer.from(u.result).equals(cek), "round trip");
});

await step("ecCurvesES384ES512ES256K", async () => {
  for (const [curve, alg, hash, len] of [
    ["P-384", "ES384", "sha384", 96],
    ["P-521", "ES512", "sha512", 132],
    ["P-256K", "ES256K", "sha256", 64],
  ]) {
    const k = await client.createEcKey(`js-${curve.toLowerCase().replace("-", "")}-${suffix}`, { hsm: true, curve });
    check(k.key.crv === curve, `crv ${k.key.crv}`);
    const cc = new CryptographyClient(k.id, credential);
    const d = crypto.createHash(hash).update(message).digest();
    const sig = await cc.sign(alg, d);
    check(sig.result.length === len, `${alg} signature length ${sig.result.length}`);
    check((await cc.verify(alg, d, sig.result)).result, `${alg} remote verify`);
    if (curve !== "P-256K") {
      const ok = crypto.verify(hash, message, { key: publicKey(k.key), dsaEncoding: "ieee-p1363" }, Buffer.from(sig.result));
      check(ok, `${alg} node crypto.verify`);
    }
  }
});

await step("rsa3072PS512", async () => {
  for (const bits of [3072]) {
    const k = await client.createKey(`js-rsa${bits}-${suffix}`, "RSA-HSM", { keySize: bits, keyOps: ["sign", "verify"] });
    check(k.key.n.length === bits / 8 && k.keyOperations?.join() === "sign,verify", "size and ops");
    const d = crypto.createHash("sha512").update(message).digest();
    const sig = await new CryptographyClient(k.id, credential).sign("PS512", d);
    const ok = crypto.verify("sha512", message, { key: publicKey(k.key), padding: crypto.constants.RSA_PKCS1_PSS_PADDING }, Buffer.from(sig.result));
    check(ok, `PS512 with RSA-${bits}`);
  }
});

await step("aesGcmCbcPad", async () => {
  const cc = new CryptographyClient((await client.getKey(octName)).id, credential);
  const plaintext = Buffer.from("aes plaintext " + suffix);
  const aad = Buffer.from("aad");
  const g = await cc.encrypt({ algorithm: "A256GCM", plaintext, additionalAuthenticatedData: aad });
  check(g.iv?.length === 12 && g.authenticationTag?.length === 16, "GCM iv and tag from the HSM");
  const gd = await cc.decrypt({
    algorithm: "A256GCM",
    ciphertext: g.result,
    iv: g.iv,
    authenticationTag: g.authenticationTag,
    additionalAuthenticatedData: aad,
  });
  check(Buffer.from(gd.result).equals(plaintext), "GCM round trip");
  const iv = crypto.randomBytes(16);
  const c = await cc.encrypt({ algorithm: "A256CBCPAD", plaintext, iv });
  const cd = await cc.decrypt({ algorithm: "A256CBCPAD", ciphertext: c.result, iv });
  check(Buffer.from(cd.result).equals(plaintext), "CBCPAD round trip");
});

await step("importKey", async () => {
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const j = privateKey.export({ format: "jwk" });
  const u8 = (s) => new Uint8Array(Buffer.from(s, "base64url"));
  const imported = await client.importKey(
    importName,
    { kty: "RSA", n: u8(j.n), e: u8(j.e), d: u8(j.d), p: u8(j.p), q: u8(j.q), dp: u8(j.dp), dq: u8(j.dq), qi: u8(j.qi), keyOps: ["sign", "verify"] },
    { hardwareProtected: true },
  );
  check(imported.keyType === "RSA-HSM", `keyType ${imported.keyType}`);
  check(imported.key.d === undefined, "no private part returned");
  const s = await new CryptographyClient(imported.id, credential).sign("RS256", digest);
  check(crypto.verify("sha256", message, privateKey, Buffer.from(s.result)), "signature by the imported key");
});

await step("deletePollerGetDeletedPurge", async () => {
  await client.createEcKey(delName, { hsm: true, curve: "P-384" });
  const poller = await client.beginDeleteKey(delName);
  const deleted = await poller.pollUntilDone();
  check(deleted.name === delName && deleted.properties.recoveryId, "deleted key with recoveryId");
  const got = await client.getDeletedKey(delName);
  check(got.properties.deletedOn instanceof Date && got.properties.scheduledPurgeDate instanceof Date, "deletedOn/scheduledPurgeDate");
  const listed = [];
  for await (const d of client.listDeletedKeys()) listed.push(d.name);
  check(listed.includes(delName), "listDeletedKeys");
  await expectStatus(client.getKey(delName), 404, "deleted key is gone");
  await client.purgeDeletedKey(delName);
  await expectStatus(client.getDeletedKey(delName), 404, "purged");
});

await step("recoverPoller", async () => {
  const name = `js-rec-${suffix}`;
  await client.createRsaKey(name, { hsm: true, keySize: 2048 });
  await (await client.beginDeleteKey(name)).pollUntilDone();
  const recovered = await (await client.beginRecoverDeletedKey(name)).pollUntilDone();
  check(recovered.name === name, "recovered");
  check((await client.getKey(name)).name === name, "usable again");
});

await step("backupRestore", async () => {
  const backup = await client.backupKey(ecName);
  check(backup instanceof Uint8Array && backup.length > 0, "backup blob");
  await (await client.beginDeleteKey(ecName)).pollUntilDone();
  await client.purgeDeletedKey(ecName);
  await expectStatus(client.getKey(ecName), 404, "purged before restore");
  const restored = await client.restoreKeyBackup(backup);
  check(restored.id === ec.id, `restored ${restored.id}`);
  const s = await new CryptographyClient(restored.id, credential).sign("ES256", digest);
  const ok = crypto.verify("sha256", message, { key: publicKey(ec.key), dsaEncoding: "ieee-p1363" }, Buffer.from(s.result));
  check(ok, "restored key signs as before");
  return { backupBytes: backup.length };
});

await step("rotationPolicyRotate", async () => {
  const policy = await client.updateKeyRotationPolicy(rsaName, {
    lifetimeActions: [{ action: "Rotate", timeBeforeExpiry: "P30D" }],
    expiresIn: "P90D",
  });
  check(policy.expiresIn === "P90D", `expiresIn ${policy.expiresIn}`);
  const got = await client.getKeyRotationPolicy(rsaName);
  check(got.lifetimeActions?.some((a) => a.action?.toLowerCase() === "rotate" && a.timeBeforeExpiry === "P30D"), "lifetime action");
  const rotated = await client.rotateKey(rsaName);
  check(rotated.properties.version !== rsa.properties.version, "new version");
  check(rotated.properties.expiresOn instanceof Date, "expiry from policy");
  const versions = [];
  for await (const v of client.listPropertiesOfKeyVersions(rsaName)) versions.push(v.version);
  check(versions.length === 2, `versions ${versions.length}`);
  let pages = 0;
  for await (const page of client.listPropertiesOfKeyVersions(rsaName).byPage({ maxPageSize: 1 })) pages += page.length ? 1 : 0;
  check(pages === 2, `version pages ${pages}`);
  check((await client.getKey(rsaName)).properties.version === rotated.properties.version, "latest is the rotated one");
});

await step("releasePolicy", async () => {
  const authority = new URL(env("MHSM_AUTHORITY_HOST")).origin + "/" + env("MHSM_TENANT_ID") + "/v2.0";
  const policy = (tid) =>
    new TextEncoder().encode(
      JSON.stringify({ version: "1.0.0", anyOf: [{ authority, allOf: [{ claim: "tid", equals: tid }] }] }),
    );
  const name = `js-rel-${suffix}`;
  const k = await client.createEcKey(name, {
    hsm: true,
    curve: "P-256",
    exportable: true,
    releasePolicy: { encodedPolicy: policy("00000000-0000-0000-0000-000000000000") },
  });
  check(k.properties.exportable === true, "exportable");
  const got = await client.getKey(name);
  const p = JSON.parse(new TextDecoder().decode(got.properties.releasePolicy?.encodedPolicy));
  check(p.version === "1.0.0" && p.anyOf?.[0]?.authority === authority, "policy round trip");
  // A token of the trusted issuer whose claims do not satisfy the policy.
  const token = (await credential.getToken(hsmScope)).token;
  await expectStatus(client.releaseKey(name, token), 403, "release refused by policy");
  await expectStatus(client.releaseKey(name, "not-a-token"), 400, "release with a bad attestation");
});

await step("defaultRotationPolicy", async () => {
  const p = await client.getKeyRotationPolicy(octName);
  check(p && Array.isArray(p.lifetimeActions), "a policy with lifetimeActions");
  return { lifetimeActions: p.lifetimeActions };
});

await step("errors", async () => {
  // The SDK turns Azure's error body into RestError.code; statuses match the service.
  const codes = {};
  codes.deleteMissing = await expectStatus(client.beginDeleteKey(`js-none-${suffix}`), 404, "delete a missing key");
  codes.purgeLive = await expectStatus(client.purgeDeletedKey(rsaName), 404, "purge a key that is not deleted");
  const backup = await client.backupKey(rsaName);
  codes.restoreExisting = await expectStatus(client.restoreKeyBackup(backup), 409, "restore over a live key");
  codes.badCurve = await expectStatus(client.createEcKey(`js-bad-${suffix}`, { hsm: true, curve: "P-192" }), 400, "bad curve");
  codes.badName = await expectStatus(client.createRsaKey("bad_name!", { hsm: true }), 400, "bad key name");
  for (const [k, v] of Object.entries(codes)) check(typeof v === "string" && v.length > 0, `error code for ${k}`);
  return codes;
});

await step("getRandomBytes", async () => {
  const r = await client.getRandomBytes(32);
  check(r instanceof Uint8Array && r.length === 32, "32 bytes");
  const r2 = await client.getRandomBytes(32);
  check(!Buffer.from(r).equals(Buffer.from(r2)), "different");
});

// Other credentials of @azure/identity, each with its own documented
// options only; the test registered them and gave them Crypto User.

if (process.env.MHSM_CERT_PATH) {
  await step("clientCertificateCredential", async () => {
    const cred = new ClientCertificateCredential(
      env("MHSM_TENANT_ID"),
      env("MHSM_CERT_CLIENT_ID"),
      { certificatePath: env("MHSM_CERT_PATH") },
      { authorityHost: env("MHSM_AUTHORITY_HOST"), disableInstanceDiscovery: true },
    );
    const c = claimsOf((await cred.getToken(hsmScope)).token);
    check(c.appid === env("MHSM_CERT_CLIENT_ID"), `appid ${c.appid}`);
    const kc = new KeyClient(hsmUrl, cred);
    const k = await kc.getKey(rsaName);
    const s = await new CryptographyClient(k.id, cred).sign("RS256", digest);
    check(crypto.verify("sha256", message, publicKey(k.key), Buffer.from(s.result)), "signature");
  });
}

if (process.env.IDENTITY_ENDPOINT) {
  await step("managedIdentityCredential", async () => {
    const cred = new ManagedIdentityCredential();
    const c = claimsOf((await cred.getToken(hsmScope)).token);
    check(c.oid === env("MHSM_MI_PRINCIPAL_ID"), `oid ${c.oid}`);
    const kc = new KeyClient(hsmUrl, cred);
    const r = await kc.getRandomBytes(16);
    check(r.length === 16, "random bytes");
    const s = await kc.getCryptographyClient(rsaName).sign("RS256", digest);
    check(s.result.length === 256, "signature");
  });
}

summary.ok = !failed;
summary.durationMs = Date.now() - started;
process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
process.exitCode = failed ? 1 : 0;
