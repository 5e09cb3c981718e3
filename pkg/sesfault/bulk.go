package sesfault

import (
	"encoding/json"
	"net/http"

	"github.com/sendonce/sendonce/pkg/sesevents"
)

// wireBulk is the part of a SendBulkEmail request the proxy reads.
type wireBulk struct {
	FromEmailAddress     string
	ConfigurationSetName string
	DefaultEmailTags     []wireTag
	DefaultContent       struct {
		Template *struct{ TemplateName string }
	}
	BulkEmailEntries []json.RawMessage
}

type wireEntry struct {
	Destination     wireDestination
	ReplacementTags []wireTag
}

type entryResult struct {
	Status    string `json:"Status"`
	MessageId string `json:"MessageId,omitempty"` //nolint:revive // SES's name
	Error     string `json:"Error,omitempty"`
}

// sendBulk is SendBulkEmail: the call as a whole gets the same faults as a
// SendEmail (counted once per call in Throttled, RateCapped, Err503, with
// the rate cap and peak rate counting every entry), and RejectRecipient
// refuses entries one by one (MESSAGE_REJECTED results) without forwarding
// them.
func (p *Proxy) sendBulk(w http.ResponseWriter, r *http.Request, body []byte) {
	var in wireBulk
	if err := json.Unmarshal(body, &in); err != nil || len(in.BulkEmailEntries) == 0 {
		p.count(func(s *Stats) { s.Requests++; s.SendBulkEmail++ })
		p.pass(w, r, body) // malformed: upstream refuses it
		return
	}
	entries := make([]wireEntry, len(in.BulkEmailEntries))
	for i, raw := range in.BulkEmailEntries {
		_ = json.Unmarshal(raw, &entries[i])
	}
	n := len(entries)

	p.mu.Lock()
	p.stats.Requests++
	p.stats.SendBulkEmail++
	p.stats.BulkEntries += n
	v, latency := p.d.decideBulk(n)
	var reject []bool
	nrej := 0
	if v == forward || v == unavailableAfter {
		reject, nrej = p.rejectEntries(entries)
	}
	switch v {
	case rateCapped:
		p.stats.RateCapped++
	case throttled:
		p.stats.Throttled++
	case unavailable:
		p.stats.Err503++
	default:
		p.stats.BulkRejected += nrej
		if nrej < n {
			p.stats.Forwarded++
			p.stats.BulkForwardedEntries += n - nrej
		}
	}
	p.mu.Unlock()

	sleep(latency)
	switch v {
	case rateCapped, throttled:
		writeError(w, http.StatusTooManyRequests, "TooManyRequestsException", "Maximum sending rate exceeded.")
		return
	case unavailable:
		writeError(w, http.StatusServiceUnavailable, "", "Service Unavailable (sesfault)")
		return
	}

	results := make([]entryResult, n)
	if nrej < n {
		fwd := body
		if nrej > 0 {
			var err error
			if fwd, err = withoutEntries(body, in.BulkEmailEntries, reject); err != nil {
				writeError(w, http.StatusInternalServerError, "", "sesfault: rewriting the bulk call: "+err.Error())
				return
			}
		}
		resp, ok := p.forward(w, r, fwd)
		if !ok {
			return
		}
		var out struct{ BulkEmailEntryResults []entryResult }
		if resp.status/100 != 2 || json.Unmarshal(resp.body, &out) != nil {
			resp.relay(w)
			return
		}
		k := 0
		for i := range results {
			if reject[i] {
				continue
			}
			if k < len(out.BulkEmailEntryResults) {
				results[i] = out.BulkEmailEntryResults[k]
			}
			k++
		}
	}
	accepted := 0
	for i := range results {
		if reject[i] {
			results[i] = entryResult{Status: "MESSAGE_REJECTED", Error: "Email address is not verified. (sesfault)"}
			continue
		}
		if results[i].Status == "SUCCESS" && results[i].MessageId != "" {
			accepted++
			p.bulkAccepted(&in, &entries[i], results[i].MessageId)
		}
	}
	if v == unavailableAfter && accepted > 0 {
		p.count(func(s *Stats) { s.BulkAcceptedAfter503 += accepted })
		writeError(w, http.StatusServiceUnavailable, "", "Service Unavailable (sesfault, after acceptance)")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(map[string]any{"BulkEmailEntryResults": results})
	_, _ = w.Write(b)
}

// rejectEntries marks the entries RejectRecipient refuses; p.mu is held.
func (p *Proxy) rejectEntries(entries []wireEntry) ([]bool, int) {
	reject := make([]bool, len(entries))
	if p.cfg.RejectRecipient == nil {
		return reject, 0
	}
	n := 0
	for i := range entries {
		for _, to := range entries[i].Destination.ToAddresses {
			if p.cfg.RejectRecipient(to) {
				reject[i] = true
				n++
				break
			}
		}
	}
	return reject, n
}

// withoutEntries rewrites a SendBulkEmail body without the rejected entries.
func withoutEntries(body []byte, raw []json.RawMessage, reject []bool) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	keep := make([]json.RawMessage, 0, len(raw))
	for i, e := range raw {
		if !reject[i] {
			keep = append(keep, e)
		}
	}
	b, err := json.Marshal(keep)
	if err != nil {
		return nil, err
	}
	m["BulkEmailEntries"] = b
	return json.Marshal(m)
}

// bulkAccepted tells the sink about one accepted entry.
func (p *Proxy) bulkAccepted(in *wireBulk, e *wireEntry, id string) {
	if p.cfg.Events == nil {
		return
	}
	a := sesevents.Accepted{
		MessageID: id, From: in.FromEmailAddress, To: e.Destination.all(),
		ConfigurationSet: in.ConfigurationSetName, Tags: tagMap(in.DefaultEmailTags, e.ReplacementTags), At: p.cfg.Now(),
	}
	if in.DefaultContent.Template != nil {
		a.Template = in.DefaultContent.Template.TemplateName
	}
	p.cfg.Events.Accepted(a)
	p.count(func(s *Stats) { s.EventsAccepted++ })
}
