// Package audit is mhsm's audit log: one record per request, in Azure's
// AuditEvent schema, durable before the response, tamper-evident, and
// delivered to storage. Read log.go (the API), writer.go (group commit),
// chain.go (the line format), verify.go, then delivery.go.
//
// # For request pipelines (data plane, management plane, token endpoint)
//
// Use the Recorder interface (*Log implements it; Discard is "audit off"):
//
//	if err := log.Ready(hsm); err != nil { answer 503, do not act }
//	… act, filling an *Event (Operation, Status, Caller, DataAction, …) …
//	if err := log.Record(ctx, ev); err != nil { answer 503 instead of the result }
//
// Record returns once the record is fsync'd. Concurrent records share one
// write and one fsync (group commit), so durability costs latency, not
// throughput. Ready is cheap: it reports the chain's state, which a failed
// write or a probe (every second: fault hook, free disk space,
// fsync) sets, and which a successful probe clears. An error from either
// wraps ErrUnavailable (or ErrClosed). Never put secrets in an Event; use
// Event.Hash for values that must be correlatable (bearer tokens, client
// ids that may be mistyped secrets): they are recorded as HMAC-SHA256 under
// the chain's HMAC key, and Log.HMAC computes the same value for an auditor.
//
// # Chains, checkpoints, keys
//
// There is one hash chain per HSM (<dir>/<hsm>/) and one for the server
// (<dir>/_server/: token requests, requests naming no existing HSM), so an
// HSM's auditors get exactly its records and can verify them alone. Each
// chain has its own Ed25519 signing key and HMAC key (KeyProvider;
// StoreKeys keeps them sealed by a barrier data key). Every line carries seq
// and the SHA-256 of the previous line; a signed checkpoint line is
// appended every CheckpointRecords records, every CheckpointInterval for
// uncovered records, when a chain is reopened with an uncovered tail, and
// on Close. Verifier (and Source.Verify) detects modified, deleted,
// inserted and reordered lines, forged or altered checkpoints, and reports
// lines after the last valid checkpoint as an unverified tail. A log cut
// exactly after a checkpoint verifies: the report's VerifiedThrough and
// LastCheckpoint are what to compare with an earlier report or a
// delivered copy.
//
// # Delivery
//
// Delivery copies each HSM's chain unchanged (so delivered logs verify too)
// to the destinations its diagnostic settings name — configured
// destinations (LocalDir, Blob; ParseDestination) or accounts under a
// storage root — in Azure's layout
// insights-logs-auditevent/resourceId=<id>/y=/m=/d=/h=/m=00/PT1H.json.
// The management plane hands settings over with Delivery.Replace (or
// Configure/Remove); a storage account is a name, never a path. Delivery is
// at least once and resumes after restarts; readers drop repeated lines.
//
// # Reading
//
// FindSources finds chains in a directory or blob container (Files);
// Source.Verify and Source.Query serve `mhsm audit verify` and
// `mhsm audit query`.
package audit
