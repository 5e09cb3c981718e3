package fence

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		want    Config
		wantErr string
	}{
		{name: "defaults", cfg: Config{},
			want: Config{Prefix: "sendonce", Lease: time.Minute, Retention: 62 * 24 * time.Hour, Timeout: 2 * time.Second, OnAbandoned: Hold, Shards: 12, Buckets: 64}},
		{name: "kept", cfg: Config{Prefix: "p", Lease: time.Second, Retention: time.Hour, Timeout: time.Millisecond, OnAbandoned: Resend, Shards: 3, Buckets: 5, ResolveAfter: time.Minute},
			want: Config{Prefix: "p", Lease: time.Second, Retention: time.Hour, Timeout: time.Millisecond, OnAbandoned: Resend, Shards: 3, Buckets: 5, ResolveAfter: time.Minute}},
		{name: "negative shards", cfg: Config{Shards: -1}, wantErr: "shards must be 1 to 16384 (got -1)"},
		{name: "too many buckets", cfg: Config{Buckets: 1 << 21}, wantErr: "buckets must be 1 to"},
		{name: "negative resolve-after", cfg: Config{ResolveAfter: -time.Second}, wantErr: "resolve-after must not be negative"},
		{name: "negative lease", cfg: Config{Lease: -time.Second}, wantErr: "lease must be at least 1ms"},
		{name: "retention under two leases", cfg: Config{Lease: time.Hour, Retention: time.Hour}, wantErr: "retention (1h0m0s) must be at least twice the lease"},
		{name: "negative timeout", cfg: Config{Timeout: -1}, wantErr: "timeout must be at least 1ms"},
		{name: "bad policy", cfg: Config{OnAbandoned: "maybe"}, wantErr: `on-abandoned policy must be "hold" or "resend" (got "maybe")`},
		{name: "space in prefix", cfg: Config{Prefix: "a b"}, wantErr: "contains white space"},
		{name: "brace in prefix", cfg: Config{Prefix: "a{b}"}, wantErr: "contains a brace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrConfig)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, tt.cfg)
		})
	}
}

func TestParseAbandonPolicy(t *testing.T) {
	for in, want := range map[string]AbandonPolicy{"hold": Hold, "Resend": Resend, " hold ": Hold} {
		got, err := ParseAbandonPolicy(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	_, err := ParseAbandonPolicy("never")
	require.ErrorIs(t, err, ErrConfig)
}

func TestNewRejectsNilClient(t *testing.T) {
	_, err := New(nil, Config{}, nil)
	require.ErrorIs(t, err, ErrConfig)
}
