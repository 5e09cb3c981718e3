package retrier

import (
	"flag"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/config"
	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/retry"
)

func TestFlagsDefaultsAndEnv(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		tiers    []time.Duration
		attempts int
		drain    time.Duration
		metrics  string
		err      string
	}{
		{name: "defaults", tiers: retry.DefaultTiers, attempts: 8, drain: 25 * time.Second, metrics: ":9091"},
		{name: "env", env: map[string]string{"SENDONCE_RETRY_TIERS": "1s,5s", "SENDONCE_MAX_ATTEMPTS": "3", "SENDONCE_DRAIN_TIMEOUT": "5s", "METRICS_ADDR": ":1"},
			tiers: []time.Duration{time.Second, 5 * time.Second}, attempts: 3, drain: 5 * time.Second, metrics: ":1"},
		{name: "flag wins", args: []string{"--retry-tiers", "2m,1h", "--max-attempts", "4"}, env: map[string]string{"SENDONCE_RETRY_TIERS": "1s"},
			tiers: []time.Duration{2 * time.Minute, time.Hour}, attempts: 4, drain: 25 * time.Second, metrics: ":9091"},
		{name: "bad tiers", args: []string{"--retry-tiers", "soon"}, err: "retry tier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("retrier run", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var common config.Common
			cfg := DefaultConfig()
			config.RegisterCommon(fs, &common, ":9091")
			cfg.RegisterFlags(fs)
			require.Equal(t, "30s,2m,10m,1h", fs.Lookup("retry-tiers").DefValue)
			err := config.Parse(fs, tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, cfg.Validate())
			require.Equal(t, tt.tiers, cfg.Policy.Tiers)
			require.Equal(t, tt.attempts, cfg.Policy.MaxAttempts)
			require.Equal(t, tt.drain, cfg.DrainTimeout)
			require.Equal(t, tt.metrics, common.MetricsAddr)
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		err    error
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "no tiers", mutate: func(c *Config) { c.Policy.Tiers = nil }, err: retry.ErrNoTiers},
		{name: "tiers out of order", mutate: func(c *Config) { c.Policy.Tiers = []time.Duration{time.Minute, time.Second} }, err: retry.ErrTierOrder},
		{name: "no attempts", mutate: func(c *Config) { c.Policy.MaxAttempts = 0 }, err: retry.ErrMaxAttempts},
		{name: "drain", mutate: func(c *Config) { c.DrainTimeout = 0 }, err: ErrDrain},
		{name: "commit interval", mutate: func(c *Config) { c.CommitInterval = 0 }, err: ErrInterval},
		{name: "fetch bytes", mutate: func(c *Config) { c.FetchMaxBytes = c.FetchMaxPartitionBytes - 1 }, err: ErrFetchBytes},
		{name: "fetch wait", mutate: func(c *Config) { c.FetchMaxWait = time.Millisecond }, err: ErrFetchWait},
		{name: "batch", mutate: func(c *Config) { c.MaxBatch = 0 }, err: ErrBatch},
		{name: "partitions", mutate: func(c *Config) { c.Partitions = 0 }, err: ErrLayout},
		{name: "replication", mutate: func(c *Config) { c.ReplicationFactor = 0 }, err: ErrLayout},
		{name: "no paused wake", mutate: func(c *Config) { c.PausedWake = 0 }, err: ErrPausedWake},
		{name: "paused wake too long", mutate: func(c *Config) { c.PausedWake = time.Hour }, err: ErrPausedWake},
		{name: "dlq kept longer than the fence", mutate: func(c *Config) { c.DLQRetention = c.FenceRetention + time.Hour }, err: ErrRetention},
		{name: "shorter fence retention", mutate: func(c *Config) { c.FenceRetention = 30 * 24 * time.Hour }, err: ErrRetention},
		{name: "both shorter", mutate: func(c *Config) { c.FenceRetention, c.DLQRetention = 30*24*time.Hour, 30*24*time.Hour }},
		{name: "no dlq retention", mutate: func(c *Config) { c.DLQRetention = 0 }, err: ErrRetention},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.err)
		})
	}
}

// TestRetentionErrorNamesBothFlags: the operator reads which two settings
// disagree, and the DLQ is created with the configured retention.
func TestRetentionErrorNamesBothFlags(t *testing.T) {
	c := DefaultConfig()
	c.DLQRetention = 90 * 24 * time.Hour
	err := c.Validate()
	require.ErrorIs(t, err, ErrRetention)
	require.ErrorContains(t, err, "--dlq-retention 2160h0m0s")
	require.ErrorContains(t, err, "--fence-retention 1488h0m0s")

	c = DefaultConfig()
	c.Topics = kafka.Topics{Prefix: "p"}
	c.FenceRetention, c.DLQRetention = 10*24*time.Hour, 7*24*time.Hour
	require.NoError(t, c.Validate())
	got := map[string]string{}
	for _, s := range c.Layout().Specs() {
		if s.Name == "p.dlq" {
			got = s.Configs
		}
	}
	require.Equal(t, "604800000", got["retention.ms"])
	// The default DLQ is kept no longer than the default fence.
	d := DefaultConfig()
	require.LessOrEqual(t, d.DLQRetention, d.FenceRetention)
	for _, s := range (&kafka.Layout{Topics: kafka.Topics{Prefix: "p"}}).Specs() {
		if s.Name == "p.dlq" {
			require.Equal(t, strconv.FormatInt(d.FenceRetention.Milliseconds(), 10), s.Configs["retention.ms"], "the DLQ a sender creates is kept as long as the default fence")
		}
	}
}

func TestLayoutHasEveryTier(t *testing.T) {
	c := DefaultConfig()
	c.Topics = kafka.Topics{Prefix: "p"}
	names := map[string]bool{}
	for _, s := range c.Layout().Specs() {
		names[s.Name] = true
	}
	for _, n := range []string{"p.jobs", "p.dlq", "p.ledger", "p.retry.30s", "p.retry.2m", "p.retry.10m", "p.retry.1h"} {
		require.True(t, names[n], n)
	}
}

func TestGroupFollowsThePrefix(t *testing.T) {
	c := DefaultConfig()
	c.Topics.Prefix = "staging"
	require.NoError(t, c.Validate())
	require.Equal(t, "staging-retrier", c.Group)
}
