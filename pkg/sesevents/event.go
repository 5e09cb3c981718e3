package sesevents

import (
	"strings"
	"time"
)

// Type is an event's eventType.
type Type string

// The event types SES publishes that sendonce reads.
const (
	Send             Type = "Send"
	Delivery         Type = "Delivery"
	Bounce           Type = "Bounce"
	Complaint        Type = "Complaint"
	Reject           Type = "Reject"
	RenderingFailure Type = "Rendering Failure" // sic: SES writes the space
	DeliveryDelay    Type = "DeliveryDelay"
)

// TagConfigurationSet is the tag SES adds with the configuration set's name.
const TagConfigurationSet = "ses:configuration-set"

// Event is one event record, as SES publishes it to SNS (the SNS message
// text) or Firehose. Exactly one of the pointers matches EventType.
type Event struct {
	EventType     Type               `json:"eventType"`
	Mail          Mail               `json:"mail"`
	Send          *SendInfo          `json:"send,omitempty"`
	Delivery      *DeliveryInfo      `json:"delivery,omitempty"`
	Bounce        *BounceInfo        `json:"bounce,omitempty"`
	Complaint     *ComplaintInfo     `json:"complaint,omitempty"`
	Reject        *RejectInfo        `json:"reject,omitempty"`
	Failure       *FailureInfo       `json:"failure,omitempty"` // Rendering Failure
	DeliveryDelay *DeliveryDelayInfo `json:"deliveryDelay,omitempty"`
}

// Mail is the email the event is about.
type Mail struct {
	Timestamp        Timestamp      `json:"timestamp"`
	Source           string         `json:"source"`
	SourceArn        string         `json:"sourceArn,omitempty"`
	SendingAccountID string         `json:"sendingAccountId,omitempty"`
	MessageID        string         `json:"messageId"`
	Destination      []string       `json:"destination"`
	HeadersTruncated bool           `json:"headersTruncated"`
	Headers          []Header       `json:"headers,omitempty"`
	CommonHeaders    *CommonHeaders `json:"commonHeaders,omitempty"`
	// Tags are the EmailTags of the send, each name with its values, plus
	// SES's own (TagConfigurationSet, ses:from-domain...).
	Tags map[string][]string `json:"tags,omitempty"`
}

// Header is a header of the email.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CommonHeaders are the email's usual headers, parsed.
type CommonHeaders struct {
	From      []string `json:"from,omitempty"`
	To        []string `json:"to,omitempty"`
	MessageID string   `json:"messageId,omitempty"`
	Subject   string   `json:"subject,omitempty"`
}

// SendInfo is the (empty) send object.
type SendInfo struct{}

// DeliveryInfo says SES delivered the email to the recipient's server.
type DeliveryInfo struct {
	Timestamp            Timestamp `json:"timestamp"`
	ProcessingTimeMillis int64     `json:"processingTimeMillis"`
	Recipients           []string  `json:"recipients"`
	SMTPResponse         string    `json:"smtpResponse"`
	ReportingMTA         string    `json:"reportingMTA"`
}

// BounceInfo says the recipient's server refused the email.
type BounceInfo struct {
	BounceType        string      `json:"bounceType"`    // Undetermined, Permanent, Transient
	BounceSubType     string      `json:"bounceSubType"` // General, NoEmail, Suppressed...
	BouncedRecipients []Recipient `json:"bouncedRecipients"`
	Timestamp         Timestamp   `json:"timestamp"`
	FeedbackID        string      `json:"feedbackId"`
	ReportingMTA      string      `json:"reportingMTA,omitempty"`
}

// ComplaintInfo says a recipient marked the email as spam.
type ComplaintInfo struct {
	ComplainedRecipients  []Recipient `json:"complainedRecipients"`
	Timestamp             Timestamp   `json:"timestamp"`
	FeedbackID            string      `json:"feedbackId"`
	ComplaintSubType      *string     `json:"complaintSubType,omitempty"`
	UserAgent             string      `json:"userAgent,omitempty"`
	ComplaintFeedbackType string      `json:"complaintFeedbackType,omitempty"`
	ArrivalDate           string      `json:"arrivalDate,omitempty"`
}

// RejectInfo says SES accepted the email, then refused to send it.
type RejectInfo struct {
	Reason string `json:"reason"`
}

// FailureInfo says SES accepted the email and could not render its
// template (a Rendering Failure event).
type FailureInfo struct {
	ErrorMessage string `json:"errorMessage"`
	TemplateName string `json:"templateName"`
}

// DeliveryDelayInfo says delivery is delayed; SES keeps trying.
type DeliveryDelayInfo struct {
	Timestamp         Timestamp   `json:"timestamp"`
	DelayType         string      `json:"delayType"`
	ExpirationTime    Timestamp   `json:"expirationTime"`
	DelayedRecipients []Recipient `json:"delayedRecipients"`
	ReportingMTA      string      `json:"reportingMTA,omitempty"`
}

// Recipient is one recipient of a bounce, complaint or delay.
type Recipient struct {
	EmailAddress   string `json:"emailAddress"`
	Action         string `json:"action,omitempty"`
	Status         string `json:"status,omitempty"`
	DiagnosticCode string `json:"diagnosticCode,omitempty"`
}

// Timestamp is a time as SES writes it: UTC, milliseconds, always three
// digits ("2017-08-05T00:41:02.669Z").
type Timestamp struct{ time.Time }

// TimestampLayout is SES's time format.
const TimestampLayout = "2006-01-02T15:04:05.000Z07:00"

// At makes a Timestamp.
func At(t time.Time) Timestamp { return Timestamp{t.UTC()} }

// MarshalJSON writes SES's format.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + t.UTC().Format(TimestampLayout) + `"`), nil
}

// UnmarshalJSON reads any RFC 3339 time.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	return t.Time.UnmarshalJSON(b)
}

// Accepted is an email SES accepted: what its events are made of.
type Accepted struct {
	MessageID        string
	From             string
	To               []string // every recipient (To, Cc, Bcc)
	ConfigurationSet string
	// Tags are the email's EmailTags (for a bulk entry, the default tags
	// overridden by the entry's).
	Tags map[string]string
	// Template is the template's name, if any.
	Template string
	// At is when SES accepted it.
	At time.Time
}

// NewEvent makes the event of type typ about a, dated at. It carries what SES
// puts in every event: the message id, source, destination and the tags,
// with the configuration set and the From domain as SES adds them.
func NewEvent(typ Type, a Accepted, at time.Time) Event {
	tags := make(map[string][]string, len(a.Tags)+2)
	for k, v := range a.Tags {
		tags[k] = []string{v}
	}
	if a.ConfigurationSet != "" {
		tags[TagConfigurationSet] = []string{a.ConfigurationSet}
	}
	if i := strings.LastIndexByte(a.From, '@'); i >= 0 {
		tags["ses:from-domain"] = []string{strings.TrimSuffix(a.From[i+1:], ">")}
	}
	e := Event{EventType: typ, Mail: Mail{
		Timestamp:   At(a.At),
		Source:      a.From,
		MessageID:   a.MessageID,
		Destination: a.To,
		Tags:        tags,
	}}
	ts := At(at)
	switch typ {
	case Send:
		e.Send = &SendInfo{}
	case Delivery:
		e.Delivery = &DeliveryInfo{Timestamp: ts, ProcessingTimeMillis: at.Sub(a.At).Milliseconds(), Recipients: a.To, SMTPResponse: "250 2.6.0 Message received", ReportingMTA: "sesevents.local"}
	case Bounce:
		e.Bounce = &BounceInfo{BounceType: "Permanent", BounceSubType: "General", BouncedRecipients: recipients(a.To, "failed", "5.1.1", "smtp; 550 5.1.1 user unknown"), Timestamp: ts, FeedbackID: a.MessageID + "-bounce", ReportingMTA: "dsn; sesevents.local"}
	case Complaint:
		e.Complaint = &ComplaintInfo{ComplainedRecipients: recipients(a.To, "", "", ""), Timestamp: ts, FeedbackID: a.MessageID + "-complaint", ComplaintFeedbackType: "abuse", ArrivalDate: ts.Format(TimestampLayout)}
	case Reject:
		e.Reject = &RejectInfo{Reason: "Bad content"}
	case RenderingFailure:
		e.Failure = &FailureInfo{ErrorMessage: "Attribute 'name' is not present in the rendering data.", TemplateName: a.Template}
	case DeliveryDelay:
		e.DeliveryDelay = &DeliveryDelayInfo{Timestamp: ts, DelayType: "TransientCommunicationFailure", ExpirationTime: At(at.Add(24 * time.Hour)), DelayedRecipients: recipients(a.To, "", "4.4.1", "smtp; 421 4.4.1 Unable to connect to remote host")}
	}
	return e
}

func recipients(to []string, action, status, diag string) []Recipient {
	out := make([]Recipient, len(to))
	for i, t := range to {
		out[i] = Recipient{EmailAddress: t, Action: action, Status: status, DiagnosticCode: diag}
	}
	return out
}

// Tag returns the first value of the tag name, or "".
func (e *Event) Tag(name string) string {
	if v := e.Mail.Tags[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}
