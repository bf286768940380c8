// Package securitydomain is the pure cryptography of a Managed HSM security
// domain: splitting a secret among officers with Shamir's scheme, encrypting
// each share to an officer's certificate, the security-domain file the HSM
// hands out on download, the restore blob an operator builds offline from a
// quorum of private keys, and the server-side decoding of that blob when it is
// uploaded to an HSM in recovery. It does no I/O and knows nothing of HTTP or
// of the store. Read gf257.go and shamir.go (the quorum), kdf.go and jwe.go
// (the primitives), format.go (the JSON documents), then domain.go (how they
// fit together).
//
// # Why GF(257) and not GF(2^8)
//
// A textbook Shamir implementation works in GF(2^8), so every share byte is a
// byte. The security-domain file format that the Azure CLI writes and reads
// (az keyvault security-domain restore-blob, its offline tool) works in the
// prime field GF(257): each share of a secret byte is a value v in 0..256 (nine
// bits), packed with the share's index x as the little-endian uint16
// (x<<9)|v. A file whose shares lived in GF(2^8) would decrypt with the CLI
// and then reconstruct garbage. Compatibility with that tooling is the point of
// the format, so the arithmetic is GF(257), done without secret-dependent
// branches or table lookups:
//
//   - reduction modulo 257 uses 2^8 ≡ -1 (mod 257) and a masked conditional
//     subtraction, never % or a branch;
//   - inversion is a^255 (Fermat: a^(p-2)) by a fixed ladder of 7 squarings and
//     7 multiplications, the same sequence for every a;
//   - random coefficients are 32 random bits folded modulo 257 the same way
//     (bias below 2^-23 per coefficient, no rejection loop).
//
// Share indices (x) are public, as they are in the file, so Lagrange weights
// depend only on public data; the secret values are only ever multiplied and
// added.
//
// # What the domain protects
//
// The secret split among the officers is a fresh random 32-byte master key,
// one per download. The HSM's key-hierarchy root (its barrier data key) is
// the payload of the file's EncData, encrypted under SP800-108(master, tag) —
// the shape the CLI's restore-blob expects: it rebuilds the master key from a
// quorum of shares, decrypts every EncData item, re-encrypts them under a new
// master key and wraps that key to the recovering HSM's transfer key. So a
// share from another domain, a tampered share or a tampered file reconstructs
// a master key under which the payload's authentication tag does not verify,
// and is rejected.
package securitydomain
