package config

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/redisconn"
)

// Common holds what every binary needs to reach Kafka, Redis and expose
// metrics.
type Common struct {
	Brokers     string
	RedisURL    string
	TopicPrefix string
	MetricsAddr string
	LogLevel    string
	LogFormat   string
	// RedisTimeout bounds each Redis call.
	RedisTimeout time.Duration
	// StartupTimeout bounds how long a binary waits for Kafka at start
	// before it exits with what to check.
	StartupTimeout time.Duration
	// Kafka is TLS and SASL to the brokers (--kafka-*).
	Kafka kafka.Security
	// Redis is TLS and the password file beside RedisURL (--redis-*).
	Redis redisconn.Security
}

// RegisterCommon binds the common flags with their defaults.
func RegisterCommon(fs *flag.FlagSet, c *Common, metricsAddr string) {
	fs.StringVar(&c.Brokers, "brokers", "127.0.0.1:9092", "comma-separated Kafka seed brokers")
	fs.StringVar(&c.RedisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis URL (redis:// or rediss:// for TLS)")
	fs.StringVar(&c.TopicPrefix, "topic-prefix", "sendonce", "prefix of every topic")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", metricsAddr, "address of /metrics, /healthz and /readyz (empty: off)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "auto", "text, json, or auto (text on a terminal, json otherwise)")
	fs.DurationVar(&c.RedisTimeout, "redis-timeout", 2*time.Second, "timeout of each Redis call")
	fs.DurationVar(&c.StartupTimeout, "startup-timeout", 30*time.Second, "how long the sender, the retrier and their subcommands wait for Kafka at start before exiting with what to check (producer publish: --connect-timeout)")
	c.Kafka.RegisterFlags(fs)
	c.Redis.RegisterFlags(fs)
}

// Errors returned by Common.Validate.
var (
	ErrNoBrokers   = errors.New("no Kafka brokers: set --brokers or KAFKA_BROKERS")
	ErrRedisURL    = errors.New("invalid Redis URL: want redis://host:port/db or rediss://")
	ErrTopicPrefix = errors.New("invalid topic prefix: use letters, digits, '.', '_' or '-'")
)

// BrokerList splits Brokers.
func (c *Common) BrokerList() []string {
	var out []string
	for _, b := range strings.Split(c.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Validate says what is wrong, in words.
func (c *Common) Validate() error {
	if len(c.BrokerList()) == 0 {
		return ErrNoBrokers
	}
	if err := c.RedisConfig(0).Validate(); err != nil {
		if errors.Is(err, redisconn.ErrURL) {
			// Never the URL itself: it may hold a password.
			return fmt.Errorf("%w (the URL is not printed: it may hold a password)", ErrRedisURL)
		}
		return err
	}
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	if c.StartupTimeout <= 0 {
		return errors.New("--startup-timeout must be positive")
	}
	if c.TopicPrefix == "" || strings.Trim(c.TopicPrefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return fmt.Errorf("%w (got %q)", ErrTopicPrefix, c.TopicPrefix)
	}
	if c.RedisTimeout <= 0 {
		return errors.New("--redis-timeout must be positive")
	}
	return nil
}
