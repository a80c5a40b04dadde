//go:build !unix

package methods

import "io/fs"

// diskUsage is the space a file takes on disk; without the allocated block count
// of Unix stat, its length is the best estimate.
func diskUsage(info fs.FileInfo) int64 { return info.Size() }
