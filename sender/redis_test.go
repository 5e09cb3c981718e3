package main

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sendonce/sendonce/pkg/config"
)

// TestBadRedisURLFailsFast: a REDIS_URL nobody answers on stops `sender
// run` (and fence-restore) at start, within a few seconds, with the fix in
// the message; not thousands of step failures later.
func TestBadRedisURLFailsFast(t *testing.T) {
	// A port that was just free: nothing listens on it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "redis://" + l.Addr().String() + "/0"
	l.Close()
	for _, args := range [][]string{
		{"run", "--redis-eviction-check", "warn", "--metrics-addr", ""},
		{"fence-restore", "--campaign", "c"},
	} {
		t.Run(args[0], func(t *testing.T) {
			t.Setenv("REDIS_URL", url)
			t.Setenv("KAFKA_BROKERS", "127.0.0.1:1")
			start := time.Now()
			err := run(args, io.Discard)
			took := time.Since(start)
			if err == nil {
				t.Fatal("run: no error with a REDIS_URL nobody answers on")
			}
			if code := config.ExitCode(err); code != 1 {
				t.Errorf("exit code %d, want 1 (not a usage error): %v", code, err)
			}
			for _, w := range []string{"redis unreachable at " + url, "check --redis-url (REDIS_URL)"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if took > 10*time.Second {
				t.Errorf("took %s to fail, want a few seconds at most", took)
			}
		})
	}
}
