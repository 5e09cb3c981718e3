package source

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// csvReader reads a CSV with a header row. encoding/csv handles quoted
// fields with commas, quotes and newlines.
type csvReader struct {
	cr   *csv.Reader
	cols *columns
	num  int
}

// NewCSV reads the header of r and returns a reader of its rows. A header
// without user_id or email is an ErrMissingColumn error naming them.
func NewCSV(r io.Reader) (Reader, error) {
	cr := csv.NewReader(buffered(r))
	cr.FieldsPerRecord = -1 // a ragged row is a reject of that row, not the end of the file
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: the CSV is empty; it needs a header row with %q and %q", ErrMissingColumn, ColUserID, ColEmail)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the CSV header: %w", err)
	}
	cols, err := newColumns(header)
	if err != nil {
		return nil, err
	}
	return &csvReader{cr: cr, cols: cols}, nil
}

func (r *csvReader) Next(ctx context.Context) (Row, error) {
	if err := ctx.Err(); err != nil {
		return Row{}, err
	}
	rec, err := r.cr.Read()
	if errors.Is(err, io.EOF) {
		return Row{}, io.EOF
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		r.num++
		return Row{Num: r.num, Line: pe.StartLine, Err: fmt.Errorf("CSV syntax error at line %d, column %d: %w", pe.Line, pe.Column, pe.Err)}, nil
	}
	if err != nil {
		return Row{}, fmt.Errorf("reading the CSV after data row %d: %w", r.num, err)
	}
	r.num++
	line, _ := r.cr.FieldPos(0)
	if len(rec) != r.cols.n {
		return Row{Num: r.num, Line: line, Err: fmt.Errorf("line %d has %d fields, the header has %d", line, len(rec), r.cols.n)}, nil
	}
	return Row{
		Num:    r.num,
		Line:   line,
		UserID: rec[r.cols.userID],
		Email:  rec[r.cols.email],
		Data:   r.cols.data(rec, nil),
	}, nil
}

func (r *csvReader) Close() error { return nil }
