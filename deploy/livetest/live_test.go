package livetest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/sendonce/sendonce/pkg/producer"
	"github.com/sendonce/sendonce/pkg/sesfake"
	"github.com/sendonce/sendonce/pkg/testenv"
)

func TestDashboardAndAlertsQueryExportedMetrics(t *testing.T) {
	brokers := testenv.Kafka(t)
	redisURL := testenv.RedisURL(t)
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Fatalf("prometheus is not installed (scripts/services.sh up installs Debian's prometheus package): %v", err)
	}
	root := repoRoot(t)
	bin := buildBinaries(t, root)
	prefix := testenv.Name(t, "live")
	// SES's events of every accepted email reach an SQS queue on moto
	// (docs/EVENTS.md), which `sender reconcile` consumes: its series exist.
	events := newEventsPath(t, prefix)

	// A fake SES that throttles some calls and rejects one recipient, so the
	// retry, DLQ and failure series exist.
	var calls atomic.Int64
	ses := sesfake.New(sesfake.Config{MaxSendRate: 1000, OnAccepted: events.pub.Accepted, Fault: func(r *sesfake.SendRequest) *sesfake.Fault {
		n := calls.Add(1)
		switch {
		case strings.HasPrefix(r.To[0], "reject"):
			return sesfake.Reject
		case n%7 == 0:
			return sesfake.Throttle
		}
		return nil
	}})
	require.NoError(t, ses.Start())
	t.Cleanup(func() { ses.Close() })
	require.NoError(t, ses.CreateTemplate("usage", "Usage {{name}}", "<p>{{kwh}}</p>", "{{kwh}}"))

	env := append(os.Environ(),
		"KAFKA_BROKERS="+strings.Join(brokers, ","), "REDIS_URL="+redisURL,
		"SENDONCE_TOPIC_PREFIX="+prefix, "AWS_ENDPOINT_URL_SESV2="+ses.URL(),
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"SENDONCE_RETRY_TIERS=1s,2s", "SENDONCE_PARTITIONS=3", "SENDONCE_LOG_LEVEL=warn")

	csv := filepath.Join(t.TempDir(), "users.csv")
	var b strings.Builder
	b.WriteString("user_id,email,name,kwh\n")
	for i := range 200 {
		fmt.Fprintf(&b, "u%d,user%d@example.com,User %d,%d\n", i, i, i, i)
	}
	// A bounce and a complaint (sesevents.DefaultRules), so that the
	// reconciler counts every fact.
	b.WriteString("r1,reject1@example.com,R,1\n,missing@example.com,X,1\nb1,bounce+b1@example.com,B,1\nc1,complaint+c1@example.com,C,1\n")
	require.NoError(t, os.WriteFile(csv, []byte(b.String()), 0o644))
	run(t, env, bin["producer"], "publish", "--campaign", "live", "--source", "csv:"+csv, "--template", "usage", "--from", "r@example.com",
		"--configuration-set", "live", "--require-configuration-set")

	senderAddr, retrierAddr, reconcileAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	start(t, append(env, "METRICS_ADDR="+senderAddr), bin["sender"], "run")
	start(t, append(env, "METRICS_ADDR="+retrierAddr), bin["retrier"], "run")
	start(t, append(env, "METRICS_ADDR="+reconcileAddr, "SENDONCE_EVENTS_QUEUE_URL="+events.queueURL, "SENDONCE_EVENTS_DLQ_URL="+events.dlqURL),
		bin["sender"], "reconcile")
	promURL := startPrometheus(t, senderAddr, retrierAddr, reconcileAddr)

	// Wait until the campaign is complete and Prometheus has scraped both
	// services after it.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out := run(t, env, bin["producer"], "status", "--campaign", "live", "--json")
		var st struct{ Complete bool }
		require.NoError(t, json.Unmarshal([]byte(out), &st), out)
		if st.Complete {
			break
		}
		require.True(t, time.Now().Before(deadline), "campaign not complete in time: %s", out)
		time.Sleep(500 * time.Millisecond)
	}
	waitScraped(t, promURL, 3, 3)
	// The reconciler's per-campaign facts exist once it has settled the
	// campaign's events (each about 200 ms after its email).
	deadline = time.Now().Add(time.Minute)
	for !metricNames(t, promURL)["sendonce_reconcile_facts_total"] {
		require.True(t, time.Now().Before(deadline), "sender reconcile settled no SES event within a minute (see its log)")
		time.Sleep(500 * time.Millisecond)
	}

	exported := metricNames(t, promURL)
	// The producer is a CronJob: its metrics exist while it runs. Take its
	// names from its own registry (the same constructor the binary uses).
	reg := prometheus.NewRegistry()
	producer.NewMetrics(reg)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		exported[mf.GetName()] = true
	}

	used := map[string][]string{} // metric → where
	for _, q := range dashboardQueries(t, filepath.Join(root, "deploy/grafana/sendonce.json")) {
		checkQuery(t, promURL, q.expr, q.where)
		for _, m := range metricsIn(q.expr) {
			used[m] = append(used[m], q.where)
		}
	}
	for _, q := range alertQueries(t, filepath.Join(root, "deploy/prometheus/alerts.yml")) {
		checkQuery(t, promURL, q.expr, q.where)
		for _, m := range metricsIn(q.expr) {
			used[m] = append(used[m], q.where)
		}
	}
	require.NotEmpty(t, used)
	var missing []string
	for m, where := range used {
		if !exported[m] && !exported[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")] {
			missing = append(missing, fmt.Sprintf("%s (used by %s)", m, strings.Join(where, ", ")))
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "queried metrics that no service exported in a real run")

	for _, m := range listed(t, filepath.Join(root, "deploy/metrics.txt")) {
		require.True(t, exported[m] || exported[m+"_bucket"], "deploy/metrics.txt lists %s, which no service exported", m)
	}
}

type query struct{ expr, where string }

var metricRE = regexp.MustCompile(`\b((?:sendonce|process|go)_[a-zA-Z0-9_]+|up)\b`)

// metricsIn returns the metric names in a PromQL expression (label names in
// by/without clauses never start with these prefixes).
func metricsIn(expr string) []string {
	return metricRE.FindAllString(expr, -1)
}

func dashboardQueries(t *testing.T, path string) []query {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var dash struct {
		Panels []panel `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	var out []query
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				if tg.Expr != "" {
					out = append(out, query{expr: tg.Expr, where: fmt.Sprintf("panel %q", p.Title)})
				}
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	require.NotEmpty(t, out, "no queries in %s", path)
	return out
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func alertQueries(t *testing.T, path string) []query {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert  string `yaml:"alert"`
				Record string `yaml:"record"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &rules))
	var out []query
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out = append(out, query{expr: r.Expr, where: "alert " + r.Alert + r.Record})
		}
	}
	require.NotEmpty(t, out, "no rules in %s", path)
	return out
}

func listed(t *testing.T, path string) []string {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") && l != "up" {
			out = append(out, l)
		}
	}
	return out
}

// checkQuery asks Prometheus to evaluate expr (with Grafana's template
// variables given plain values): it must parse and run.
func checkQuery(t *testing.T, promURL, expr, where string) {
	t.Helper()
	e := expr
	for _, v := range []string{"$__rate_interval", "$__interval", "$__range"} {
		e = strings.ReplaceAll(e, v, "1m")
	}
	e = regexp.MustCompile(`\$\{?[a-zA-Z_]+\}?`).ReplaceAllString(e, ".*")
	var resp struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	getJSON(t, promURL+"/api/v1/query?query="+url.QueryEscape(e), &resp)
	require.Equal(t, "success", resp.Status, "%s: query %q: %s", where, e, resp.Error)
}

func metricNames(t *testing.T, promURL string) map[string]bool {
	var resp struct {
		Data []string `json:"data"`
	}
	getJSON(t, promURL+"/api/v1/label/__name__/values", &resp)
	out := map[string]bool{}
	for _, n := range resp.Data {
		out[n] = true
	}
	return out
}

// waitScraped waits until Prometheus has scraped each of its targets
// (services) at least scrapes times and finds them up.
func waitScraped(t *testing.T, promURL string, scrapes, services int) {
	deadline := time.Now().Add(time.Minute)
	for {
		var resp struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		getJSON(t, promURL+"/api/v1/query?query="+url.QueryEscape(fmt.Sprintf("count_over_time(up[1m]) >= %d and up == 1", scrapes)), &resp)
		if len(resp.Data.Result) == services {
			return
		}
		require.True(t, time.Now().Before(deadline), "prometheus did not scrape the %d services %d times", services, scrapes)
		time.Sleep(500 * time.Millisecond)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

func startPrometheus(t *testing.T, targets ...string) string {
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: sendonce\n    static_configs:\n      - targets: [")
	for i, tg := range targets {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", tg)
	}
	b.WriteString("]\n")
	cfg := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(b.String()), 0o644))
	addr := freeAddr(t)
	start(t, os.Environ(), "prometheus", "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	u := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(u + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return u
			}
		}
		require.True(t, time.Now().Before(deadline), "prometheus did not become ready on %s", addr)
		time.Sleep(200 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "go.mod not found")
		dir = parent
	}
}

func buildBinaries(t *testing.T, root string) map[string]string {
	dir := t.TempDir()
	out := map[string]string{}
	for _, name := range []string{"producer", "sender", "retrier"} {
		p := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", p, "./"+name)
		cmd.Dir = root
		b, err := cmd.CombinedOutput()
		require.NoError(t, err, "building %s: %s", name, b)
		out[name] = p
	}
	return out
}

func run(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %v: %s", filepath.Base(bin), args, stderr.String())
	return string(out)
}

func start(t *testing.T, env []string, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	logf, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(bin)+".log"))
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("%s log:\n%s", filepath.Base(bin), b)
		}
	})
}
