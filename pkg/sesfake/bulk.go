package sesfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sendonce/sendonce/pkg/sesevents"
)

// Accepted is what Config.OnAccepted hears of an accepted email: enough
// for sesevents.NewEvent to make SES's events of it.
type Accepted = sesevents.Accepted

// maxBulkEntries is SES's limit on the entries of one SendBulkEmail.
const maxBulkEntries = 50

// OutcomeBulkAccepted counts, in Calls, the SendBulkEmail calls answered
// with per-entry results (each entry's fault is counted under its Name).
const OutcomeBulkAccepted = "bulk_accepted"

type wireBulkEntry struct {
	Destination             struct{ ToAddresses, CcAddresses, BccAddresses []string }
	ReplacementEmailContent *struct {
		ReplacementTemplate *struct{ ReplacementTemplateData string }
	}
	ReplacementHeaders []wireHeader
	ReplacementTags    []wireHeader
}

type wireBulk struct {
	FromEmailAddress     string
	ConfigurationSetName string
	DefaultEmailTags     []wireHeader
	DefaultContent       struct {
		Template *struct {
			TemplateName string
			TemplateData string
			Headers      []wireHeader
		}
	}
	BulkEmailEntries []wireBulkEntry
}

type bulkResult struct {
	Status    string `json:"Status"`
	MessageID string `json:"MessageId,omitempty"`
	Error     string `json:"Error,omitempty"`
}

// sendBulkEmail is SendBulkEmail with a stored template. Config.BulkFault
// is asked once per call, Config.Fault once per entry. An entry's fault
// with a BulkStatus refuses that entry alone; a fault without one (503,
// hang-up, access denied) answers the whole call with it, after accepting
// the entries whose fault says Accept or that have none.
func (s *Server) sendBulkEmail(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return
	}
	var in wireBulk
	if err := json.Unmarshal(body, &in); err != nil {
		s.badRequest(w, "malformed SendBulkEmail body: "+err.Error())
		return
	}
	switch {
	case in.FromEmailAddress == "":
		s.badRequest(w, "FromEmailAddress is required")
		return
	case len(in.BulkEmailEntries) == 0 || len(in.BulkEmailEntries) > maxBulkEntries:
		s.badRequest(w, "BulkEmailEntries must have 1 to 50 entries, not "+strconv.Itoa(len(in.BulkEmailEntries)))
		return
	case in.DefaultContent.Template == nil || in.DefaultContent.Template.TemplateName == "":
		s.badRequest(w, "DefaultContent.Template.TemplateName is required")
		return
	}
	dt := in.DefaultContent.Template
	tmpl := s.template(dt.TemplateName)
	if tmpl == nil {
		s.counts.call(OutcomeNotFound)
		writeError(w, http.StatusNotFound, "NotFoundException", "Template "+dt.TemplateName+" does not exist.")
		return
	}

	// One SendRequest per entry: the defaults, overridden by the entry's
	// tags and headers.
	reqs := make([]SendRequest, len(in.BulkEmailEntries))
	for i := range in.BulkEmailEntries {
		e := &in.BulkEmailEntries[i]
		req := &reqs[i]
		req.From, req.ConfigurationSet, req.Template = in.FromEmailAddress, in.ConfigurationSetName, dt.TemplateName
		req.To, req.Cc, req.Bcc = e.Destination.ToAddresses, e.Destination.CcAddresses, e.Destination.BccAddresses
		req.TemplateData = dt.TemplateData
		if c := e.ReplacementEmailContent; c != nil && c.ReplacementTemplate != nil {
			req.TemplateData = c.ReplacementTemplate.ReplacementTemplateData
		}
		req.Headers = merge(dt.Headers, e.ReplacementHeaders)
		if n := len(in.DefaultEmailTags) + len(e.ReplacementTags); n > 0 {
			req.Tags = make(map[string]string, n)
			for _, t := range in.DefaultEmailTags {
				req.Tags[t.Name] = t.Value
			}
			for _, t := range e.ReplacementTags {
				req.Tags[t.Name] = t.Value
			}
		}
	}

	var callFault *Fault
	if s.cfg.BulkFault != nil {
		callFault = s.cfg.BulkFault(reqs)
	}
	if callFault != nil && !callFault.Accept {
		s.wait(r)
		s.answerFault(w, callFault)
		return
	}

	results := make([]bulkResult, len(reqs))
	for i := range reqs {
		req := &reqs[i]
		var f *Fault
		if s.cfg.Fault != nil {
			f = s.cfg.Fault(req)
		}
		switch {
		case f != nil && f.BulkStatus != "":
			s.counts.call(faultName(f))
			results[i] = bulkResult{Status: f.BulkStatus, Error: f.Message}
			continue
		case f != nil && callFault == nil:
			callFault = f // answers the whole call
			if !f.Accept {
				continue
			}
		case f != nil && !f.Accept:
			continue
		}
		if len(req.To)+len(req.Cc)+len(req.Bcc) == 0 {
			results[i] = bulkResult{Status: "FAILED", Error: "Destination has no address"}
			continue
		}
		data, err := parseData(defaultedData(dt.TemplateData, req.TemplateData))
		if err != nil {
			results[i] = bulkResult{Status: "FAILED", Error: err.Error()}
			continue
		}
		id := s.nextID()
		if err := s.accept(id, req, tmpl, data, rendered{}); err != nil {
			writeError(w, http.StatusInternalServerError, "InternalServiceErrorException", "sesfake outbox: "+err.Error())
			return
		}
		results[i] = bulkResult{Status: "SUCCESS", MessageID: id}
	}
	s.wait(r)
	if callFault != nil {
		s.answerFault(w, callFault)
		return
	}
	s.counts.call(OutcomeBulkAccepted)
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(map[string][]bulkResult{"BulkEmailEntryResults": results})
	_, _ = w.Write(b)
}

// accept keeps, counts and reports one accepted email.
func (s *Server) accept(id string, req *SendRequest, tmpl *template, data map[string]any, simple rendered) error {
	if s.cfg.Keep || s.cfg.OutboxDir != "" {
		e := Email{MessageID: id, SendRequest: *req}
		content := simple
		if tmpl != nil {
			content = tmpl.render(data)
		}
		e.Subject, e.HTML, e.Text = content.Subject, content.HTML, content.Text
		if err := s.keep(&e); err != nil {
			return err
		}
	}
	s.counts.add(req.To, req.Cc, req.Bcc)
	if s.cfg.OnAccepted != nil {
		to := req.To
		if len(req.Cc)+len(req.Bcc) > 0 {
			to = append(append(append([]string{}, req.To...), req.Cc...), req.Bcc...)
		}
		s.cfg.OnAccepted(Accepted{MessageID: id, From: req.From, To: to, ConfigurationSet: req.ConfigurationSet, Tags: req.Tags, Template: req.Template, At: time.Now()})
	}
	return nil
}

// defaultedData is an entry's template data over the default data (a
// shallow merge, as SES merges them key by key).
func defaultedData(def, entry string) string {
	if def == "" || def == "{}" || def == entry {
		return entry
	}
	var d, e map[string]json.RawMessage
	if json.Unmarshal([]byte(def), &d) != nil || json.Unmarshal([]byte(entry), &e) != nil {
		return entry
	}
	for k, v := range e {
		d[k] = v
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// merge returns the default headers with those of the same name replaced.
func merge(def, repl []wireHeader) []Header {
	if len(def) == 0 {
		return headers(repl)
	}
	out := make([]Header, 0, len(def)+len(repl))
	for _, h := range def {
		replaced := false
		for _, r := range repl {
			if r.Name == h.Name {
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, Header(h))
		}
	}
	for _, r := range repl {
		out = append(out, Header(r))
	}
	return out
}

func faultName(f *Fault) string {
	if f.Name != "" {
		return f.Name
	}
	return f.Code
}
