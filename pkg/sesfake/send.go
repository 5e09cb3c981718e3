package sesfake

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// SendRequest is a parsed SendEmail call, as Config.Fault sees it.
type SendRequest struct {
	From             string
	To, Cc, Bcc      []string
	ConfigurationSet string
	// Template is the stored template's name; empty for simple content.
	Template     string
	TemplateData string
	Headers      []Header
	Tags         map[string]string
}

// Header is an email header.
type Header struct{ Name, Value string }

// Email is an accepted email, rendered.
type Email struct {
	MessageID string
	SendRequest
	Subject, HTML, Text string
}

// Fault is an error answer to a SendEmail.
type Fault struct {
	// Name is the outcome counted in Calls.
	Name string
	// Status, Code and Message make the answer (Code goes in
	// X-Amzn-ErrorType; empty Code sends none).
	Status        int
	Code, Message string
	// Accept accepts (counts, keeps, writes) the email before answering
	// with the error: the caller cannot tell it was sent.
	Accept bool
	// Hangup closes the connection instead of answering.
	Hangup bool
	// BulkStatus is the status a SendBulkEmail entry gets for this fault
	// ("ACCOUNT_THROTTLED"), refusing that entry alone. A fault without one
	// answers the whole SendBulkEmail call (see Config.Fault).
	BulkStatus string
}

// The faults SES shows. Config.Fault returns one of them (or its own).
var (
	Throttle               = &Fault{Name: "throttle", Status: 429, Code: "TooManyRequestsException", Message: "Maximum sending rate exceeded.", BulkStatus: "ACCOUNT_THROTTLED"}
	QuotaExceeded          = &Fault{Name: "quota", Status: 400, Code: "LimitExceededException", Message: "Daily message quota exceeded.", BulkStatus: "ACCOUNT_DAILY_QUOTA_EXCEEDED"}
	Reject                 = &Fault{Name: "reject", Status: 400, Code: "MessageRejected", Message: "Email address is not verified.", BulkStatus: "MESSAGE_REJECTED"}
	Unavailable            = &Fault{Name: "unavailable", Status: 503, Message: "Service Unavailable"}
	UnavailableAfterAccept = &Fault{Name: "unavailable_after_accept", Status: 503, Message: "Service Unavailable", Accept: true}
	HangupAfterAccept      = &Fault{Name: "hangup_after_accept", Hangup: true, Accept: true}
	ConfigurationSetPaused = &Fault{Name: "configuration_set_paused", Status: 400, Code: "ConfigurationSetSendingPausedException", Message: "Sending is paused for this configuration set.", BulkStatus: "CONFIGURATION_SET_SENDING_PAUSED"}
	// TransientFailure is a bulk entry's TRANSIENT_FAILURE (a SendEmail
	// gets a 500).
	TransientFailure     = &Fault{Name: "transient_failure", Status: 500, Code: "InternalServiceErrorException", Message: "Transient failure.", BulkStatus: "TRANSIENT_FAILURE"}
	IdentityAccessDenied = &Fault{Name: "access_denied", Status: 403, Code: "AccessDeniedException", Message: "User is not authorized to perform ses:SendEmail on this identity."}
)

// maxBody is SES v2's message size limit.
const maxBody = 40 << 20

type wireHeader struct{ Name, Value string }

type wireContent struct{ Subject, Html, Text string }

type wireSend struct {
	FromEmailAddress     string
	Destination          struct{ ToAddresses, CcAddresses, BccAddresses []string }
	ConfigurationSetName string
	EmailTags            []wireHeader
	Content              struct {
		Simple *struct {
			Subject struct{ Data string }
			Body    struct{ Text, Html *struct{ Data string } }
			Headers []wireHeader
		}
		Template *struct {
			TemplateName    string
			TemplateData    string
			TemplateContent *wireContent
			Headers         []wireHeader
		}
		Raw *struct{ Data []byte }
	}
}

func (s *Server) sendEmail(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return
	}
	var in wireSend
	if err := json.Unmarshal(body, &in); err != nil {
		s.badRequest(w, "malformed SendEmail body: "+err.Error())
		return
	}
	req := SendRequest{
		From:             in.FromEmailAddress,
		To:               in.Destination.ToAddresses,
		Cc:               in.Destination.CcAddresses,
		Bcc:              in.Destination.BccAddresses,
		ConfigurationSet: in.ConfigurationSetName,
	}
	if len(in.EmailTags) > 0 {
		req.Tags = make(map[string]string, len(in.EmailTags))
		for _, t := range in.EmailTags {
			req.Tags[t.Name] = t.Value
		}
	}
	if req.From == "" {
		s.badRequest(w, "FromEmailAddress is required")
		return
	}
	if len(req.To)+len(req.Cc)+len(req.Bcc) == 0 {
		s.badRequest(w, "Destination has no address")
		return
	}

	// How to render the email, should it be kept or written.
	var tmpl *template
	var data map[string]any
	var simple rendered
	c := &in.Content
	switch {
	case c.Template != nil:
		req.Template, req.TemplateData, req.Headers = c.Template.TemplateName, c.Template.TemplateData, headers(c.Template.Headers)
		if tc := c.Template.TemplateContent; tc != nil && req.Template == "" {
			if tmpl, err = newTemplate("", tc.Subject, tc.Html, tc.Text); err != nil {
				s.badRequest(w, err.Error())
				return
			}
		} else if tmpl = s.template(req.Template); tmpl == nil {
			s.counts.call(OutcomeNotFound)
			writeError(w, http.StatusNotFound, "NotFoundException", "Template "+req.Template+" does not exist.")
			return
		}
		if data, err = parseData(req.TemplateData); err != nil {
			s.badRequest(w, err.Error())
			return
		}
	case c.Simple != nil:
		req.Headers = headers(c.Simple.Headers)
		simple.Subject = c.Simple.Subject.Data
		if b := c.Simple.Body.Text; b != nil {
			simple.Text = b.Data
		}
		if b := c.Simple.Body.Html; b != nil {
			simple.HTML = b.Data
		}
	case c.Raw != nil:
		// Counted, not parsed: sendonce never sends raw email.
	default:
		s.badRequest(w, "Content must be Simple, Template or Raw")
		return
	}

	var fault *Fault
	if s.cfg.Fault != nil {
		fault = s.cfg.Fault(&req)
	}
	if fault != nil && !fault.Accept {
		s.wait(r)
		s.answerFault(w, fault)
		return
	}

	id := s.nextID()
	if err := s.accept(id, &req, tmpl, data, simple); err != nil {
		writeError(w, http.StatusInternalServerError, "InternalServiceErrorException", "sesfake outbox: "+err.Error())
		return
	}
	s.wait(r)
	if fault != nil {
		s.answerFault(w, fault)
		return
	}
	s.counts.call(OutcomeAccepted)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"MessageId":"` + id + `"}`))
}

func (s *Server) badRequest(w http.ResponseWriter, msg string) {
	s.counts.call(OutcomeBadRequest)
	writeError(w, http.StatusBadRequest, "BadRequestException", msg)
}

func (s *Server) answerFault(w http.ResponseWriter, f *Fault) {
	s.counts.call(faultName(f))
	if f.Hangup {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	writeError(w, status, f.Code, f.Message)
}

// wait holds the answer for Config.Latency, or until the caller leaves.
func (s *Server) wait(r *http.Request) {
	if s.cfg.Latency <= 0 {
		return
	}
	t := time.NewTimer(s.cfg.Latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

func headers(in []wireHeader) []Header {
	if len(in) == 0 {
		return nil
	}
	out := make([]Header, len(in))
	for i, h := range in {
		out[i] = Header(h)
	}
	return out
}
