package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// StoredEmail is one email as the SES emulator (aws-ses-v2-local) stored it.
type StoredEmail struct {
	MessageID   string `json:"messageId"`
	From        string `json:"from"`
	Subject     string `json:"subject"`
	Destination struct {
		To []string `json:"to"`
	} `json:"destination"`
	Body struct {
		HTML string `json:"html"`
		Text string `json:"text"`
	} `json:"body"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
	At int64 `json:"at"`
}

// SESStore reads the emulator's store (GET /store): what SES accepted. It is
// the verdict of integration tests, never the project's own counters.
func SESStore(ctx context.Context, endpoint string) ([]StoredEmail, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(endpoint, "/")+"/store", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the SES emulator store: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading the SES emulator store: HTTP %d", resp.StatusCode)
	}
	var store struct {
		Emails []StoredEmail `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&store); err != nil {
		return nil, fmt.Errorf("decoding the SES emulator store: %w", err)
	}
	return store.Emails, nil
}

// RecipientCounts counts stored emails per recipient whose address ends
// with suffix (tests give each run its own domain).
func RecipientCounts(emails []StoredEmail, suffix string) map[string]int {
	out := map[string]int{}
	for _, e := range emails {
		for _, to := range e.Destination.To {
			if strings.HasSuffix(to, suffix) {
				out[to]++
			}
		}
	}
	return out
}
