package ses

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sendonce/sendonce/pkg/retry"
)

// Message is one templated email to one recipient.
type Message struct {
	From, To, Template, ConfigurationSet string
	// TemplateData is the template variables as JSON object text.
	TemplateData string
	// Headers are added to the email (List-Unsubscribe,
	// List-Unsubscribe-Post...).
	Headers map[string]string
	// Tags become SES EmailTags (campaign, user hash). Names and values are
	// made to fit SES's charset, see TagValue.
	Tags map[string]string
}

// ErrInvalidMessage is returned (in a Permanent SendError) for a message
// that lacks From, To or Template: sending it again would fail again.
var ErrInvalidMessage = errors.New("invalid message")

func (m *Message) validate() error {
	switch {
	case m.From == "":
		return errors.Join(ErrInvalidMessage, errors.New("from is empty"))
	case m.To == "":
		return errors.Join(ErrInvalidMessage, errors.New("to is empty"))
	case m.Template == "":
		return errors.Join(ErrInvalidMessage, errors.New("template is empty"))
	}
	return nil
}

func (m *Message) input() *sesv2.SendEmailInput {
	tmpl := &types.Template{TemplateName: aws.String(m.Template)}
	if m.TemplateData != "" {
		tmpl.TemplateData = aws.String(m.TemplateData)
	}
	for _, name := range sortedKeys(m.Headers) {
		tmpl.Headers = append(tmpl.Headers, types.MessageHeader{Name: aws.String(name), Value: aws.String(m.Headers[name])})
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(m.From),
		Destination:      &types.Destination{ToAddresses: []string{m.To}},
		Content:          &types.EmailContent{Template: tmpl},
	}
	if m.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(m.ConfigurationSet)
	}
	for _, name := range sortedKeys(m.Tags) {
		if n := TagValue(name); n != "" {
			in.EmailTags = append(in.EmailTags, types.MessageTag{Name: aws.String(n), Value: aws.String(TagValue(m.Tags[name]))})
		}
	}
	return in
}

// Send sends one email and returns SES's message id. Every error is a
// *SendError; the SDK never retries the call (see the package doc).
func (c *Client) Send(ctx context.Context, m Message) (string, error) {
	if err := m.validate(); err != nil {
		c.m.observe(opSendEmail, time.Now(), retry.Permanent)
		return "", &SendError{Class: retry.Permanent, Err: err}
	}
	in := m.input()
	ctx, cancel, written := c.call(ctx)
	defer cancel()
	start := time.Now()
	out, err := c.api.SendEmail(ctx, in, noRetry)
	if err != nil {
		se := newSendError(err, written.Load())
		c.m.observe(opSendEmail, start, se.Class)
		return "", se
	}
	c.m.observe(opSendEmail, start, "")
	return aws.ToString(out.MessageId), nil
}

// maxTag is SES's limit on the length of a tag name or value.
const maxTag = 256

// TagValue makes s fit SES's tag charset [A-Za-z0-9_-] and length (256).
// A value that fits is unchanged. Otherwise every other character becomes
// '_' and a short hash of the original is appended, so that two different
// values never collapse into one tag. Empty stays empty.
func TagValue(s string) string {
	if fits(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxTag-10 {
			break
		}
		if tagChar(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(s))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:4]))
	return b.String()
}

func fits(s string) bool {
	if len(s) > maxTag {
		return false
	}
	for _, r := range s {
		if !tagChar(r) {
			return false
		}
	}
	return true
}

func tagChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
