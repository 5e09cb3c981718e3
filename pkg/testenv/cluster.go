package testenv

import "testing"

// RedisClusterURL returns the URL of the real 3-master Redis Cluster that
// scripts/services.sh starts (REDIS_CLUSTER_URL, a redis+cluster:// URL as
// pkg/redisconn accepts it). A test builds its client with redisconn.New,
// which pings every master: a cluster that is set but unreachable fails
// the test there.
func RedisClusterURL(t testing.TB) string {
	t.Helper()
	return need(t, "REDIS_CLUSTER_URL", "a real Redis Cluster (services.sh starts three nodes; services started by an older services.sh need `scripts/services.sh up` again)")
}
