package retrier

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestRedriveReason: --reason takes the DLQ reasons only, and an unknown
// one is refused with the list, before anything is read.
func TestRedriveReason(t *testing.T) {
	tests := []struct {
		reason string
		ok     bool
	}{
		{"", true},
		{"permanent", true},
		{"attempts_exhausted", true},
		{"malformed", true},
		{"policy", true},
		{"stopped", true},
		{"exhausted", false},
		{"Permanent", false},
		{"throttled", false},
	}
	for _, tt := range tests {
		err := ValidateReason(tt.reason)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateReason(%q) = %v, want ok=%v", tt.reason, err, tt.ok)
		}
		if err != nil {
			if !errors.Is(err, ErrReason) {
				t.Errorf("ValidateReason(%q) = %v, not ErrReason", tt.reason, err)
			}
			for _, r := range []string{"permanent", "attempts_exhausted", "malformed", "policy", "stopped"} {
				if !strings.Contains(err.Error(), r) {
					t.Errorf("ValidateReason(%q) = %q: does not list %s", tt.reason, err, r)
				}
			}
		}
	}
	// Redrive refuses it before touching the client (nil here).
	if _, err := Redrive(context.Background(), nil, nil, RedriveOptions{Reason: "exhausted"}); !errors.Is(err, ErrReason) {
		t.Fatalf("Redrive(--reason exhausted) = %v, want ErrReason", err)
	}
}
