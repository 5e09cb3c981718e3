package config

import (
	"bytes"
	"errors"
	"flag"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func newUsageFlags() (*flag.FlagSet, *bytes.Buffer) {
	var out bytes.Buffer
	fs := flag.NewFlagSet("producer publish", flag.ContinueOnError)
	fs.SetOutput(&out)
	fs.String("campaign", "", "campaign id")
	fs.String("campaign-from-date", "", "layout")
	fs.String("source", "", "csv:PATH")
	fs.String("template", "", "SES template")
	fs.Duration("drain-timeout", 25*time.Second, "drain")
	fs.Duration("interval", 0, "0: off")
	Require(fs, "campaign|campaign-from-date", "source", "template")
	Positive(fs, "drain-timeout")
	SetUsage(fs, "producer publish --campaign ID --source SRC --template NAME", "producer publish --campaign 2026-11 --source csv:users.csv --template welcome")
	return fs, &out
}

// TestParseUsageErrors: every missing required flag and every zero duration
// is named at once, as a usage error (exit 2).
func TestParseUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string
		notWant []string
	}{
		{"all missing", nil, nil, []string{"--campaign is required ($SENDONCE_CAMPAIGN), or --campaign-from-date", "--source is required", "--template is required"}, []string{"drain-timeout"}},
		{"alternative given", []string{"--campaign-from-date", "2006-01"}, nil, []string{"--source is required"}, []string{"--campaign is"}},
		{"one missing", []string{"--campaign", "c", "--source", "csv:x"}, nil, []string{"--template is required"}, []string{"--campaign is", "--source is"}},
		{"env satisfies", []string{"--campaign", "c"}, map[string]string{"SENDONCE_SOURCE": "csv:x", "SENDONCE_TEMPLATE": "t"}, nil, nil},
		{"zero duration", []string{"--campaign", "c", "--source", "s", "--template", "t", "--drain-timeout", "0"}, nil, []string{"--drain-timeout must be positive (got 0s)"}, nil},
		{"zero duration from env", []string{"--campaign", "c", "--source", "s", "--template", "t"}, map[string]string{"SENDONCE_DRAIN_TIMEOUT": "0s"}, []string{"--drain-timeout must be positive"}, nil},
		{"negative and missing", []string{"--drain-timeout", "-1s"}, nil, []string{"--campaign is required", "--drain-timeout must be positive (got -1s)"}, nil},
		{"unmarked zero is fine", []string{"--campaign", "c", "--source", "s", "--template", "t", "--interval", "0"}, nil, nil, nil},
		{"unknown flag", []string{"--nosuch"}, nil, []string{"nosuch"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, _ := newUsageFlags()
			err := Parse(fs, tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse: no error, want %q", tt.want)
			}
			if code := ExitCode(err); code != ExitUsage {
				t.Errorf("ExitCode(%v) = %d, want %d", err, code, ExitUsage)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q says %q", err, w)
				}
			}
		})
	}
}

// TestFlagErrorsWith: a command's own errors are added, except the lines
// about a flag already named.
func TestFlagErrorsWith(t *testing.T) {
	fs, _ := newUsageFlags()
	err := Parse(fs, []string{"--source", "s"}, func(string) (string, bool) { return "", false })
	var fe *FlagErrors
	if !errors.As(err, &fe) {
		t.Fatalf("Parse error %v is not *FlagErrors", err)
	}
	got := fe.With(errors.Join(errors.New("--campaign is required"), errors.New("--format must be csv or jsonl"), errors.New("--template-x is odd"))).Error()
	want := "--campaign is required ($SENDONCE_CAMPAIGN), or --campaign-from-date\n--template is required ($SENDONCE_TEMPLATE)\n--format must be csv or jsonl\n--template-x is odd"
	if got != want {
		t.Errorf("With:\n%s\nwant:\n%s", got, want)
	}
	if ExitCode(Usage(fe.With(nil))) != ExitUsage {
		t.Error("not a usage error")
	}
}

// TestHideKeepsFlagsButDoesNotOfferThem: a hidden flag is still accepted
// (flag or environment) but --help does not list it.
func TestHideKeepsFlagsButDoesNotOfferThem(t *testing.T) {
	fs, _ := newUsageFlags()
	redisURL := fs.String("redis-url", "redis://127.0.0.1:6379/0", "Redis URL")
	fs.String("redis-ca-file", "", "CA")
	brokers := fs.String("brokers", "127.0.0.1:9092", "brokers")
	Hide(fs, "redis-*", "brokers", "nosuch")
	env := map[string]string{"KAFKA_BROKERS": "b:9092"}
	err := Parse(fs, []string{"--campaign", "c", "--source", "s", "--template", "t", "--redis-url", "redis://r:1/0"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("Parse with hidden flags: %v", err)
	}
	if *redisURL != "redis://r:1/0" || *brokers != "b:9092" {
		t.Errorf("hidden flags not set: %q %q", *redisURL, *brokers)
	}
	fs2, out2 := newUsageFlags()
	fs2.String("redis-url", "redis://127.0.0.1:6379/0", "Redis URL")
	fs2.Duration("redis-timeout", 2*time.Second, "timeout")
	Hide(fs2, "redis-*")
	if err := Parse(fs2, []string{"--help"}, func(string) (string, bool) { return "", false }); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	help, unused, ok := strings.Cut(out2.String(), HiddenHeading)
	if !ok {
		t.Fatalf("help has no section of unused flags:\n%s", out2.String())
	}
	if strings.Contains(help, "redis") {
		t.Errorf("help offers a hidden flag with the command's own:\n%s", help)
	}
	if !strings.Contains(unused, "  -redis-url string\n    \tRedis URL ($REDIS_URL)") || !strings.Contains(unused, "-redis-timeout duration") {
		t.Errorf("unused flags not listed apart:\n%s", unused)
	}
	for _, w := range []string{"-campaign string", "(required) SES template", "-drain-timeout duration", "(default 25s)"} {
		if !strings.Contains(help, w) {
			t.Errorf("help lacks %q:\n%s", w, help)
		}
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{flag.ErrHelp, 0},
		{Usage(errors.New("bad")), 2},
		{errors.New("redis down"), 1},
		{Usage(nil), 0},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestHelpMarksRequiredAndShowsExamples: --help says which flags are
// required, which must be positive, and shows the examples.
func TestHelpMarksRequiredAndShowsExamples(t *testing.T) {
	fs, out := newUsageFlags()
	err := Parse(fs, []string{"--help"}, func(string) (string, bool) { return "", false })
	if !errors.Is(err, flag.ErrHelp) || ExitCode(err) != 0 {
		t.Fatalf("Parse(--help) = %v", err)
	}
	help := out.String()
	for _, w := range []string{
		"Usage of producer publish:\n  producer publish --campaign ID",
		"(required unless --campaign-from-date) campaign id ($SENDONCE_CAMPAIGN)",
		"(required) SES template",
		"drain (must be > 0) ($SENDONCE_DRAIN_TIMEOUT)",
		"examples:\n  producer publish --campaign 2026-11 --source csv:users.csv --template welcome",
	} {
		if !strings.Contains(help, w) {
			t.Errorf("help does not contain %q:\n%s", w, help)
		}
	}
	if strings.Contains(help, "0: off (required)") || strings.Contains(help, "0: off (must") {
		t.Errorf("an unmarked flag is marked:\n%s", help)
	}
}

func TestFormatVersion(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/sendonce/sendonce", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "935a859abc"},
			{Key: "vcs.time", Value: "2026-11-30T06:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	got := formatVersion("sender", bi)
	for _, w := range []string{"sender v1.2.3", "github.com/sendonce/sendonce", "revision: 935a859abc+dirty", "time:     2026-11-30T06:00:00Z", "go:       go1.26.8"} {
		if !strings.Contains(got, w) {
			t.Errorf("version %q does not contain %q", got, w)
		}
	}
	if v := Version("producer"); !strings.HasPrefix(v, "producer ") || !strings.Contains(v, "go") {
		t.Errorf("Version = %q", v)
	}
}
