package deploytest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`up{job="sendonce-sender"} == 0`, []string{"up"}},
		{`sum by (outcome) (rate(sendonce_sender_jobs_total{outcome=~"sent|failed"}[$__rate_interval]))`, []string{"sendonce_sender_jobs_total"}},
		{`histogram_quantile(0.99, sum by (le, op) (rate(sendonce_fence_request_duration_seconds_bucket[5m])))`, []string{"sendonce_fence_request_duration_seconds_bucket"}},
		{"sum(max by (partition) (a_lag)) > 1000\nand\nderiv(sum(max by (partition) (a_lag))[15m:1m]) > 0", []string{"a_lag"}},
		{`a / on (instance) group_left (version) b offset 5m`, []string{"a", "b"}},
		{`absent(x{l="{not}[a metric]"} == 1) or vector(0)`, []string{"x"}},
		{`count without (cpu) (node_cpu_seconds_total) > 1e3 # comment metric_in_comment`, []string{"node_cpu_seconds_total"}},
		{`sum(max_over_time(sendonce_producer_published_total[$__range]))`, []string{"sendonce_producer_published_total"}},
		{`foo:recorded:rate5m * 0.5`, []string{"foo:recorded:rate5m"}},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			require.Equal(t, tt.want, metricNames(tt.expr))
		})
	}
}

func TestBaseName(t *testing.T) {
	listed := map[string]bool{"h_seconds": true, "c_total": true, "x_count": true}
	require.Equal(t, "h_seconds", baseName("h_seconds_bucket", listed))
	require.Equal(t, "h_seconds", baseName("h_seconds_sum", listed))
	require.Equal(t, "c_total", baseName("c_total", listed))
	require.Equal(t, "x_count", baseName("x_count", listed))
	require.Equal(t, "nope_bucket", baseName("nope_bucket", listed))
}

func TestParseHelp(t *testing.T) {
	help := `Usage of sender run:
  -brokers string
    	comma-separated Kafka seed brokers ($KAFKA_BROKERS) (default "127.0.0.1:9092")
  -drain-timeout duration
    	how long SIGTERM waits for in-flight work ($SENDONCE_DRAIN_TIMEOUT) (default 25s)
  -json
    	print JSON ($SENDONCE_JSON)
  -x	one letter ($SENDONCE_X) (default 3)
`
	got := parseHelp(help)
	require.Equal(t, map[string]flagInfo{
		"brokers":       {Name: "brokers", Env: "KAFKA_BROKERS", Default: "127.0.0.1:9092"},
		"drain-timeout": {Name: "drain-timeout", Env: "SENDONCE_DRAIN_TIMEOUT", Default: "25s"},
		"json":          {Name: "json", Env: "SENDONCE_JSON"},
		"x":             {Name: "x", Env: "SENDONCE_X", Default: "3"},
	}, got)
}

func TestApplyPatch(t *testing.T) {
	doc := func() any {
		var v any
		require.NoError(t, json.Unmarshal([]byte(`{"metadata":{"annotations":{"a/b":"x"}},"spec":{"list":[1,2,3],"n":1}}`), &v))
		return v
	}
	tests := []struct {
		name string
		ops  []patchOp
		want string
		err  string
	}{
		{"replace", []patchOp{{Op: "replace", Path: "/spec/n", Value: 2.0}}, `{"metadata":{"annotations":{"a/b":"x"}},"spec":{"list":[1,2,3],"n":2}}`, ""},
		{"escaped key", []patchOp{{Op: "replace", Path: "/metadata/annotations/a~1b", Value: "y"}}, `{"metadata":{"annotations":{"a/b":"y"}},"spec":{"list":[1,2,3],"n":1}}`, ""},
		{"add member", []patchOp{{Op: "add", Path: "/spec/m", Value: "v"}}, `{"metadata":{"annotations":{"a/b":"x"}},"spec":{"list":[1,2,3],"m":"v","n":1}}`, ""},
		{"append", []patchOp{{Op: "add", Path: "/spec/list/-", Value: 4.0}}, `{"metadata":{"annotations":{"a/b":"x"}},"spec":{"list":[1,2,3,4],"n":1}}`, ""},
		{"insert", []patchOp{{Op: "add", Path: "/spec/list/0", Value: 0.0}}, `{"metadata":{"annotations":{"a/b":"x"}},"spec":{"list":[0,1,2,3],"n":1}}`, ""},
		{"remove index", []patchOp{{Op: "remove", Path: "/spec/list/1"}}, `{"metadata":{"annotations":{"a/b":"x"}},"spec":{"list":[1,3],"n":1}}`, ""},
		{"replace missing", []patchOp{{Op: "replace", Path: "/spec/missing", Value: 1.0}}, "", "no member"},
		{"deep missing", []patchOp{{Op: "replace", Path: "/nope/x", Value: 1.0}}, "", "no member"},
		{"index out of range", []patchOp{{Op: "replace", Path: "/spec/list/3", Value: 1.0}}, "", "out of range"},
		{"unsupported", []patchOp{{Op: "move", Path: "/spec/n", From: "/spec/list"}}, "", "only add"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := applyPatch(doc(), tt.ops)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			b, err := json.Marshal(got)
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(b))
		})
	}
}

func TestSplitYAML(t *testing.T) {
	docs := splitYAML([]byte("# only a comment\n---\na: 1\n---\n\n---\nb: 2\n"))
	require.Len(t, docs, 2)
	require.Equal(t, "a: 1\n", string(docs[0]))
	require.Equal(t, "b: 2\n", string(docs[1]))
}
