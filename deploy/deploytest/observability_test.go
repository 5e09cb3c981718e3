package deploytest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// loadAlerts decodes deploy/prometheus/alerts.yml strictly.
func loadAlerts(t *testing.T) []ruleGroup {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, "deploy", "prometheus", "alerts.yml")))
	dec.KnownFields(true)
	var f struct {
		Groups []ruleGroup `yaml:"groups"`
	}
	require.NoError(t, dec.Decode(&f), "deploy/prometheus/alerts.yml")
	require.NotEmpty(t, f.Groups)
	return f.Groups
}

// loadMetricsList reads deploy/metrics.txt: one metric name a line (base
// names of histograms), '#' comments.
func loadMetricsList(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, "deploy", "metrics.txt")))
	valid := regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		require.Regexp(t, valid, line, "deploy/metrics.txt")
		require.False(t, names[line], "deploy/metrics.txt lists %s twice", line)
		names[line] = true
	}
	require.NoError(t, sc.Err())
	return names
}

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID          int              `json:"id"`
	Type        string           `json:"type"`
	Title       string           `json:"title"`
	Description string           `json:"description"`
	Datasource  *panelDatasource `json:"datasource"`
	Targets     []struct {
		RefID      string           `json:"refId"`
		Expr       string           `json:"expr"`
		Datasource *panelDatasource `json:"datasource"`
	} `json:"targets"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Panels  []panel                  `json:"panels"` // of a collapsed row
}

type panelDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	require.NoError(t, json.Unmarshal(readFile(t, "deploy", "grafana", "sendonce.json"), &d), "deploy/grafana/sendonce.json")
	return d
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// queryPanels are the panels with queries (not rows).
func queryPanels(d dashboard) []panel {
	var out []panel
	for _, p := range allPanels(d.Panels) {
		if p.Type != "row" {
			out = append(out, p)
		}
	}
	return out
}

func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	require.Equal(t, "sendonce", d.UID)
	var dsVar bool
	for _, v := range d.Templating.List {
		if v.Name == "datasource" {
			require.Equal(t, "datasource", v.Type)
			require.Equal(t, "prometheus", v.Query)
			dsVar = true
		}
	}
	require.True(t, dsVar, "the dashboard needs a ${datasource} variable so it works with any Prometheus")
	ids := map[int]bool{}
	var exprs []string
	for _, p := range queryPanels(d) {
		t.Run(p.Title, func(t *testing.T) {
			require.NotEmpty(t, p.Title)
			require.False(t, ids[p.ID], "panel id %d used twice", p.ID)
			ids[p.ID] = true
			require.NotNil(t, p.Datasource, "panel datasource")
			require.Equal(t, "${datasource}", p.Datasource.UID)
			require.NotEmpty(t, p.Targets, "panel has no query")
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				require.NotEmpty(t, strings.TrimSpace(tg.Expr), "target %s has no expr", tg.RefID)
				require.False(t, refs[tg.RefID], "refId %s used twice", tg.RefID)
				refs[tg.RefID] = true
				if tg.Datasource != nil {
					require.Equal(t, "${datasource}", tg.Datasource.UID)
				}
				exprs = append(exprs, tg.Expr)
			}
			require.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, "panel wider than the dashboard")
		})
	}
	// What the dashboard must show (the list), by the query that
	// shows it.
	all := strings.Join(exprs, "\n")
	for _, want := range []struct{ what, expr string }{
		{"published", "sendonce_producer_published_total"},
		{"sent", `outcome="sent"`},
		{"failed", `outcome="failed"`},
		{"retrying", "sendonce_retrier_tier_depth"},
		{"dead-lettered", `outcome="dead_lettered"`},
		{"ambiguous", `outcome="ambiguous"`},
		{"send rate against the SES max rate", "sendonce_ses_max_send_rate"},
		{"SES latency p50", `histogram_quantile(0.5, sum by (le) (rate(sendonce_ses_request_duration_seconds_bucket`},
		{"SES latency p99", `histogram_quantile(0.99, sum by (le) (rate(sendonce_ses_request_duration_seconds_bucket`},
		{"throttles per second", `rate(sendonce_sender_jobs_total{outcome="throttled"}`},
		{"duplicates prevented", `outcome="skipped_duplicate"`},
		{"retry depth per tier", "sum by (tier) (sendonce_retrier_tier_depth)"},
		{"DLQ", "sendonce_dlq_total"},
		{"consumer lag per partition", "max by (partition) (sendonce_sender_consumer_lag)"},
		{"instances", `up{job="sendonce-sender"}`},
	} {
		require.Contains(t, all, want.expr, "the dashboard must show %s", want.what)
	}
}

// exprsByOrigin returns every PromQL expression of the dashboard and the
// alerting rules, keyed by where it comes from.
func exprsByOrigin(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, p := range queryPanels(loadDashboard(t)) {
		for _, tg := range p.Targets {
			out["dashboard panel "+p.Title+" "+tg.RefID] = tg.Expr
		}
	}
	for _, g := range loadAlerts(t) {
		for _, r := range g.Rules {
			out["alert "+r.Alert] = r.Expr
		}
	}
	return out
}

// TestMetricNamesAreListed: every metric the dashboard and the alerts query
// is in deploy/metrics.txt (which the real-run test checks against what the
// services export), and nothing listed is unused.
func TestMetricNamesAreListed(t *testing.T) {
	listed := loadMetricsList(t)
	used := map[string]bool{}
	for origin, expr := range exprsByOrigin(t) {
		names := metricNames(expr)
		require.NotEmpty(t, names, "%s: no metric in %q", origin, expr)
		for _, n := range names {
			b := baseName(n, listed)
			if !listed[b] {
				t.Errorf("%s uses %s, which deploy/metrics.txt does not list", origin, n)
			}
			used[b] = true
		}
	}
	var unused []string
	for n := range listed {
		if !used[n] {
			unused = append(unused, n)
		}
	}
	sort.Strings(unused)
	require.Empty(t, unused, "deploy/metrics.txt lists metrics no panel or alert uses")
	others := map[string]bool{"up": true, "process_cpu_seconds_total": true, "process_resident_memory_bytes": true, "go_goroutines": true}
	for n := range listed {
		require.True(t, strings.HasPrefix(n, "sendonce_") || others[n], "%s: our metrics start with sendonce_", n)
	}
}

// TestJobLabels: every job a query names is a scrape job.
func TestJobLabels(t *testing.T) {
	jobs := prometheusJobs(t)
	for origin, expr := range exprsByOrigin(t) {
		for _, m := range jobMatcher.FindAllStringSubmatch(expr, -1) {
			require.Contains(t, jobs, m[1], "%s: job %q is not scraped", origin, m[1])
		}
	}
}

// anchor is GitHub's heading anchor.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func TestAlerts(t *testing.T) {
	headings := map[string]bool{}
	for _, line := range strings.Split(string(readFile(t, "docs", "RUNBOOK.md")), "\n") {
		if strings.HasPrefix(line, "#") {
			headings[anchor(strings.TrimLeft(line, "#"))] = true
		}
	}
	seen := map[string]bool{}
	for _, g := range loadAlerts(t) {
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "alerts.yml holds alerts only (rule %q)", r.Expr)
			require.False(t, seen[r.Alert], "alert %s defined twice", r.Alert)
			seen[r.Alert] = true
			require.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], "%s: severity", r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], "%s: summary", r.Alert)
			require.NotEmpty(t, r.Annotations["description"], "%s: description", r.Alert)
			rb := r.Annotations["runbook"]
			file, frag, ok := strings.Cut(rb, "#")
			require.True(t, ok && file == "docs/RUNBOOK.md", "%s: runbook annotation docs/RUNBOOK.md#<section>, got %q", r.Alert, rb)
			require.True(t, headings[frag], "%s: docs/RUNBOOK.md has no section #%s", r.Alert, frag)
		}
	}
	for _, a := range []string{"SendonceLagGrowing", "SendonceDeadLettered", "SendonceAmbiguous", "SendoncePaused",
		"SendonceQuotaNearlyUsed", "SendonceSenderDown", "SendonceSenderAbsent", "SendonceCommitErrors"} {
		require.True(t, seen[a], "alert %s is missing", a)
	}
}

func TestAnchor(t *testing.T) {
	require.Equal(t, "sendonceseserrors", anchor(" SendonceSESErrors"))
	require.Equal(t, "replay-with-sender-replay", anchor("Replay with `sender replay`"))
}
