package fsperm

import "os"

// Open opens the file at path for reading if Check accepts the file opened,
// which is the file read even if path changes meanwhile. It does not wait
// for a writer where path reaches a named pipe: it refuses it at once, as
// anything that is not a regular file.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|nonBlock, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = Check(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
