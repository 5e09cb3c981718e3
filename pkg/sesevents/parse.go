package sesevents

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotEvent is returned by Parse for a message that is neither an SES
// event nor an SNS notification carrying one.
var ErrNotEvent = errors.New("not an SES event")

// Parse reads one event from an SQS message body: either SNS's
// notification envelope ({"Type":"Notification","Message":"<event
// JSON>",...}) or, with raw message delivery, the event itself.
func Parse(body []byte) (Event, error) {
	var probe struct {
		Type      string `json:"Type"`
		Message   string `json:"Message"`
		EventType Type   `json:"eventType"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrNotEvent, err)
	}
	if probe.EventType == "" && probe.Type == "Notification" {
		body = []byte(probe.Message)
	}
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrNotEvent, err)
	}
	if e.EventType == "" || e.Mail.MessageID == "" {
		return Event{}, fmt.Errorf("%w: no eventType or mail.messageId", ErrNotEvent)
	}
	return e, nil
}
