package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/kafka"
)

// TestSecurityFlagsAndEnvironment: the contract's secured-cluster flags are
// on every binary (RegisterCommon) and each has its SENDONCE_* variable.
func TestSecurityFlagsAndEnvironment(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c Common
	RegisterCommon(fs, &c, "")
	for _, name := range []string{"kafka-tls", "kafka-ca-file", "kafka-cert-file", "kafka-key-file", "kafka-tls-server-name",
		"kafka-sasl", "kafka-username", "kafka-password-file", "kafka-password",
		"redis-ca-file", "redis-password-file", "redis-insecure", "startup-timeout"} {
		require.NotNil(t, fs.Lookup(name), "--%s", name)
	}
	env := map[string]string{
		"SENDONCE_KAFKA_TLS": "true", "SENDONCE_KAFKA_CA_FILE": "/ca.pem", "SENDONCE_KAFKA_SASL": "scram-sha-512",
		"SENDONCE_KAFKA_USERNAME": "app", "SENDONCE_KAFKA_PASSWORD": "from-env",
		"REDIS_URL": "rediss://app@r:6380/0", "SENDONCE_REDIS_CA_FILE": "/rca.pem", "SENDONCE_REDIS_PASSWORD_FILE": "/rpw",
		"SENDONCE_STARTUP_TIMEOUT": "5s",
	}
	require.NoError(t, Parse(fs, []string{"--brokers", "b:9096"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
	require.Equal(t, kafka.Security{TLS: true, CAFile: "/ca.pem", SASL: "scram-sha-512", Username: "app", Password: "from-env"}, c.Kafka)
	require.Equal(t, "/rca.pem", c.Redis.CAFile)
	require.Equal(t, "/rpw", c.Redis.PasswordFile)
	require.Equal(t, 5*time.Second, c.StartupTimeout)
	require.NoError(t, c.Validate())
	kc := c.KafkaClient("sender", nil, nil)
	require.Equal(t, c.Kafka, kc.Security)
	require.Equal(t, []string{"b:9096"}, kc.Brokers)
	rc := c.RedisConfig(9)
	require.Equal(t, c.Redis, rc.Security)
	require.Equal(t, 9, rc.PoolSize)
}

// TestValidateNeverPrintsTheRedisPassword: a bad Redis URL is reported
// without the URL, which may hold a password.
func TestValidateNeverPrintsTheRedisPassword(t *testing.T) {
	c := Common{Brokers: "a:1", TopicPrefix: "p", RedisTimeout: time.Second, StartupTimeout: time.Second}
	for _, u := range []string{"http://u:s3cret@h:1", "redis://u:s3cret@h:bad port/0"} {
		c.RedisURL = u
		err := c.Validate()
		require.ErrorIs(t, err, ErrRedisURL)
		require.False(t, strings.Contains(err.Error(), "s3cret"), err.Error())
	}
	c.RedisURL = "redis://h:1/0"
	c.Kafka.SASL = "kerberos"
	require.ErrorIs(t, c.Validate(), kafka.ErrSASLMechanism)
}
