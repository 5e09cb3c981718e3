package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// TestRealBrokerOverSASLSSL: the real broker's SASL_SSL listener (TLS with
// the test CA of scripts/services.sh, SCRAM-SHA-512) takes the topic layout,
// a produce and a read to the end, all through NewClient.
func TestRealBrokerOverSASLSSL(t *testing.T) {
	k := testenv.SecuredKafka(t)
	sec := Security{CAFile: k.CAFile, SASL: SASLScramSHA512, Username: k.Username, PasswordFile: k.PasswordFile}
	brokers := []string{k.Brokers}
	cl, err := NewClient(ClientConfig{Brokers: brokers, ClientID: "security-test", Security: sec})
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, WaitReachable(ctx, cl, brokers, 30*time.Second))

	topics := Topics{Prefix: testenv.Name(t, "sasl")}
	require.NoError(t, EnsureTopics(ctx, cl, Layout{Topics: topics, Partitions: 2, ReplicationFactor: -1, Tiers: retry.DefaultTiers}, nil))
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Topic: topics.Jobs(), Key: []byte("u1"), Value: []byte("over SASL_SSL")}).FirstErr())
	var got []string
	require.NoError(t, ReadToEnd(ctx, cl, []string{topics.Jobs()}, func(r *kgo.Record) error { got = append(got, string(r.Value)); return nil }))
	require.Equal(t, []string{"over SASL_SSL"}, got)
}
