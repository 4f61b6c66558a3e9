//go:build !unix

package fsperm

import "io/fs"

// owner reports no owner where files have no Unix user id.
func owner(fs.FileInfo) (int, bool) { return 0, false }
