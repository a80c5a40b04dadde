//go:build unix

package methods

import (
	"io/fs"
	"syscall"
)

// diskUsage is the space a file takes on disk. Badger preallocates its value
// log and memtable files as sparse files of hundreds of megabytes, so their
// length says little; the allocated blocks are what Core's size_on_disk means.
func diskUsage(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512 // st_blocks counts 512-byte units whatever the block size
	}
	return info.Size()
}
