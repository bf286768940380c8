// Preloaded with `node --import ./resolve.mjs`: answers MHSM_TEST_ADDR
// (default 127.0.0.1) for every name under MHSM_TEST_DOMAIN, so the Azure SDK
// connects to the test server by its real names — TLS still verifies them
// against the dev CA (NODE_EXTRA_CA_CERTS) — without /etc/hosts and without
// touching the SDK. net/tls.connect resolve through dns.lookup.
import dns from "node:dns";

const domain = (process.env.MHSM_TEST_DOMAIN || "").toLowerCase().replace(/^\.+|\.+$/g, "");
const addr = process.env.MHSM_TEST_ADDR || "127.0.0.1";
const family = addr.includes(":") ? 6 : 4;

if (domain) {
  const original = dns.lookup;
  const ours = (host) => {
    const h = String(host).toLowerCase().replace(/\.$/, "");
    return h === domain || h.endsWith("." + domain);
  };
  dns.lookup = function lookup(hostname, options, callback) {
    if (typeof options === "function") {
      callback = options;
      options = {};
    }
    if (!ours(hostname)) {
      return original.call(dns, hostname, options, callback);
    }
    const all = typeof options === "object" && options !== null && options.all;
    process.nextTick(() => {
      if (all) callback(null, [{ address: addr, family }]);
      else callback(null, addr, family);
    });
    return {};
  };
  const originalPromise = dns.promises.lookup;
  dns.promises.lookup = async function lookup(hostname, options) {
    if (!ours(hostname)) return originalPromise.call(dns.promises, hostname, options);
    const all = typeof options === "object" && options !== null && options.all;
    return all ? [{ address: addr, family }] : { address: addr, family };
  };
}
