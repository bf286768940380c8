// Package backup is the full-HSM backup archive and where archives are
// kept: a folder of sealed parts plus a sealed manifest, in a blob
// container of Azure Storage (Azurite included) or a local directory
// standing in for a storage account. It knows nothing of HSMs, stores or
// HTTP: package hsm feeds it records and reads them back. Read archive.go
// (the format and its guarantees), then storage.go.
package backup
