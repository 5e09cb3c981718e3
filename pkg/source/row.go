package source

import (
	"context"
	"encoding/json"
	"errors"
)

// Row is one user read from a source.
type Row struct {
	// Num is the 1-based number of the row: the data row for CSV (the header
	// not counted) and Athena, the line for JSONL.
	Num int
	// Line is the line of the file where the row starts (CSV, JSONL); 0 for
	// Athena.
	Line   int
	UserID string
	Email  string
	// Data is the template data, a JSON object; nil means no variables.
	Data json.RawMessage
	// Err is a problem with this row only (a ragged CSV row, a line that is
	// not JSON): the row is rejected and the source reads on.
	Err error
}

// Reader yields the rows of a source in order.
type Reader interface {
	// Next returns the next row, or io.EOF after the last one. Any other
	// error is fatal for the source; problems of one row are reported in
	// Row.Err instead.
	Next(ctx context.Context) (Row, error)
	// Close releases the file or stops nothing (Athena); it is safe to call
	// once after any Next.
	Close() error
}

// Progresser is implemented by readers that know how far they are: files
// report bytes read of the file size. total is 0 when unknown (stdin,
// Athena).
type Progresser interface {
	Progress() (done, total int64)
}

// Errors returned by Open and the readers.
var (
	// ErrMissingColumn is returned when the header (CSV) or the result
	// columns (Athena) lack user_id or email.
	ErrMissingColumn = errors.New("missing required column")
	// ErrBadHeader is returned for a header with an empty or repeated column
	// name.
	ErrBadHeader = errors.New("invalid header")
	// ErrBadSpec is returned by Open for a source it does not know.
	ErrBadSpec = errors.New("invalid source")
	// ErrQueryFailed is returned when Athena reports the query FAILED or
	// CANCELLED; the error text carries Athena's StateChangeReason.
	ErrQueryFailed = errors.New("athena query did not succeed")
	// ErrRowTooLarge is set in Row.Err for a row longer than the reader
	// accepts (JSONL lines over MaxLineBytes).
	ErrRowTooLarge = errors.New("row too large")
)
