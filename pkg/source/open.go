package source

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
)

// Open opens the source named by spec:
//
//	csv:PATH    CSV file with a header row
//	jsonl:PATH  one JSON object per line
//	- or csv:-  CSV on stdin (jsonl:- for JSONL on stdin)
//	athena      the result of the query in athena
//
// For a file it checks the header before returning, so a missing column is
// an error here, not on the first row.
func Open(ctx context.Context, spec string, athena AthenaConfig) (Reader, error) {
	kind, path, _ := strings.Cut(spec, ":")
	switch {
	case spec == "-":
		kind, path = "csv", "-"
	case spec == "athena":
		return NewAthena(ctx, athena)
	case (kind == "csv" || kind == "jsonl") && path != "":
	default:
		return nil, fmt.Errorf("%w %q: want csv:PATH, jsonl:PATH, - (CSV on stdin) or athena", ErrBadSpec, spec)
	}
	var (
		r      io.Reader
		closer io.Closer = nopCloser{}
		cnt    *counter
	)
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("opening source file (check the path and its permissions): %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("reading source file %s: %w", path, err)
		}
		if st.IsDir() {
			f.Close()
			return nil, fmt.Errorf("source %s is a directory, not a file", path)
		}
		cnt = &counter{r: f, total: st.Size()}
		r, closer = cnt, f
	}
	var (
		rd  Reader
		err error
	)
	if kind == "csv" {
		rd, err = NewCSV(r)
	} else {
		rd = NewJSONL(r)
	}
	if err != nil {
		closer.Close()
		if path != "-" {
			return nil, fmt.Errorf("source %s: %w", path, err)
		}
		return nil, fmt.Errorf("source stdin: %w", err)
	}
	return &fileReader{Reader: rd, closer: closer, cnt: cnt}, nil
}

// fileReader closes the file and reports progress in bytes.
type fileReader struct {
	Reader
	closer io.Closer
	cnt    *counter
}

func (f *fileReader) Close() error { return f.closer.Close() }

func (f *fileReader) Progress() (done, total int64) {
	if f.cnt == nil {
		return 0, 0
	}
	return f.cnt.n.Load(), f.cnt.total
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// counter counts bytes read, for progress and ETA. Read-ahead buffering
// makes it run a little ahead of the rows handed out, which is close enough.
type counter struct {
	r     io.Reader
	n     atomic.Int64
	total int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// bufSize is the read buffer of file sources; large reads are cheaper.
const bufSize = 256 << 10

func buffered(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, bufSize) }
