package job

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckAddress(t *testing.T) {
	long := strings.Repeat("a", 65)
	tests := []struct {
		addr string
		want string // "" accepts; else a part of the error
	}{
		{"ann@example.com", ""},
		{"ann.lee+news@sub.example.co.uk", ""},
		{"o'brien@example.com", ""},
		{"ann@xn--bcher-kva.example", ""}, // IDNA form of bücher.example
		{"zoë@example.com", "non-ASCII character; SES accepts only ASCII local parts"},
		{"ann@bücher.example", "IDNA form"},
		{"", "empty"},
		{"ann.example.com", "no @"},
		{"@example.com", "local part (before @) is empty"},
		{"ann@", "domain (after @) is empty"},
		{"Ann <ann@example.com>", "space, quote"},
		{`"ann lee"@example.com`, "quoted local parts"},
		{".ann@example.com", "dot"},
		{"ann..lee@example.com", "dot"},
		{long + "@example.com", "local part is 65 bytes"},
		{"ann@localhost", "single label"},
		{"ann@example..com", "empty label"},
		{"ann@-example.com", "hyphen"},
		{"ann@exa_mple.com", "other than letters"},
		{"ann@[192.0.2.1]", "literals"},
		{"ann@" + strings.Repeat("a", 64) + ".com", "label is 64 bytes"},
		{"ann\r\n@example.com", "control"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := CheckAddress(tt.addr)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrAddress)
			require.ErrorContains(t, err, tt.want)
			if tt.addr != "" {
				require.NotContains(t, err.Error(), tt.addr, "the error never echoes the address")
			}
		})
	}
}

func TestCheckIDs(t *testing.T) {
	require.NoError(t, CheckCampaignID("2026-11.v2_a"))
	for _, bad := range []string{"", "a:b", "a b", strings.Repeat("c", 65), "ü"} {
		require.ErrorIs(t, CheckCampaignID(bad), ErrCampaignID, bad)
	}
	require.NoError(t, CheckTemplate("usage_v2-b"))
	for _, bad := range []string{"", "a.b", "a/b", strings.Repeat("t", 65)} {
		require.ErrorIs(t, CheckTemplate(bad), ErrTemplate, bad)
	}
}

func TestRedactAddresses(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Email address is not verified: ann@example.com", "Email address is not verified: <address>"},
		{"identities failed the check: zoë@bücher.example, bob@x.io.", "identities failed the check: <address>, <address>"},
		{"to=ann%40example.com rejected", "to=<address> rejected"},
		{"<ann@example.com>", "<<address>>"},
		{"throttled: maximum sending rate exceeded", "throttled: maximum sending rate exceeded"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, RedactAddresses(tt.in))
	}
}
