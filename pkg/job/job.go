package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// SchemaVersion is the version written into every job. Decode accepts
// versions up to this one.
const SchemaVersion = 1

// MaxTemplateData is the SES limit on TemplateData (262,144 bytes).
const MaxTemplateData = 262144

// ErrMalformed is returned by Decode when a record's value is not a job this
// version understands. Such a record is a poison message: the sender
// dead-letters it instead of blocking its partition.
var ErrMalformed = errors.New("malformed job")

// Job is one email to one user of one campaign. It is encoded as JSON so that
// it stays readable in Kafka UI.
type Job struct {
	Version          int               `json:"v"`
	Campaign         string            `json:"campaign"`
	UserID           string            `json:"user_id"`
	Email            string            `json:"email"`
	Template         string            `json:"template"`
	Data             json.RawMessage   `json:"data,omitempty"`
	From             string            `json:"from"`
	ConfigurationSet string            `json:"configuration_set,omitempty"`
	Headers          map[string]string `json:"headers,omitempty"`
	CreatedAt        time.Time         `json:"created_at"`
	ExpiresAt        *time.Time        `json:"expires_at,omitempty"`
	// Attempt counts the send attempts already made (0 for a fresh job).
	Attempt int `json:"attempt"`
}

// Key is the Kafka key of the job: the user id, so that every record of one
// user lands on one partition and compaction keeps the newest.
func (j *Job) Key() []byte { return []byte(j.UserID) }

// Expired reports whether the job must no longer be sent at now.
func (j *Job) Expired(now time.Time) bool {
	return j.ExpiresAt != nil && !now.Before(*j.ExpiresAt)
}

// Validate checks the fields every consumer relies on.
func (j *Job) Validate() error {
	switch {
	case j.Version < 1 || j.Version > SchemaVersion:
		return fmt.Errorf("%w: unsupported schema version %d (this build reads up to %d)", ErrMalformed, j.Version, SchemaVersion)
	case j.Campaign == "":
		return fmt.Errorf("%w: campaign is empty", ErrMalformed)
	case j.UserID == "":
		return fmt.Errorf("%w: user_id is empty", ErrMalformed)
	case j.Email == "":
		return fmt.Errorf("%w: email is empty", ErrMalformed)
	case j.Template == "":
		return fmt.Errorf("%w: template is empty", ErrMalformed)
	case j.From == "":
		return fmt.Errorf("%w: from is empty", ErrMalformed)
	case len(j.Data) > MaxTemplateData:
		return fmt.Errorf("%w: template data is %d bytes, over the SES limit of %d", ErrMalformed, len(j.Data), MaxTemplateData)
	}
	if len(j.Data) > 0 {
		d := bytes.TrimSpace(j.Data)
		if len(d) == 0 || d[0] != '{' {
			return fmt.Errorf("%w: template data must be a JSON object", ErrMalformed)
		}
	}
	return nil
}

// Encode returns the JSON value of the job: what json.Marshal writes, byte
// for byte (see appendJSON).
func (j *Job) Encode() ([]byte, error) {
	b, _, err := j.encode()
	return b, err
}

// encode is Encode that also gives the user id's offset in the value, or -1
// when the id is not there as it is (escaped, or encoded by json.Marshal).
func (j *Job) encode() ([]byte, int, error) {
	if j.Version == 0 {
		j.Version = SchemaVersion
	}
	if b, at, ok := j.appendJSONAt(make([]byte, 0, j.sizeHint())); ok {
		at++ // past the quote
		if at+len(j.UserID) < len(b) && string(b[at:at+len(j.UserID)]) == j.UserID && b[at+len(j.UserID)] == '"' {
			return b, at, nil
		}
		return b, -1, nil
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, -1, fmt.Errorf("encoding job for user %q: %w", j.UserID, err)
	}
	return b, -1, nil
}

// Decode parses and validates a job value. Errors wrap ErrMalformed.
func Decode(b []byte) (*Job, error) {
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := j.Validate(); err != nil {
		return nil, err
	}
	return &j, nil
}
