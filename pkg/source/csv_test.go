package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// readAll drains r into rows (test helper).
func readAll(t *testing.T, r Reader) []Row {
	t.Helper()
	var rows []Row
	for {
		row, err := r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return rows
		}
		require.NoError(t, err)
		rows = append(rows, row)
	}
}

func dataMap(t *testing.T, d json.RawMessage) map[string]any {
	t.Helper()
	if d == nil {
		return nil
	}
	var m map[string]any
	require.NoError(t, json.Unmarshal(d, &m), "data %s", d)
	return m
}

func TestCSV(t *testing.T) {
	type want struct {
		num, line   int
		user, email string
		data        map[string]any
		err         string
	}
	tests := []struct {
		name    string
		in      string
		openErr error
		openMsg string
		rows    []want
	}{
		{
			name: "plain with variables",
			in:   "user_id,email,first_name,plan\n1,a@example.com,Ann,pro\n2,b@example.com,Bob,\n",
			rows: []want{
				{num: 1, line: 2, user: "1", email: "a@example.com", data: map[string]any{"first_name": "Ann", "plan": "pro"}},
				{num: 2, line: 3, user: "2", email: "b@example.com", data: map[string]any{"first_name": "Bob", "plan": ""}},
			},
		},
		{
			name: "only required columns, any order, no trailing newline",
			in:   "email,user_id\r\na@example.com,1",
			rows: []want{{num: 1, line: 2, user: "1", email: "a@example.com"}},
		},
		{
			name: "quoted commas, quotes and newlines",
			in:   "user_id,email,note\n1,a@example.com,\"hello, \"\"world\"\"\nsecond line\"\n2,b@example.com,x\n",
			rows: []want{
				{num: 1, line: 2, user: "1", email: "a@example.com", data: map[string]any{"note": "hello, \"world\"\nsecond line"}},
				{num: 2, line: 4, user: "2", email: "b@example.com", data: map[string]any{"note": "x"}},
			},
		},
		{
			name: "byte order mark and padded header",
			in:   "\uFEFFuser_id , email\n1,a@example.com\n",
			rows: []want{{num: 1, line: 2, user: "1", email: "a@example.com"}},
		},
		{
			name: "ragged rows are row errors and reading goes on",
			in:   "user_id,email,x\n1,a@example.com\n2,b@example.com,x,extra\n3,c@example.com,ok\n",
			rows: []want{
				{num: 1, line: 2, err: "line 2 has 2 fields, the header has 3"},
				{num: 2, line: 3, err: "line 3 has 4 fields, the header has 3"},
				{num: 3, line: 4, user: "3", email: "c@example.com", data: map[string]any{"x": "ok"}},
			},
		},
		{
			name: "bare quote is a row error and reading goes on",
			in:   "user_id,email\n1,a\"b@example.com\n2,b@example.com\n",
			rows: []want{
				{num: 1, line: 2, err: "CSV syntax error at line 2"},
				{num: 2, line: 3, user: "2", email: "b@example.com"},
			},
		},
		{
			name: "empty lines are skipped",
			in:   "user_id,email\n\n1,a@example.com\n\n",
			rows: []want{{num: 1, line: 3, user: "1", email: "a@example.com"}},
		},
		{name: "missing email", in: "user_id,mail\n1,a@example.com\n", openErr: ErrMissingColumn, openMsg: `"email"`},
		{name: "missing both", in: "id,mail\n", openErr: ErrMissingColumn, openMsg: `"user_id", "email"`},
		{name: "case matters", in: "User_ID,email\n", openErr: ErrMissingColumn, openMsg: "case-sensitive"},
		{name: "empty file", in: "", openErr: ErrMissingColumn, openMsg: "empty"},
		{name: "duplicate column", in: "user_id,email,email\n", openErr: ErrBadHeader, openMsg: `"email" appears twice`},
		{name: "unnamed column", in: "user_id,email,\n", openErr: ErrBadHeader, openMsg: "column 3 has no name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewCSV(strings.NewReader(tt.in))
			if tt.openErr != nil {
				require.ErrorIs(t, err, tt.openErr)
				require.ErrorContains(t, err, tt.openMsg)
				return
			}
			require.NoError(t, err)
			rows := readAll(t, r)
			require.Len(t, rows, len(tt.rows))
			for i, w := range tt.rows {
				got := rows[i]
				require.Equal(t, w.num, got.Num, "row %d num", i)
				require.Equal(t, w.line, got.Line, "row %d line", i)
				if w.err != "" {
					require.ErrorContains(t, got.Err, w.err)
					continue
				}
				require.NoError(t, got.Err)
				require.Equal(t, w.user, got.UserID)
				require.Equal(t, w.email, got.Email)
				require.Equal(t, w.data, dataMap(t, got.Data))
			}
		})
	}
}

// TestCSVStreams hands rows out as they arrive: the reader never needs the
// rest of the input, so memory does not grow with the file.
func TestCSVStreams(t *testing.T) {
	pr, pw := io.Pipe()
	lines := make(chan string)
	go func() {
		for l := range lines {
			if _, err := io.WriteString(pw, l); err != nil {
				return
			}
		}
		pw.Close()
	}()
	defer close(lines)
	lines <- "user_id,email,n\n"
	r, err := NewCSV(pr)
	require.NoError(t, err)
	for i := range 100 {
		lines <- fmt.Sprintf("u%d,u%d@example.com,%d\n", i, i, i)
		row, err := r.Next(context.Background())
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("u%d", i), row.UserID)
		require.Equal(t, i+1, row.Num)
	}
}

func TestCSVStopsOnCancel(t *testing.T) {
	r, err := NewCSV(strings.NewReader("user_id,email\n1,a@example.com\n"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Next(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "tab\tnewline\ncr\r", "\x00\x01\x1f\x7f",
		"ünïcödé ✓ 😀", "bad \xff utf8 \xc3", "<b>html & co</b>", "\u2028\u2029",
	} {
		got := appendJSONString(nil, s)
		var back string
		require.NoError(t, json.Unmarshal(got, &back), "%q -> %s", s, got)
		std, err := json.Marshal(s)
		require.NoError(t, err)
		var want string
		require.NoError(t, json.Unmarshal(std, &want))
		require.Equal(t, want, back, "%q", s)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	csvPath := dir + "/users.csv"
	jsonlPath := dir + "/users.jsonl"
	content := "user_id,email\n1,a@example.com\n2,b@example.com\n"
	require.NoError(t, writeFile(csvPath, content))
	require.NoError(t, writeFile(jsonlPath, `{"user_id":"1","email":"a@example.com"}`+"\n"))

	r, err := Open(context.Background(), "csv:"+csvPath, AthenaConfig{})
	require.NoError(t, err)
	require.Len(t, readAll(t, r), 2)
	done, total := r.(Progresser).Progress()
	require.Equal(t, total, done)
	require.EqualValues(t, len(content), total)
	require.NoError(t, r.Close())

	r, err = Open(context.Background(), "jsonl:"+jsonlPath, AthenaConfig{})
	require.NoError(t, err)
	require.Len(t, readAll(t, r), 1)
	require.NoError(t, r.Close())

	for spec, msg := range map[string]string{
		"csv:" + dir + "/nope.csv": "no such file",
		"csv:" + dir:               "is a directory",
		"parquet:x":                "want csv:PATH",
		"csv:":                     "want csv:PATH",
		"users.csv":                "want csv:PATH",
	} {
		_, err := Open(context.Background(), spec, AthenaConfig{})
		require.ErrorContains(t, err, msg, spec)
	}
	require.NoError(t, writeFile(csvPath, "id,email\n"))
	_, err = Open(context.Background(), "csv:"+csvPath, AthenaConfig{})
	require.ErrorIs(t, err, ErrMissingColumn)
	require.ErrorContains(t, err, csvPath)
}
