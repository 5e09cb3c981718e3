package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sendonce/sendonce/pkg/ledger"
	"github.com/sendonce/sendonce/pkg/pseudonym"
)

// The EmailTags the sender puts on every email, which SES copies into
// mail.tags of each event.
const (
	TagCampaign = "campaign"
	TagAttempt  = "attempt"
	TagUserRef  = "user_ref"
)

// ErrUnparsable is wrapped by parse for a message that is neither an SES
// event nor an SNS envelope of one.
var ErrUnparsable = errors.New("not an SES event (neither raw nor in an SNS envelope)")

// kind is what one eventType means for the fence: its verdict and fact.
type kind struct {
	label   string // the event label of the metrics
	verdict Verdict
	fact    Fact
}

// kinds maps SES's eventType to its meaning. Open and Click prove the email
// left SES too. A type absent here (Subscription) concerns no attempt.
var kinds = map[string]kind{
	"Send":              {"Send", VerdictSent, FactNone},
	"DeliveryDelay":     {"DeliveryDelay", VerdictSent, FactNone},
	"Delivery":          {"Delivery", VerdictSent, FactDelivered},
	"Bounce":            {"Bounce", VerdictSent, FactBounced},
	"Complaint":         {"Complaint", VerdictSent, FactComplained},
	"Open":              {"Open", VerdictSent, FactNone},
	"Click":             {"Click", VerdictSent, FactNone},
	"Reject":            {"Reject", VerdictFailed, FactNone},
	"Rendering Failure": {"RenderingFailure", VerdictFailed, FactNone},
	"RenderingFailure":  {"RenderingFailure", VerdictFailed, FactNone},
}

// Event labels of the metrics besides the kinds'.
const (
	eventOther      = "other"
	eventUnparsable = "unparsable"
)

// eventLabels are every event label, created up front.
func eventLabels() []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range kinds {
		if !seen[k.label] {
			seen[k.label] = true
			out = append(out, k.label)
		}
	}
	return append(out, eventOther, eventUnparsable)
}

// snsEnvelope is the SNS notification around a message (delivery that is
// not raw).
type snsEnvelope struct {
	Type    string `json:"Type"`
	Message string `json:"Message"`
}

// sesEvent is the part of SES's event JSON the reconciler reads.
// https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
type sesEvent struct {
	EventType string `json:"eventType"`
	// NotificationType is the field of identity notifications (not
	// configuration-set events); read as a fallback.
	NotificationType string `json:"notificationType"`
	Mail             struct {
		MessageID string              `json:"messageId"`
		Tags      map[string][]string `json:"tags"`
	} `json:"mail"`
	Bounce *struct {
		BounceType    string `json:"bounceType"`
		BounceSubType string `json:"bounceSubType"`
	} `json:"bounce"`
	Reject *struct {
		Reason string `json:"reason"`
	} `json:"reject"`
	Failure *struct {
		ErrorMessage string `json:"errorMessage"`
		TemplateName string `json:"templateName"`
	} `json:"failure"`
	RenderingFailure *struct {
		ErrorMessage string `json:"errorMessage"`
		TemplateName string `json:"templateName"`
	} `json:"renderingFailure"`
}

// event is one parsed queue message.
type event struct {
	label string // metrics label
	known bool   // a kind of kinds
	kind  kind
	// ours: the tags name one attempt of one of our users (the user_ref
	// opened under our key).
	ours       bool
	settle     SettleEvent
	bounceType string // ledger.BounceHard or BounceSoft
	// notEvent: an SNS control message (SubscriptionConfirmation), not an
	// event: deleted without counting it as one.
	notEvent bool
}

// parse reads a queue message body: an SNS envelope or a raw event. key is
// the user-hash key that opens user_ref.
func parse(body []byte, key []byte) (event, error) {
	body = bytes.TrimSpace(body)
	var env snsEnvelope
	if err := json.Unmarshal(body, &env); err != nil {
		return event{label: eventUnparsable}, fmt.Errorf("%w: %v", ErrUnparsable, err)
	}
	switch env.Type {
	case "Notification":
		body = []byte(env.Message)
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		return event{label: eventOther, notEvent: true}, nil
	}
	var e sesEvent
	if err := json.Unmarshal(body, &e); err != nil {
		return event{label: eventUnparsable}, fmt.Errorf("%w: %v", ErrUnparsable, err)
	}
	typ := e.EventType
	if typ == "" {
		typ = e.NotificationType
	}
	if typ == "" || e.Mail.MessageID == "" {
		return event{label: eventUnparsable}, fmt.Errorf("%w: no eventType or mail.messageId", ErrUnparsable)
	}
	k, known := kinds[typ]
	ev := event{label: eventOther, known: known, kind: k}
	if !known {
		return ev, nil
	}
	ev.label = k.label
	ev.settle = SettleEvent{Verdict: k.verdict, Fact: k.fact, MessageID: e.Mail.MessageID}
	switch {
	case k.fact == FactBounced && e.Bounce != nil:
		ev.bounceType = ledger.BounceSoft
		if e.Bounce.BounceType == "Permanent" {
			ev.bounceType = ledger.BounceHard
		}
	case k.fact == FactBounced:
		ev.bounceType = ledger.BounceSoft
	}
	if k.verdict == VerdictFailed {
		ev.settle.Reason = failureReason(&e)
	}
	campaign, attempt, ref := tag(e.Mail.Tags, TagCampaign), tag(e.Mail.Tags, TagAttempt), tag(e.Mail.Tags, TagUserRef)
	if campaign == "" || attempt == "" || ref == "" {
		return ev, nil
	}
	user, err := pseudonym.OpenUserRef(key, ref)
	if err != nil || user == "" {
		return ev, nil
	}
	if c, u, ok := strings.Cut(user, pseudonym.RefSeparator); ok {
		// The campaign id did not fit SES's tag charset: the sender
		// sealed it with the user.
		campaign, user = c, u
	}
	ev.ours = true
	ev.settle.Campaign, ev.settle.Attempt, ev.settle.User = campaign, attempt, user
	return ev, nil
}

func tag(tags map[string][]string, name string) string {
	if v := tags[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// failureReason is the ledger and DLQ reason of a Reject or Rendering
// Failure event.
func failureReason(e *sesEvent) string {
	switch {
	case e.Reject != nil:
		return "rejected by SES: " + orUnknown(e.Reject.Reason)
	case e.Failure != nil:
		return renderingReason(e.Failure.TemplateName, e.Failure.ErrorMessage)
	case e.RenderingFailure != nil:
		return renderingReason(e.RenderingFailure.TemplateName, e.RenderingFailure.ErrorMessage)
	case strings.HasPrefix(e.EventType, "Reject"):
		return "rejected by SES"
	}
	return "rendering failure"
}

func renderingReason(template, msg string) string {
	if template != "" {
		return fmt.Sprintf("rendering failure of template %s: %s", template, orUnknown(msg))
	}
	return "rendering failure: " + orUnknown(msg)
}

func orUnknown(s string) string {
	if s == "" {
		return "(no reason given)"
	}
	return s
}
