package source

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// athenaCSV parses a CSV result file as Athena writes it: a header row,
// every value quoted, a quote inside a value doubled, newlines (LF or CRLF)
// kept inside values, rows ended by LF. A NULL is an empty field without
// quotes; an empty string is "". It keeps both apart, and keeps a CR inside
// a value (encoding/csv would turn a quoted CRLF into LF and cannot tell NULL
// from ""), so that a row means exactly what GetQueryResults returns for it.
//
// An unquoted non-empty value (which Athena does not write) is read up to
// the next comma or end of line, as a CSV reader would.
type athenaCSV struct {
	br  *bufio.Reader
	off int64 // bytes consumed, for error messages

	rec   []byte // the unescaped values of the record, back to back
	ends  []int  // end of each value in rec
	nulls []bool
	vals  []string
}

// errCSVSyntax is the cause of a malformed record.
var errCSVSyntax = errors.New("malformed CSV")

func newAthenaCSV(r io.Reader) *athenaCSV {
	c := &athenaCSV{br: bufio.NewReaderSize(r, bufSize)}
	// A byte order mark before the first quote is not part of the header.
	if b, err := c.br.Peek(3); err == nil && string(b) == "\uFEFF" {
		_, _ = c.br.Discard(3)
		c.off = 3
	}
	return c
}

// read returns the values of the next record, valid until the next call, and
// which of them are NULL. At the end of the input it returns io.EOF. A
// malformed record returns an error wrapping errCSVSyntax; the reader then
// skips to the end of the line, so the next record can be read.
func (c *athenaCSV) read() (vals []string, nulls []bool, err error) {
	c.rec, c.ends, c.nulls = c.rec[:0], c.ends[:0], c.nulls[:0]
	if _, err := c.br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, io.EOF
		}
		return nil, nil, fmt.Errorf("reading the result file at byte %d: %w", c.off, err)
	}
	for {
		b, err := c.br.ReadByte()
		if errors.Is(err, io.EOF) { // a last field that is NULL, without a final newline
			c.field(true)
			return c.finish()
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading the result file at byte %d: %w", c.off, err)
		}
		c.off++
		switch b {
		case '"':
			if err := c.quoted(); err != nil {
				return nil, nil, err
			}
		case ',':
			c.field(true)
			continue
		case '\n':
			c.field(true)
			return c.finish()
		case '\r':
			if n, _ := c.br.Peek(1); len(n) == 1 && n[0] == '\n' {
				_, _ = c.br.Discard(1)
				c.off++
				c.field(true)
				return c.finish()
			}
			fallthrough
		default:
			if err := c.unquoted(b); err != nil {
				return nil, nil, err
			}
		}
		// After a value: a comma, the end of the row or the end of the file.
		b, err = c.br.ReadByte()
		if errors.Is(err, io.EOF) {
			return c.finish()
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading the result file at byte %d: %w", c.off, err)
		}
		c.off++
		switch b {
		case ',':
		case '\n':
			return c.finish()
		case '\r':
			if n, _ := c.br.Peek(1); len(n) == 1 && n[0] == '\n' {
				_, _ = c.br.Discard(1)
				c.off++
				return c.finish()
			}
			return nil, nil, c.skip(fmt.Errorf("%w: a CR after a closing quote at byte %d", errCSVSyntax, c.off))
		default:
			return nil, nil, c.skip(fmt.Errorf("%w: %q after a closing quote at byte %d (a quote inside a value must be doubled)", errCSVSyntax, b, c.off))
		}
		// A comma was read: if the row ends right after it, its last field is NULL.
		if n, err := c.br.Peek(1); errors.Is(err, io.EOF) {
			c.field(true)
			return c.finish()
		} else if len(n) == 1 && n[0] == '\n' {
			_, _ = c.br.Discard(1)
			c.off++
			c.field(true)
			return c.finish()
		}
	}
}

// quoted reads a value after its opening quote, up to and including its
// closing quote.
func (c *athenaCSV) quoted() error {
	start := c.off
	for {
		chunk, err := c.br.ReadSlice('"')
		c.off += int64(len(chunk))
		switch {
		case err == nil:
			c.rec = append(c.rec, chunk[:len(chunk)-1]...)
			if n, _ := c.br.Peek(1); len(n) == 1 && n[0] == '"' {
				_, _ = c.br.Discard(1)
				c.off++
				c.rec = append(c.rec, '"')
				continue
			}
			c.field(false)
			return nil
		case errors.Is(err, bufio.ErrBufferFull):
			c.rec = append(c.rec, chunk...)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: the file ends inside the value opened at byte %d", errCSVSyntax, start)
		default:
			return fmt.Errorf("reading the result file at byte %d: %w", c.off, err)
		}
	}
}

// unquoted reads a value that does not start with a quote, first byte b.
func (c *athenaCSV) unquoted(b byte) error {
	c.rec = append(c.rec, b)
	for {
		n, err := c.br.Peek(1)
		if len(n) == 0 {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("reading the result file at byte %d: %w", c.off, err)
		}
		if n[0] == ',' || n[0] == '\n' || n[0] == '\r' {
			break
		}
		if n[0] == '"' {
			return c.skip(fmt.Errorf("%w: a quote inside an unquoted value at byte %d", errCSVSyntax, c.off))
		}
		_, _ = c.br.Discard(1)
		c.off++
		c.rec = append(c.rec, n[0])
	}
	c.field(false)
	return nil
}

func (c *athenaCSV) field(null bool) {
	c.ends = append(c.ends, len(c.rec))
	c.nulls = append(c.nulls, null)
}

// finish turns the record into strings: one allocation per row, each value
// a substring of it.
func (c *athenaCSV) finish() ([]string, []bool, error) {
	s := string(c.rec)
	c.vals = c.vals[:0]
	start := 0
	for _, e := range c.ends {
		c.vals = append(c.vals, s[start:e])
		start = e
	}
	return c.vals, c.nulls, nil
}

// skip discards the rest of the line after a syntax error and returns err.
func (c *athenaCSV) skip(err error) error {
	line, rerr := c.br.ReadSlice('\n')
	c.off += int64(len(line))
	for errors.Is(rerr, bufio.ErrBufferFull) {
		line, rerr = c.br.ReadSlice('\n')
		c.off += int64(len(line))
	}
	return err
}
