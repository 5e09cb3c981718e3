package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDryRun(t *testing.T) {
	cfg := testConfig()
	src := csvSource(t, 5, "u9,not-an-address,x", ",nobody@example.com,x", "u2,again@example.com,x")
	var file bytes.Buffer
	rep, err := DryRun(context.Background(), cfg, src, &file, nil)
	require.NoError(t, err)
	require.Equal(t, int64(8), rep.Rows)
	require.Equal(t, int64(5), rep.Valid)
	require.Equal(t, int64(2), rep.Rejected)
	require.Equal(t, int64(1), rep.Duplicates)
	require.Equal(t, map[Reason]int64{ReasonInvalidEmail: 1, ReasonMissingUserID: 1}, rep.RejectedBy)

	lines := strings.Split(strings.TrimSpace(file.String()), "\n")
	require.Len(t, lines, 3, "every reject and duplicate in the rejects file")
	var first Reject
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.Equal(t, Reject{Campaign: "2026-11", Row: 6, Line: 7, Reason: ReasonInvalidEmail, UserID: "u9"}, Reject{Campaign: first.Campaign, Row: first.Row, Line: first.Line, Reason: first.Reason, UserID: first.UserID})

	var out bytes.Buffer
	require.NoError(t, rep.WriteText(&out))
	for _, s := range []string{"dry run: nothing was published", "would publish  5", "rejected       2 (", `row 6, line 7, user "u9", invalid_email`, `user "u2", duplicate_user`} {
		require.Contains(t, out.String(), s)
	}

	cfg.MaxRejects = 1
	_, err = DryRun(context.Background(), cfg, csvSource(t, 1, "a,x,x", "b,y,y"), nil, nil)
	require.ErrorIs(t, err, ErrTooManyRejects)
}

func TestDryRunShowsAtMostSomeRejects(t *testing.T) {
	var extra []string
	for i := range maxShownRejects + 20 {
		extra = append(extra, fmt.Sprintf("bad%d,not-an-address,x", i))
	}
	rep, err := DryRun(context.Background(), testConfig(), csvSource(t, 1, extra...), nil, nil)
	require.NoError(t, err)
	require.Len(t, rep.Rejects, maxShownRejects)
	var out bytes.Buffer
	require.NoError(t, rep.WriteText(&out))
	require.Contains(t, out.String(), "… and 20 more: --rejects-file writes every one")
}
