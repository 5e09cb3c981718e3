package producer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/ses"
	"github.com/sendonce/sendonce/pkg/source"
)

// fakeCheckSES answers the pre-flight checks from fields and records the
// calls.
type fakeCheckSES struct {
	templateErr error
	verified    bool
	identityErr error
	renderErr   error

	identityOf string
	rendered   []string // TemplateData of each Render
}

func (f *fakeCheckSES) Template(context.Context, string) error { return f.templateErr }
func (f *fakeCheckSES) Render(_ context.Context, _ string, data string) (string, error) {
	f.rendered = append(f.rendered, data)
	return "Subject: x", f.renderErr
}
func (f *fakeCheckSES) IdentityVerified(_ context.Context, from string) (bool, error) {
	f.identityOf = from
	return f.verified, f.identityErr
}

func TestCheck(t *testing.T) {
	notFound := fmt.Errorf("ses GetEmailTemplate: %w", ses.ErrTemplateNotFound)
	cases := []struct {
		name       string
		api        fakeCheckSES
		skip       bool
		extraFirst []string // rows before the CSV's valid users
		users      int
		wantErr    []string // substrings; empty: no error
		wantData   string   // TemplateData rendered
	}{
		{name: "ok", api: fakeCheckSES{verified: true}, users: 3, wantData: `{"first_name":"Name 0"}`},
		{name: "template missing", api: fakeCheckSES{templateErr: notFound, verified: true}, users: 3,
			wantErr: []string{`--template "monthly_news" does not exist in SES`, "create it"}},
		{name: "template lookup denied", api: fakeCheckSES{templateErr: errors.New("AccessDenied"), verified: true}, users: 3,
			wantErr: []string{"ses:GetEmailTemplate"}},
		{name: "identity not verified", api: fakeCheckSES{verified: false}, users: 3,
			wantErr: []string{`"news@example.com" and its domain are not verified`, "fix --from"}},
		{name: "identity lookup denied", api: fakeCheckSES{identityErr: errors.New("AccessDenied")}, users: 3,
			wantErr: []string{"ses:GetEmailIdentity", "--skip-identity-check"}},
		{name: "identity skipped", api: fakeCheckSES{verified: false}, skip: true, users: 3, wantData: `{"first_name":"Name 0"}`},
		{name: "emulator without GetEmailIdentity", api: fakeCheckSES{identityErr: ses.ErrNotImplemented}, users: 3, wantData: `{"first_name":"Name 0"}`},
		{name: "does not render", api: fakeCheckSES{verified: true, renderErr: errors.New("MissingRenderingAttribute hours")}, users: 3,
			wantErr: []string{`does not render for row 1 (user "u0") with its variables {first_name}`, "MissingRenderingAttribute"}},
		{name: "first valid row is rendered", api: fakeCheckSES{verified: true}, users: 2,
			extraFirst: []string{"x1,not-an-address,Bad", ",nobody@example.com,Nobody"}, wantData: `{"first_name":"Name 0"}`},
		{name: "no valid row", api: fakeCheckSES{verified: true}, users: 0, extraFirst: []string{"x1,not-an-address,Bad"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			src := csvWithFirst(t, tc.extraFirst, tc.users)
			rs, err := Check(context.Background(), &cfg, src, &tc.api, CheckOptions{SkipIdentity: tc.skip})
			if len(tc.wantErr) > 0 {
				require.ErrorIs(t, err, ErrCheckFailed)
				for _, s := range tc.wantErr {
					require.ErrorContains(t, err, s)
				}
				if tc.api.renderErr == nil {
					require.Empty(t, tc.api.rendered, "a failed check renders nothing after it")
				}
				return
			}
			require.NoError(t, err)
			if !tc.skip {
				require.Equal(t, "news@example.com", tc.api.identityOf, "the address, not the display name")
			}
			if tc.wantData != "" {
				require.Equal(t, []string{tc.wantData}, tc.api.rendered)
			} else {
				require.Empty(t, tc.api.rendered)
			}
			// Every row comes out again, the rows read ahead first.
			var ids []string
			for {
				row, err := rs.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				ids = append(ids, row.UserID)
			}
			require.Len(t, ids, len(tc.extraFirst)+tc.users)
			if tc.users > 0 {
				require.Equal(t, fmt.Sprintf("u%d", tc.users-1), ids[len(ids)-1])
			}
		})
	}
}

// csvWithFirst is a CSV whose first rows are first, then users u0..u(n-1).
func csvWithFirst(t *testing.T, first []string, n int) *replaySource {
	t.Helper()
	// csvSource appends its extra lines after the users: build the reverse
	// order by reading the extra lines first through a replaySource.
	head := csvSource(t, 0, first...)
	var rows []source.Row
	for {
		row, err := head.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		rows = append(rows, row)
	}
	return &replaySource{Reader: csvSource(t, n), rows: rows}
}
