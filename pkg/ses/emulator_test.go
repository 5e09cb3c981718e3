package ses

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/retry"
	"github.com/sendonce/sendonce/pkg/testenv"
)

// emulatorStore is the part of aws-ses-v2-local's GET /store that the test
// reads.
type emulatorStore struct {
	Templates map[string]struct {
		TemplateName    string
		TemplateContent struct{ Subject, Html, Text string }
	} `json:"templates"`
	Emails []struct {
		MessageID   string `json:"messageId"`
		From        string `json:"from"`
		Destination struct {
			To []string `json:"to"`
		} `json:"destination"`
		Subject string `json:"subject"`
		Body    struct {
			HTML string `json:"html"`
			Text string `json:"text"`
		} `json:"body"`
		Headers []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"headers"`
		At int64 `json:"at"`
	} `json:"emails"`
}

func readStore(t *testing.T, endpoint string, since time.Time) emulatorStore {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/store?since=%d", endpoint, since.Unix()))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var s emulatorStore
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	return s
}

func TestEmulator(t *testing.T) {
	endpoint := testenv.SESEndpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now().Add(-time.Second)

	// The emulator is shared by every package under test and answers one
	// request at a time: give calls room (this is no timing test).
	c, err := New(ctx, Config{Timeout: time.Minute}, prometheus.NewRegistry())
	require.NoError(t, err)

	name := testenv.Name(t, "tmpl")
	require.NoError(t, c.CreateTemplate(ctx, name, "Old {{name}}", "<p>old</p>", "old"))
	// A second create of the same name updates it.
	require.NoError(t, c.CreateTemplate(ctx, name, "Hello {{name}}", "<p>Hi <b>{{name}}</b>, code {{promo.code}}</p>", "Hi {{name}}, code {{promo.code}}"))

	to := name + "@example.org"
	id, err := c.Send(ctx, Message{
		From:         "news@example.com",
		To:           to,
		Template:     name,
		TemplateData: `{"name":"Ann & Bob","promo":{"code":"X42"}}`,
		Headers:      map[string]string{"List-Unsubscribe": "<https://example.com/u/1>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
		Tags:         map[string]string{"campaign": name, "user": "u1"},
	})
	require.NoError(t, err)
	require.NotEmpty(t, id)

	store := readStore(t, endpoint, start)
	require.Equal(t, "Hello {{name}}", store.Templates[name].TemplateContent.Subject)
	var found bool
	for _, e := range store.Emails {
		if e.MessageID != id {
			continue
		}
		found = true
		require.Equal(t, []string{to}, e.Destination.To)
		require.Equal(t, "news@example.com", e.From)
		require.Equal(t, "Hello Ann & Bob", e.Subject)
		require.Equal(t, "<p>Hi <b>Ann & Bob</b>, code X42</p>", e.Body.HTML)
		require.Equal(t, "Hi Ann & Bob, code X42", e.Body.Text)
		headers := map[string]string{}
		for _, h := range e.Headers {
			headers[h.Name] = h.Value
		}
		require.Equal(t, "<https://example.com/u/1>", headers["List-Unsubscribe"])
		require.Equal(t, "List-Unsubscribe=One-Click", headers["List-Unsubscribe-Post"])
	}
	require.True(t, found, "message %s not in the emulator's store", id)

	// The emulator answers an unknown template with a 404 whose code the
	// SDK cannot see: still Permanent.
	_, err = c.Send(ctx, Message{From: "news@example.com", To: to, Template: name + "-missing"})
	var se *SendError
	require.ErrorAs(t, err, &se)
	require.Equal(t, retry.Permanent, se.Class, "%v", err)

	mime, err := c.Render(ctx, name, `{"name":"Cy","promo":{"code":"Z9"}}`)
	require.NoError(t, err)
	require.Contains(t, mime, "Subject: Hello Cy")
	require.Contains(t, mime, "Hi Cy, code Z9")

	a, err := c.Account(ctx)
	require.NoError(t, err)
	require.True(t, a.SendingEnabled)
	require.Equal(t, emulatorMaxSendRate(t), a.MaxSendRate)
}

// emulatorMaxSendRate is the rate the emulator was configured with:
// AWS_SES_ACCOUNT when the caller runs it, else the one scripts/services.sh
// sets.
func emulatorMaxSendRate(t *testing.T) float64 {
	acct := os.Getenv("AWS_SES_ACCOUNT")
	if strings.TrimSpace(acct) == "" {
		return 2000
	}
	var v struct{ SendQuota struct{ MaxSendRate float64 } }
	require.NoError(t, json.Unmarshal([]byte(acct), &v))
	return v.SendQuota.MaxSendRate
}

// TestEmulatorBulk sends one SendBulkEmail of 10 entries to the real
// emulator and reads back 10 emails, each with its own data and headers
// (the emulator keeps no tags).
func TestEmulatorBulk(t *testing.T) {
	endpoint := testenv.SESEndpoint(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now().Add(-time.Second)
	c, err := New(ctx, Config{Timeout: time.Minute}, prometheus.NewRegistry())
	require.NoError(t, err)

	name := testenv.Name(t, "tmpl")
	require.NoError(t, c.CreateTemplate(ctx, name, "Hello {{name}}", "<p>Hi {{name}}</p>", "Hi {{name}}, code {{code}}"))
	m := BulkMessage{From: "news@example.com", Template: name, ConfigurationSet: "", Tags: map[string]string{"campaign": name}}
	for i := range 10 {
		m.Entries = append(m.Entries, BulkEntry{
			To:           fmt.Sprintf("u%d-%s@example.org", i, name),
			TemplateData: fmt.Sprintf(`{"name":"User %d","code":"C%d"}`, i, i),
			Headers:      map[string]string{"List-Unsubscribe": fmt.Sprintf("<https://example.com/u/%d>", i), "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
			Tags:         map[string]string{"user_hash": fmt.Sprintf("h%d", i), "attempt": "a1"},
		})
	}
	res, err := c.SendBulk(ctx, m)
	require.NoError(t, err)
	require.Len(t, res, 10)
	ids := map[string]int{}
	for i, r := range res {
		require.NoError(t, r.Err)
		require.NotEmpty(t, r.MessageID)
		ids[r.MessageID] = i
	}
	require.Len(t, ids, 10, "one message id per entry")

	store := readStore(t, endpoint, start)
	seen := map[int]bool{}
	for _, e := range store.Emails {
		i, ok := ids[e.MessageID]
		if !ok {
			continue
		}
		seen[i] = true
		require.Equal(t, []string{m.Entries[i].To}, e.Destination.To)
		require.Equal(t, "news@example.com", e.From)
		require.Equal(t, fmt.Sprintf("Hello User %d", i), e.Subject)
		require.Equal(t, fmt.Sprintf("Hi User %d, code C%d", i, i), e.Body.Text)
		headers := map[string]string{}
		for _, h := range e.Headers {
			headers[h.Name] = h.Value
		}
		require.Equal(t, m.Entries[i].Headers, headers)
	}
	require.Len(t, seen, 10, "the emulator stored every entry once")

	// An invalid address is refused by the emulator for its entry alone.
	m.Entries = m.Entries[:2]
	m.Entries[1].To = "not an address"
	res, err = c.SendBulk(ctx, m)
	require.NoError(t, err)
	require.NoError(t, res[0].Err)
	var se *SendError
	require.ErrorAs(t, res[1].Err, &se)
	require.Equal(t, retry.NotSent, se.Class, "%v", res[1].Err)
	require.Equal(t, "FAILED", se.Code)
}
