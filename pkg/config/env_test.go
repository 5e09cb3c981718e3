package config

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseEnvAndFlagPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		brokers string
		conc    int
		lease   time.Duration
		err     string
	}{
		{name: "defaults", brokers: "127.0.0.1:9092", conc: 64, lease: time.Minute},
		{name: "env", env: map[string]string{"KAFKA_BROKERS": "k:1", "SENDONCE_CONCURRENCY": "8", "SENDONCE_FENCE_LEASE": "2m"}, brokers: "k:1", conc: 8, lease: 2 * time.Minute},
		{name: "flag wins", args: []string{"--concurrency", "3"}, env: map[string]string{"SENDONCE_CONCURRENCY": "8"}, brokers: "127.0.0.1:9092", conc: 3, lease: time.Minute},
		{name: "bad env", env: map[string]string{"SENDONCE_CONCURRENCY": "lots"}, err: "SENDONCE_CONCURRENCY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var c Common
			RegisterCommon(fs, &c, ":9090")
			conc := fs.Int("concurrency", 64, "")
			lease := fs.Duration("fence-lease", time.Minute, "")
			err := Parse(fs, tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.brokers, c.Brokers)
			require.Equal(t, tt.conc, *conc)
			require.Equal(t, tt.lease, *lease)
		})
	}
}

func TestEnvNames(t *testing.T) {
	require.Equal(t, "KAFKA_BROKERS", EnvName("brokers"))
	require.Equal(t, "REDIS_URL", EnvName("redis-url"))
	require.Equal(t, "METRICS_ADDR", EnvName("metrics-addr"))
	require.Equal(t, "SENDONCE_TOPIC_PREFIX", EnvName("topic-prefix"))
	require.Equal(t, "SENDONCE_MAX_SEND_RATE", EnvName("max-send-rate"))
}

func TestCommonValidate(t *testing.T) {
	base := Common{Brokers: "a:1", RedisURL: "redis://x:1/0", TopicPrefix: "sendonce", RedisTimeout: time.Second, StartupTimeout: time.Second}
	require.NoError(t, base.Validate())
	c := base
	c.Brokers = " , "
	require.ErrorIs(t, c.Validate(), ErrNoBrokers)
	c = base
	c.RedisURL = "http://x"
	require.ErrorIs(t, c.Validate(), ErrRedisURL)
	c = base
	c.TopicPrefix = "a/b"
	require.ErrorIs(t, c.Validate(), ErrTopicPrefix)
}
