package sesfault

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sendonce/sendonce/pkg/sesevents"
)

// bulkUpstream accepts every SendEmail and every bulk entry, and records
// the To address of each accepted email.
type bulkUpstream struct {
	*httptest.Server
	mu  sync.Mutex
	got []string
}

func newBulkUpstream(t *testing.T) *bulkUpstream {
	u := &bulkUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Destination      struct{ ToAddresses []string }
			BulkEmailEntries []struct {
				Destination struct{ ToAddresses []string }
			}
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		u.mu.Lock()
		defer u.mu.Unlock()
		if r.URL.Path == pathSendEmail {
			u.got = append(u.got, in.Destination.ToAddresses...)
			_, _ = io.WriteString(w, `{"MessageId":"m-`+in.Destination.ToAddresses[0]+`"}`)
			return
		}
		var res []map[string]string
		for _, e := range in.BulkEmailEntries {
			to := e.Destination.ToAddresses[0]
			u.got = append(u.got, to)
			res = append(res, map[string]string{"Status": "SUCCESS", "MessageId": "m-" + to})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"BulkEmailEntryResults": res})
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *bulkUpstream) accepted() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.got...)
}

// sink records what the proxy told it.
type sink struct {
	mu  sync.Mutex
	got []sesevents.Accepted
}

func (s *sink) Accepted(a sesevents.Accepted) {
	s.mu.Lock()
	s.got = append(s.got, a)
	s.mu.Unlock()
}

func (s *sink) all() []sesevents.Accepted {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sesevents.Accepted(nil), s.got...)
}

func bulkBody(to ...string) string {
	var entries []string
	for i, t := range to {
		entries = append(entries, fmt.Sprintf(`{"Destination":{"ToAddresses":[%q]},"ReplacementEmailContent":{"ReplacementTemplate":{"ReplacementTemplateData":"{}"}},"ReplacementTags":[{"Name":"user_hash","Value":"h%d"},{"Name":"campaign","Value":"override"}]}`, t, i))
	}
	return `{"FromEmailAddress":"news@example.com","ConfigurationSetName":"cs1","DefaultEmailTags":[{"Name":"campaign","Value":"c1"},{"Name":"kind","Value":"news"}],` +
		`"DefaultContent":{"Template":{"TemplateName":"t","TemplateData":"{}"}},"BulkEmailEntries":[` + strings.Join(entries, ",") + `]}`
}

func post(t *testing.T, url, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestBulkFaults(t *testing.T) {
	to := []string{"a@example.org", "bad-b@example.org", "c@example.org"}
	for _, tc := range []struct {
		name     string
		cfg      Config
		status   int
		upstream []string // what upstream accepted
		told     []string // what the sink was told
		results  []string // the entry statuses, for a 200
	}{
		{"none", Config{}, 200, to, to, []string{"SUCCESS", "SUCCESS", "SUCCESS"}},
		{"throttle", Config{ThrottleRatio: 1}, 429, nil, nil, nil},
		{"503", Config{Err503Ratio: 1}, 503, nil, nil, nil},
		{"503 after", Config{Err503AfterRatio: 1}, 503, to, to, nil},
		{"reject one entry", Config{RejectRecipient: func(to string) bool { return strings.HasPrefix(to, "bad") }}, 200,
			[]string{"a@example.org", "c@example.org"}, []string{"a@example.org", "c@example.org"}, []string{"SUCCESS", "MESSAGE_REJECTED", "SUCCESS"}},
		{"reject all", Config{RejectRecipient: func(string) bool { return true }}, 200, nil, nil, []string{"MESSAGE_REJECTED", "MESSAGE_REJECTED", "MESSAGE_REJECTED"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newBulkUpstream(t)
			s := &sink{}
			tc.cfg.Target, tc.cfg.Events = up.URL, s
			p := newProxy(t, tc.cfg)
			status, body := post(t, p.URL(), pathSendBulkEmail, bulkBody(to...))
			require.Equal(t, tc.status, status, body)
			require.Equal(t, tc.upstream, up.accepted())
			var told []string
			for _, a := range s.all() {
				told = append(told, a.To[0])
				require.Equal(t, "m-"+a.To[0], a.MessageID)
				require.Equal(t, "news@example.com", a.From)
				require.Equal(t, "cs1", a.ConfigurationSet)
				require.Equal(t, "t", a.Template)
				require.Equal(t, "override", a.Tags["campaign"], "an entry's tag overrides the default")
				require.Equal(t, "news", a.Tags["kind"])
				require.NotEmpty(t, a.Tags["user_hash"])
			}
			require.Equal(t, tc.told, told)
			if tc.results != nil {
				var out struct{ BulkEmailEntryResults []entryResult }
				require.NoError(t, json.Unmarshal([]byte(body), &out))
				var statuses []string
				for i, r := range out.BulkEmailEntryResults {
					statuses = append(statuses, r.Status)
					if r.Status == "SUCCESS" {
						require.Equal(t, "m-"+to[i], r.MessageId, "results stay in entry order")
					}
				}
				require.Equal(t, tc.results, statuses)
			}
			st := p.Stats()
			require.Equal(t, 1, st.SendBulkEmail)
			require.Equal(t, 3, st.BulkEntries)
			require.Equal(t, len(tc.upstream), st.BulkForwardedEntries)
			require.Equal(t, len(tc.told), st.EventsAccepted)
			if tc.name == "503 after" {
				require.Equal(t, 3, st.BulkAcceptedAfter503)
			}
		})
	}
}

func TestBulkRateCapCountsEntries(t *testing.T) {
	up := newBulkUpstream(t)
	now := &clock{now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	p := newProxy(t, Config{Target: up.URL, RateCap: 100, RateBurst: 10, Now: now.Now})
	var to []string
	for i := range 50 {
		to = append(to, fmt.Sprintf("u%d@example.org", i))
	}
	// A bulk call larger than the burst passes once, and leaves the bucket
	// in debt: 50 emails at 100/s take half a second to pay back.
	status, _ := post(t, p.URL(), pathSendBulkEmail, bulkBody(to...))
	require.Equal(t, 200, status)
	status, _ = post(t, p.URL(), pathSendBulkEmail, bulkBody(to[:1]...))
	require.Equal(t, 429, status)
	now.Add(400 * time.Millisecond)
	status, _ = post(t, p.URL(), pathSendEmail, `{"Destination":{"ToAddresses":["x@example.org"]},"FromEmailAddress":"a@example.com","Content":{"Template":{"TemplateName":"t"}}}`)
	require.Equal(t, 429, status, "still in debt")
	now.Add(200 * time.Millisecond)
	status, _ = post(t, p.URL(), pathSendEmail, `{"Destination":{"ToAddresses":["x@example.org"]},"FromEmailAddress":"a@example.com","Content":{"Template":{"TemplateName":"t"}}}`)
	require.Equal(t, 200, status)
	require.Equal(t, 53.0, p.Stats().PeakSendRate, "the peak counts emails (50+1+1+1 within a second)")
}

func TestSendEmailEvents(t *testing.T) {
	up := newBulkUpstream(t)
	s := &sink{}
	p := newProxy(t, Config{Target: up.URL, Events: s, Err503AfterRatio: 0.5, Seed: 1})
	n503 := 0
	for i := range 20 {
		body := fmt.Sprintf(`{"Destination":{"ToAddresses":["u%d@example.org"]},"FromEmailAddress":"a@example.com","ConfigurationSetName":"cs","EmailTags":[{"Name":"campaign","Value":"c"},{"Name":"attempt","Value":"a%d"}],"Content":{"Template":{"TemplateName":"t"}}}`, i, i)
		status, _ := post(t, p.URL(), pathSendEmail, body)
		if status == 503 {
			n503++
		}
	}
	require.Positive(t, n503)
	got := s.all()
	require.Len(t, got, 20, "every accepted email, the 503 ones too")
	for _, a := range got {
		require.Equal(t, "cs", a.ConfigurationSet)
		require.Equal(t, "c", a.Tags["campaign"])
		require.Equal(t, "a"+strings.TrimSuffix(strings.TrimPrefix(a.To[0], "u"), "@example.org"), a.Tags["attempt"])
	}
	require.Equal(t, n503, p.Stats().AcceptedAfter503)
}
