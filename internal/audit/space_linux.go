package audit

import (
	"fmt"
	"syscall"
)

// checkFreeSpace fails when the file system of dir has less than min bytes
// available: a full disk is the common way an audit log stops being
// writable, and finding it before acting keeps the request from running.
func checkFreeSpace(dir string, min int64) error {
	if min <= 0 {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return err
	}
	if avail := int64(st.Bavail) * int64(st.Bsize); avail < min {
		return fmt.Errorf("only %d bytes free on the audit file system (need %d)", avail, min)
	}
	return nil
}
