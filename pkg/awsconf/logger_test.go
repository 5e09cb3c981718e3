package awsconf

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
)

// TestLoggerSendsSDKLinesThroughSlog: the SDK's warnings come out as JSON
// lines of the service's logger (level WARN, component aws), its debug
// lines only at debug.
func TestLoggerSendsSDKLinesThroughSlog(t *testing.T) {
	tests := []struct {
		name  string
		level slog.Level
		class logging.Classification
		want  string // "" when nothing is logged
	}{
		{"warn at info", slog.LevelInfo, logging.Warn, "WARN"},
		{"debug at info", slog.LevelInfo, logging.Debug, ""},
		{"debug at debug", slog.LevelDebug, logging.Debug, "DEBUG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := Logger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tt.level})))
			l.Logf(tt.class, "Response has no supported checksum. Not validating response payload %d", 7)
			l.(logging.ContextLogger).WithContext(context.Background()).Logf(tt.class, "second %s", "line")
			if tt.want == "" {
				if buf.Len() != 0 {
					t.Fatalf("logged %q", buf.String())
				}
				return
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 2 {
				t.Fatalf("want 2 JSON lines, got %q", buf.String())
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
				t.Fatal(err)
			}
			if rec["level"] != tt.want || rec["component"] != "aws" || rec["msg"] != "Response has no supported checksum. Not validating response payload 7" {
				t.Errorf("line %v", rec)
			}
		})
	}
}

// TestLoggerInLoadedConfig: a config loaded with it logs through slog.
func TestLoggerInLoadedConfig(t *testing.T) {
	var buf bytes.Buffer
	t.Setenv("AWS_REGION", "us-east-1")
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithLogger(Logger(slog.New(slog.NewJSONHandler(&buf, nil)))), config.WithClientLogMode(aws.LogRetries))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger.Logf(logging.Warn, "hello %s", "sdk")
	if !strings.Contains(buf.String(), `"msg":"hello sdk","component":"aws"`) {
		t.Fatalf("got %q", buf.String())
	}
}
