package config

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestLoggerJSONDurationsAndMaps: JSON logs carry durations as strings and
// maps as one readable string, never nanoseconds or Go's map[...] syntax.
func TestLoggerJSONDurationsAndMaps(t *testing.T) {
	tests := []struct {
		name string
		val  any
		want string
	}{
		{"duration", 1500 * time.Millisecond, "1.5s"},
		{"duration in any", any(2 * time.Minute), "2m0s"},
		{"partitions", map[string][]int32{"sendonce.jobs": {0, 1, 2}, "sendonce.retry.1m": {3}}, "sendonce.jobs[0,1,2] sendonce.retry.1m[3]"},
		{"counts", map[string]int{"b": 2, "a": 1}, "a=1 b=2"},
		{"empty map", map[string][]int32{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, format := range []string{"json", "text"} {
				var buf bytes.Buffer
				c := Common{LogLevel: "info", LogFormat: format}
				log, err := c.Logger(&buf)
				if err != nil {
					t.Fatal(err)
				}
				log.Info("x", "v", tt.val)
				out := buf.String()
				if strings.Contains(out, "map[") {
					t.Errorf("%s: Go map syntax in %q", format, out)
				}
				if format == "text" {
					if !strings.Contains(out, tt.want) {
						t.Errorf("text: %q does not contain %q", out, tt.want)
					}
					continue
				}
				var rec map[string]any
				if err := json.Unmarshal([]byte(out), &rec); err != nil {
					t.Fatalf("json: %v in %q", err, out)
				}
				got, ok := rec["v"].(string)
				if !ok || got != tt.want {
					t.Errorf("json: v = %#v, want the string %q (line %q)", rec["v"], tt.want, out)
				}
			}
		})
	}
}
