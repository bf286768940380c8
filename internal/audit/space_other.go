//go:build !linux

package audit

// checkFreeSpace is a no-op where statfs is not wired up.
func checkFreeSpace(string, int64) error { return nil }
