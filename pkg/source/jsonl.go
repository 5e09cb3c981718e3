package source

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes bounds a JSONL line. Template data may be 256 KiB of JSON
// (the SES limit), so a longer line cannot be a valid job; it is rejected as
// ErrRowTooLarge without being held in memory.
const MaxLineBytes = 1 << 20

// jsonlReader reads one JSON object per line:
// {"user_id": "...", "email": "...", "data": {...}}.
type jsonlReader struct {
	br   *bufio.Reader
	line int
	buf  []byte
	eof  bool
}

// NewJSONL returns a reader of the JSON lines in r. Blank lines are skipped.
func NewJSONL(r io.Reader) Reader {
	return &jsonlReader{br: buffered(r)}
}

type jsonlRow struct {
	UserID json.RawMessage `json:"user_id"`
	Email  *string         `json:"email"`
	Data   json.RawMessage `json:"data"`
}

func (r *jsonlReader) Next(ctx context.Context) (Row, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Row{}, err
		}
		if r.eof {
			return Row{}, io.EOF
		}
		line, tooLong, err := r.readLine()
		if errors.Is(err, io.EOF) {
			r.eof = true
			if len(line) == 0 && !tooLong {
				return Row{}, io.EOF
			}
		} else if err != nil {
			return Row{}, fmt.Errorf("reading JSONL after line %d: %w", r.line, err)
		}
		r.line++
		row := Row{Num: r.line, Line: r.line}
		if tooLong {
			row.Err = fmt.Errorf("%w: line %d is longer than %d bytes", ErrRowTooLarge, r.line, MaxLineBytes)
			return row, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if err := parseJSONLine(line, &row); err != nil {
			row.Err = fmt.Errorf("line %d: %w", r.line, err)
		}
		return row, nil
	}
}

func parseJSONLine(line []byte, row *Row) error {
	var v jsonlRow
	if err := json.Unmarshal(line, &v); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	uid, err := jsonID(v.UserID)
	if err != nil {
		return err
	}
	row.UserID = uid
	if v.Email != nil {
		row.Email = *v.Email
	}
	d := bytes.TrimSpace(v.Data)
	switch {
	case len(d) == 0 || string(d) == "null":
	case d[0] == '{':
		row.Data = v.Data // a copy: json.RawMessage copies what it unmarshals
	default:
		return fmt.Errorf("data must be a JSON object")
	}
	return nil
}

// jsonID reads user_id: a string, or a number taken literally (exports often
// have numeric ids).
func jsonID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("user_id: %w", err)
		}
		return s, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return string(raw), nil
	default:
		return "", fmt.Errorf("user_id must be a string or a number")
	}
}

// readLine returns the next line without its newline. A line over
// MaxLineBytes is consumed but not kept: tooLong reports it.
func (r *jsonlReader) readLine() (line []byte, tooLong bool, err error) {
	r.buf = r.buf[:0]
	for {
		frag, err := r.br.ReadSlice('\n')
		if !tooLong {
			if len(r.buf)+len(frag) > MaxLineBytes+1 {
				tooLong = true
				r.buf = r.buf[:0]
			} else {
				r.buf = append(r.buf, frag...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return r.buf, tooLong, err
	}
}

func (r *jsonlReader) Close() error { return nil }
