package config

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sendonce/sendonce/pkg/kafka"
	"github.com/sendonce/sendonce/pkg/redisconn"
)

// KafkaClient is the kafka.ClientConfig of the common flags: brokers, TLS
// and SASL. Every binary and subcommand builds its client from it, so that
// `run`, `status` and `replay` reach the cluster the same way.
func (c *Common) KafkaClient(clientID string, log *slog.Logger, reg prometheus.Registerer) kafka.ClientConfig {
	return kafka.ClientConfig{Brokers: c.BrokerList(), ClientID: clientID, Logger: log, Registerer: reg, Security: c.Kafka}
}

// RedisConfig is the redisconn.Config of the common flags (poolSize 0:
// go-redis's default).
func (c *Common) RedisConfig(poolSize int) redisconn.Config {
	return redisconn.Config{URL: c.RedisURL, Security: c.Redis, Timeout: c.RedisTimeout, PoolSize: poolSize}
}
