package source

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

func TestJSONL(t *testing.T) {
	long := `{"user_id":"x","email":"x@example.com","data":{"pad":"` + strings.Repeat("a", MaxLineBytes) + `"}}`
	in := strings.Join([]string{
		`{"user_id":"1","email":"a@example.com","data":{"first_name":"Ann","n":3,"tags":["a"]}}`,
		``,
		`{"user_id":42,"email":"b@example.com"}`,
		`{"user_id":"3","email":"c@example.com","data":null}`,
		`not json`,
		`{"user_id":"5","email":"e@example.com","data":[1,2]}`,
		`{"user_id":true,"email":"f@example.com"}`,
		`{"email":"g@example.com","extra":"ignored"}`,
		long,
		`  {"user_id":"10","email":"j@example.com"}  `,
		`{"user_id":"11","email":"k@example.com"}`, // no trailing newline
	}, "\n")
	rows := readAll(t, NewJSONL(strings.NewReader(in)))
	require.Len(t, rows, 10)

	require.Equal(t, 1, rows[0].Num)
	require.Equal(t, "1", rows[0].UserID)
	require.Equal(t, "a@example.com", rows[0].Email)
	require.Equal(t, map[string]any{"first_name": "Ann", "n": 3.0, "tags": []any{"a"}}, dataMap(t, rows[0].Data))

	require.Equal(t, 3, rows[1].Num, "numbers are line numbers; the blank line counts")
	require.Equal(t, "42", rows[1].UserID, "numeric ids are taken literally")
	require.Nil(t, rows[1].Data)

	require.Equal(t, "3", rows[2].UserID)
	require.Nil(t, rows[2].Data)

	require.Equal(t, 5, rows[3].Num)
	require.ErrorContains(t, rows[3].Err, "line 5: not a JSON object")

	require.ErrorContains(t, rows[4].Err, "line 6: data must be a JSON object")
	require.ErrorContains(t, rows[5].Err, "line 7: user_id must be a string or a number")

	require.NoError(t, rows[6].Err)
	require.Empty(t, rows[6].UserID, "a missing user_id is the producer's reject, not a parse error")

	require.Equal(t, 9, rows[7].Num)
	require.ErrorIs(t, rows[7].Err, ErrRowTooLarge)

	require.Equal(t, "10", rows[8].UserID)
	require.Equal(t, 11, rows[9].Num)
	require.Equal(t, "11", rows[9].UserID)
}

func TestJSONLDataIsCopied(t *testing.T) {
	r := NewJSONL(strings.NewReader(`{"user_id":"1","email":"a@example.com","data":{"a":"1"}}` + "\n" +
		`{"user_id":"2","email":"b@example.com","data":{"b":"2"}}` + "\n"))
	rows := readAll(t, r)
	require.JSONEq(t, `{"a":"1"}`, string(rows[0].Data))
	require.JSONEq(t, `{"b":"2"}`, string(rows[1].Data))
}
