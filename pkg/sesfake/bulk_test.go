package sesfake

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/ses"
)

func bulk(to ...string) ses.BulkMessage {
	m := ses.BulkMessage{From: "news@example.com", Template: "welcome", ConfigurationSet: "marketing", Tags: map[string]string{"campaign": "spring-26", "kind": "news"}}
	for i, t := range to {
		m.Entries = append(m.Entries, ses.BulkEntry{
			To:           t,
			TemplateData: fmt.Sprintf(`{"name":"N%d","promo":{"code":"C%d"}}`, i, i),
			Headers:      map[string]string{"List-Unsubscribe": fmt.Sprintf("<https://example.com/u/%d>", i)},
			Tags:         map[string]string{"user_hash": fmt.Sprintf("h%d", i), "campaign": "override"},
		})
	}
	return m
}

// accepted records OnAccepted calls.
type accepted struct {
	mu  sync.Mutex
	got []Accepted
}

func (a *accepted) add(x Accepted) {
	a.mu.Lock()
	a.got = append(a.got, x)
	a.mu.Unlock()
}

func TestBulk(t *testing.T) {
	ctx := context.Background()
	var heard accepted
	s := start(t, Config{Keep: true, OnAccepted: heard.add})
	require.NoError(t, s.CreateTemplate("welcome", "Hello {{name}}", "", "Hi {{name}}, code {{promo.code}}"))
	c := client(t, s.URL())

	to := []string{"a@example.org", "b@example.org", "c@example.org"}
	res, err := c.SendBulk(ctx, bulk(to...))
	require.NoError(t, err)
	require.Len(t, res, 3)
	ids := map[string]string{}
	for i, r := range res {
		require.NoError(t, r.Err)
		require.NotEmpty(t, r.MessageID)
		ids[r.MessageID] = to[i]
		require.Equal(t, 1, s.Accepted(to[i]))
	}
	require.Len(t, ids, 3)
	require.Equal(t, 3, s.Count())

	for _, m := range s.Messages() {
		i := strings.Index("abc", m.To[0][:1])
		require.Equal(t, ids[m.MessageID], m.To[0])
		require.Equal(t, fmt.Sprintf("Hello N%d", i), m.Subject)
		require.Equal(t, fmt.Sprintf("Hi N%d, code C%d", i, i), m.Text)
		require.Equal(t, "marketing", m.ConfigurationSet)
		require.Equal(t, map[string]string{"campaign": "override", "kind": "news", "user_hash": fmt.Sprintf("h%d", i)}, m.Tags)
		require.Equal(t, []Header{{"List-Unsubscribe", fmt.Sprintf("<https://example.com/u/%d>", i)}}, m.Headers)
	}
	require.Len(t, heard.got, 3)
	for _, a := range heard.got {
		require.Equal(t, ids[a.MessageID], a.To[0])
		require.Equal(t, "news@example.com", a.From)
		require.Equal(t, "marketing", a.ConfigurationSet)
		require.Equal(t, "welcome", a.Template)
		require.Equal(t, "override", a.Tags["campaign"])
	}

	// SES counts recipients against the daily quota.
	acct, err := c.Account(ctx)
	require.NoError(t, err)
	require.Equal(t, 3.0, acct.SentLast24Hours)
	require.Equal(t, map[string]int{OutcomeBulkAccepted: 1}, s.Calls())
}

func TestBulkEntryFaults(t *testing.T) {
	faults := map[string]*Fault{
		"throttle@example.org":  Throttle,
		"quota@example.org":     QuotaExceeded,
		"reject@example.org":    Reject,
		"paused@example.org":    ConfigurationSetPaused,
		"transient@example.org": TransientFailure,
	}
	s := start(t, Config{Fault: func(r *SendRequest) *Fault { return faults[r.To[0]] }})
	require.NoError(t, s.CreateTemplate("welcome", "Hello {{name}}", "", "Hi"))
	c := client(t, s.URL())
	to := []string{"ok@example.org", "throttle@example.org", "quota@example.org", "reject@example.org", "paused@example.org", "transient@example.org"}
	want := []retry.Class{"", retry.Throttled, retry.Quota, retry.Permanent, retry.Stop, retry.NotSent}
	res, err := c.SendBulk(context.Background(), bulk(to...))
	require.NoError(t, err)
	for i, r := range res {
		if want[i] == "" {
			require.NoError(t, r.Err)
			require.Equal(t, 1, s.Accepted(to[i]))
			continue
		}
		var se *ses.SendError
		require.ErrorAs(t, r.Err, &se, to[i])
		require.Equal(t, want[i], se.Class, "%s: %v", to[i], r.Err)
		require.Zero(t, s.Accepted(to[i]))
	}
	var se *ses.SendError
	require.ErrorAs(t, res[4].Err, &se)
	require.Equal(t, "ConfigurationSetSendingPausedException", se.Code, "the sender's configuration-set pause reads this code")
	calls := s.Calls()
	require.Equal(t, 1, calls[OutcomeBulkAccepted])
	require.Equal(t, 1, calls["throttle"])
	require.Equal(t, 1, calls["reject"])
}

func TestBulkCallFaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		class    retry.Class
		accepted int // per recipient
	}{
		{"bulk fault throttle", Config{BulkFault: func([]SendRequest) *Fault { return Throttle }}, retry.Throttled, 0},
		{"bulk fault 503 after accept", Config{BulkFault: func([]SendRequest) *Fault { return UnavailableAfterAccept }}, retry.Ambiguous, 1},
		{"one entry's 503 after accept answers the call", Config{Fault: func(r *SendRequest) *Fault {
			if r.To[0] == "b@example.org" {
				return UnavailableAfterAccept
			}
			return nil
		}}, retry.Ambiguous, 1},
		{"hang-up after accept", Config{Fault: func(*SendRequest) *Fault { return HangupAfterAccept }}, retry.Ambiguous, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, tc.cfg)
			require.NoError(t, s.CreateTemplate("welcome", "Hello {{name}}", "", "Hi"))
			c := client(t, s.URL())
			to := []string{"a@example.org", "b@example.org", "c@example.org"}
			res, err := c.SendBulk(context.Background(), bulk(to...))
			require.Nil(t, res)
			var se *ses.SendError
			require.ErrorAs(t, err, &se)
			require.Equal(t, tc.class, se.Class, "%v", err)
			for _, r := range to {
				require.Equal(t, tc.accepted, s.Accepted(r), r)
			}
		})
	}
}

func TestBulkRefusals(t *testing.T) {
	s := start(t, Config{})
	require.NoError(t, s.CreateTemplate("welcome", "Hello {{name}}", "", "Hi"))
	c := client(t, s.URL())
	m := bulk("a@example.org")
	m.Template = "nope"
	_, err := c.SendBulk(context.Background(), m)
	requireClass(t, err, retry.Permanent, "NotFoundException")
	m = bulk("a@example.org", "b@example.org")
	m.Entries[1].TemplateData = "[1]"
	res, err := c.SendBulk(context.Background(), m)
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	var se *ses.SendError
	require.ErrorAs(t, res[1].Err, &se)
	require.Equal(t, "FAILED", se.Code)
	require.Equal(t, retry.NotSent, se.Class)
}
