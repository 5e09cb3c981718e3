package deploytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// promtool returns the path of promtool, failing (never skipping) when it
// is missing.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool is not on PATH: install Debian's prometheus package "+
		"(apt-get install prometheus; it ships promtool) to check the rules and the configuration")
	return p
}

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
}

func TestPromtoolCheckRules(t *testing.T) {
	runPromtool(t, "check", "rules", "deploy/prometheus/alerts.yml")
}

func TestPromtoolCheckConfig(t *testing.T) {
	runPromtool(t, "check", "config", "deploy/prometheus/prometheus.yml")
}

// TestPromtoolAlertUnitTests runs the alerting rules against synthetic
// series (deploy/prometheus/alerts_test.yml): each alert fires when it
// should and stays quiet when it should.
func TestPromtoolAlertUnitTests(t *testing.T) {
	runPromtool(t, "test", "rules", "deploy/prometheus/alerts_test.yml")
	// Every alert has at least one case where it fires.
	var f struct {
		Tests []struct {
			AlertRuleTestCases []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	require.NoError(t, yaml.Unmarshal(readFile(t, "deploy", "prometheus", "alerts_test.yml"), &f))
	fired := map[string]bool{}
	for _, tc := range f.Tests {
		for _, c := range tc.AlertRuleTestCases {
			if len(c.ExpAlerts) > 0 {
				fired[c.Alertname] = true
			}
		}
	}
	for _, g := range loadAlerts(t) {
		for _, r := range g.Rules {
			require.True(t, fired[r.Alert], "deploy/prometheus/alerts_test.yml has no case where %s fires", r.Alert)
		}
	}
}

// TestPromtoolDashboardQueries checks the syntax of every dashboard query
// with promtool, as recording rules (Grafana's range variables replaced by
// a fixed range).
func TestPromtoolDashboardQueries(t *testing.T) {
	repl := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$__interval", "1m")
	type rec struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rec
	for _, p := range queryPanels(loadDashboard(t)) {
		for _, tg := range p.Targets {
			expr := repl.Replace(tg.Expr)
			require.NotContains(t, expr, "$", "panel %q: unknown Grafana variable in %q", p.Title, tg.Expr)
			rules = append(rules, rec{Record: fmt.Sprintf("dashboard:panel_%d_%s", p.ID, tg.RefID), Expr: expr})
		}
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].Record < rules[j].Record })
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	require.NoError(t, os.WriteFile(file, b, 0o644))
	runPromtool(t, "check", "rules", file)
}
