//go:build !unix

package fsperm

// nonBlock is 0 where there are no named pipes to wait on in the file system.
const nonBlock = 0
