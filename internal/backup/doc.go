// Package backup is the full-HSM backup archive: a folder of sealed parts
// plus a sealed manifest, written and read through the small Folder,
// Container and Storage interfaces (storage.go; a local directory, Dir,
// is here too). It knows nothing of HSMs, stores or HTTP: package hsm
// feeds it records and reads them back, and package backupstore keeps
// folders in Azure Blob Storage. Read archive.go (the format and its
// guarantees), then storage.go.
package backup
