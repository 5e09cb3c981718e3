package producer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/job"
	"github.com/sendonce/sendonce/pkg/source"
)

func TestCheckRow(t *testing.T) {
	bigData := func(n int) json.RawMessage {
		// {"x":"aaa…"} of exactly n bytes
		return json.RawMessage(`{"x":"` + strings.Repeat("a", n-8) + `"}`)
	}
	tests := []struct {
		name   string
		row    source.Row
		reason Reason
		detail string
	}{
		{name: "valid", row: source.Row{UserID: "1", Email: "a@example.com"}},
		{name: "valid with data", row: source.Row{UserID: "1", Email: "a@example.com", Data: json.RawMessage(`{"a":"b"}`)}},
		{name: "email is trimmed", row: source.Row{UserID: "1", Email: "  a@example.com\t"}},
		{name: "plus and subdomain", row: source.Row{UserID: "1", Email: "a.b+tag@mail.example.co.uk"}},
		{name: "user id of 256 bytes", row: source.Row{UserID: strings.Repeat("é", 128), Email: "a@example.com"}},
		{name: "email of 254 characters", row: source.Row{UserID: "1", Email: strings.Repeat("a", 64) + "@" + strings.Repeat(strings.Repeat("b", 61)+".", 3) + "com"}},
		{name: "IDNA domain", row: source.Row{UserID: "1", Email: "zoe@xn--bcher-kva.example"}},
		{name: "data at the limit", row: source.Row{UserID: "1", Email: "a@example.com", Data: bigData(job.MaxTemplateData)}},

		{name: "parse error", row: source.Row{Err: errors.New("line 3 has 2 fields, the header has 3")}, reason: ReasonMalformedRow, detail: "line 3 has 2 fields"},
		{name: "line too long", row: source.Row{Err: fmt.Errorf("%w: line 9", source.ErrRowTooLarge)}, reason: ReasonDataTooLarge, detail: "line 9"},
		{name: "empty user id", row: source.Row{Email: "a@example.com"}, reason: ReasonMissingUserID},
		{name: "user id of 257 bytes", row: source.Row{UserID: strings.Repeat("x", 257), Email: "a@example.com"}, reason: ReasonUserIDTooLong, detail: "257 bytes"},
		{name: "empty email", row: source.Row{UserID: "1", Email: "  "}, reason: ReasonMissingEmail},
		{name: "no at sign", row: source.Row{UserID: "1", Email: "a.example.com"}, reason: ReasonInvalidEmail},
		{name: "two addresses", row: source.Row{UserID: "1", Email: "a@example.com, b@example.com"}, reason: ReasonInvalidEmail},
		{name: "two addresses with semicolon", row: source.Row{UserID: "1", Email: "a@example.com;b@example.com"}, reason: ReasonInvalidEmail},
		{name: "display name", row: source.Row{UserID: "1", Email: "Ann <a@example.com>"}, reason: ReasonInvalidEmail, detail: "bare address"},
		{name: "angle brackets", row: source.Row{UserID: "1", Email: "<a@example.com>"}, reason: ReasonInvalidEmail, detail: "bare address"},
		{name: "comment", row: source.Row{UserID: "1", Email: "a@example.com (Ann)"}, reason: ReasonInvalidEmail},
		{name: "space inside", row: source.Row{UserID: "1", Email: "a b@example.com"}, reason: ReasonInvalidEmail},
		{name: "no domain", row: source.Row{UserID: "1", Email: "a@"}, reason: ReasonInvalidEmail},
		// SES refuses non-ASCII local parts at send time: refuse the row now.
		{name: "non-ASCII local part", row: source.Row{UserID: "1", Email: "zoë@example.com"}, reason: ReasonInvalidEmail, detail: "non-ASCII"},
		{name: "unicode domain", row: source.Row{UserID: "1", Email: "zoe@bücher.example"}, reason: ReasonInvalidEmail, detail: "IDNA"},
		{name: "quoted local part", row: source.Row{UserID: "1", Email: `"zoe smith"@example.com`}, reason: ReasonInvalidEmail},
		{name: "dotless domain", row: source.Row{UserID: "1", Email: "zoe@localhost"}, reason: ReasonInvalidEmail},
		{name: "email of 255 characters", row: source.Row{UserID: "1", Email: strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com"}, reason: ReasonEmailTooLong, detail: "255 characters"},
		{name: "data over the limit", row: source.Row{UserID: "1", Email: "a@example.com", Data: bigData(job.MaxTemplateData + 1)}, reason: ReasonDataTooLarge, detail: "262145 bytes"},
		{
			// 50,000 '<' are 50,000 bytes here but 300,000 once encoding/json
			// escapes them in the job: over the limit.
			name: "data that grows when escaped", row: source.Row{UserID: "1", Email: "a@example.com", Data: json.RawMessage(`{"x":"` + strings.Repeat("<", 50000) + `"}`)},
			reason: ReasonDataTooLarge,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := tt.row
			reason, detail := CheckRow(&row)
			require.Equal(t, tt.reason, reason, detail)
			require.Contains(t, detail, tt.detail)
			if tt.reason == "" {
				require.Empty(t, detail)
				require.Equal(t, strings.TrimSpace(tt.row.Email), row.Email)
			} else {
				require.NotEmpty(t, detail)
				if row.Email != "" && len(row.Email) > 3 {
					require.NotContains(t, detail, row.Email, "reports never echo the address")
				}
			}
		})
	}
}

// TestCheckRowDataLenMatchesEncoding: what CheckRow measures is what the
// job carries after encoding, so the sender's job.Validate agrees.
func TestCheckRowDataLenMatchesEncoding(t *testing.T) {
	for _, d := range []string{
		`{"x":"plain"}`,
		`{ "x" : "<b>&amp;</b>" , "y": [1, 2] }`,
		`{"x":"` + strings.Repeat("<&>\u2028", 20000) + `"}`,
	} {
		j := job.Job{Version: 1, Campaign: "c", UserID: "u", Email: "a@example.com", Template: "t", From: "f@example.com", Data: json.RawMessage(d)}
		b, err := j.Encode()
		require.NoError(t, err)
		back, err := job.Decode(b)
		if encodedDataLen(json.RawMessage(d)) > job.MaxTemplateData {
			require.ErrorIs(t, err, job.ErrMalformed)
			continue
		}
		require.NoError(t, err)
		if len(d)*6 > job.MaxTemplateData {
			require.Equal(t, len(back.Data), encodedDataLen(json.RawMessage(d)))
		}
	}
}

func TestReasonsAreComplete(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons {
		require.False(t, seen[r], "reason %s listed twice", r)
		seen[r] = true
		require.Regexp(t, `^[a-z_]+$`, string(r))
	}
	require.Len(t, seen, 8)
}

func TestUserSet(t *testing.T) {
	s := newUserSet()
	require.True(t, s.add("a"))
	require.True(t, s.add("b"))
	require.False(t, s.add("a"))
	require.True(t, s.add("A"))
	require.True(t, s.add(""))
	require.False(t, s.add(""))
	for i := range 100000 {
		require.True(t, s.add(fmt.Sprintf("user-%d", i)))
	}
	require.Equal(t, 100004, s.len())
}
