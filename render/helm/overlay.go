package helm

import (
	"bytes"
	"io"
	"io/fs"
	"time"
)

// overlay is fsys with some files' contents replaced (an edit being
// checked).
type overlay struct {
	base  fs.FS
	files map[string][]byte
}

// Open opens name from the replaced files, else from the base.
func (o overlay) Open(name string) (fs.File, error) {
	data, ok := o.files[name]
	if !ok {
		return o.base.Open(name)
	}
	fi, err := fs.Stat(o.base, name)
	if err != nil {
		return nil, err
	}
	return &memFile{Reader: bytes.NewReader(data), info: memInfo{FileInfo: fi, size: int64(len(data))}}, nil
}

// memFile is a replaced file.
type memFile struct {
	*bytes.Reader
	info memInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }

var _ io.ReaderAt = (*memFile)(nil)

// memInfo is a replaced file's info: the base file's, with the new size.
type memInfo struct {
	fs.FileInfo
	size int64
}

func (i memInfo) Size() int64        { return i.size }
func (i memInfo) ModTime() time.Time { return time.Time{} }
