package ses

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/sendonce/sendonce/pkg/retry"
)

// MaxBulkEntries is SES's limit on the entries of one SendBulkEmail call.
const MaxBulkEntries = 50

// BulkEntry is one recipient of a SendBulkEmail call.
type BulkEntry struct {
	To string
	// TemplateData is the template variables as JSON object text ("" is
	// sent as "{}").
	TemplateData string
	// Headers become the entry's ReplacementHeaders (List-Unsubscribe...).
	Headers map[string]string
	// Tags become the entry's ReplacementTags (campaign, user_hash,
	// attempt, user_ref), made to fit SES's charset like Message.Tags.
	Tags map[string]string
}

// BulkMessage is one SendBulkEmail call: one template, From and
// configuration set for up to MaxBulkEntries recipients.
type BulkMessage struct {
	From, Template, ConfigurationSet string
	// Tags become DefaultEmailTags; may be nil.
	Tags    map[string]string
	Entries []BulkEntry // 1..MaxBulkEntries
}

// BulkResult is the outcome of one entry.
type BulkResult struct {
	MessageID string
	// Err is nil, or a *SendError whose Class says what to do (the same
	// table as Send, see BulkStatuses).
	Err error
}

// ErrTooManyEntries is returned (in a Permanent SendError, for the whole
// call) for a BulkMessage of more than MaxBulkEntries entries: SES would
// refuse it every time. It is the caller's bug.
var ErrTooManyEntries = fmt.Errorf("more than %d bulk entries", MaxBulkEntries)

// SendBulk sends one SendBulkEmail call. err != nil is a failure of the
// whole call (a *SendError: its Class applies to every entry; Written and
// Ambiguous as for Send). Otherwise results[i] is entry i's outcome.
//
// An entry without a To address gets a Permanent result and is not sent;
// the others are. An entry SES answered no result for (a shorter list than
// was sent) is Ambiguous. The SDK never retries the call.
func (c *Client) SendBulk(ctx context.Context, m BulkMessage) ([]BulkResult, error) {
	if len(m.Entries) == 0 {
		return nil, nil
	}
	if err := m.validate(); err != nil {
		c.m.observeBulk(time.Now(), len(m.Entries), retry.Permanent)
		return nil, &SendError{Class: retry.Permanent, Err: err}
	}
	results := make([]BulkResult, len(m.Entries))
	in, sent := m.input(results)
	if len(in.BulkEmailEntries) == 0 {
		c.m.countEntries(results)
		return results, nil
	}
	ctx, cancel, written := c.call(ctx)
	defer cancel()
	start := time.Now()
	out, err := c.api.SendBulkEmail(ctx, in, noRetry)
	if err != nil {
		se := newSendError(err, written.Load())
		c.m.observeBulk(start, len(in.BulkEmailEntries), se.Class)
		return nil, se
	}
	c.m.observe(opSendBulkEmail, start, "")
	for k, i := range sent {
		r := &results[i]
		if k >= len(out.BulkEmailEntryResults) {
			r.Err = &SendError{Class: retry.Ambiguous, Written: true, Err: errNoEntryResult}
			continue
		}
		er := &out.BulkEmailEntryResults[k]
		r.MessageID = aws.ToString(er.MessageId)
		if er.Status == "" {
			r.Err = &SendError{Class: retry.Ambiguous, Written: true, Err: errNoEntryResult}
			continue
		}
		if se := entryError(string(er.Status), aws.ToString(er.Error)); se != nil {
			r.MessageID = ""
			r.Err = se
		}
	}
	c.m.countEntries(results)
	return results, nil
}

// errNoEntryResult is the Err of an entry SES answered for the call but
// not for the entry: it may have been accepted.
var errNoEntryResult = errors.New("SendBulkEmail answered no status for this entry")

func (m *BulkMessage) validate() error {
	switch {
	case len(m.Entries) > MaxBulkEntries:
		return errors.Join(ErrInvalidMessage, ErrTooManyEntries)
	case m.From == "":
		return errors.Join(ErrInvalidMessage, errors.New("from is empty"))
	case m.Template == "":
		return errors.Join(ErrInvalidMessage, errors.New("template is empty"))
	}
	return nil
}

// errNoTo is the result of an entry without a To address.
var errNoTo = &SendError{Class: retry.Permanent, Err: errors.Join(ErrInvalidMessage, errors.New("to is empty"))}

// input builds the call. It runs once per batch on the hot path, so it
// allocates in bulk: the entries, the headers and tags of all entries, and
// the strings the SDK wants pointers to, each come from one slice. sent
// lists the index in m.Entries of each entry of the call; an entry without
// To gets its result in results instead.
func (m *BulkMessage) input(results []BulkResult) (in *sesv2.SendBulkEmailInput, sent []int) {
	nh, nt := 0, len(m.Tags)
	for i := range m.Entries {
		nh += len(m.Entries[i].Headers)
		nt += len(m.Entries[i].Tags)
	}
	// Each entry has To and TemplateData; each header and tag two strings;
	// From, Template, the default data and the configuration set.
	strs := make([]string, 0, 2*len(m.Entries)+2*(nh+nt)+4)
	ptr := func(s string) *string {
		strs = append(strs, s)
		return &strs[len(strs)-1]
	}
	tos := make([]string, len(m.Entries))
	entries := make([]types.BulkEmailEntry, 0, len(m.Entries))
	contents := make([]types.ReplacementEmailContent, len(m.Entries))
	templates := make([]types.ReplacementTemplate, len(m.Entries))
	dests := make([]types.Destination, len(m.Entries))
	headers := make([]types.MessageHeader, 0, nh)
	tags := make([]types.MessageTag, 0, nt)
	sent = make([]int, 0, len(m.Entries))

	in = &sesv2.SendBulkEmailInput{}
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.To == "" {
			results[i].Err = errNoTo
			continue
		}
		k := len(entries)
		tos[k] = e.To
		dests[k].ToAddresses = tos[k : k+1 : k+1]
		data := e.TemplateData
		if data == "" {
			data = "{}"
		}
		templates[k].ReplacementTemplateData = ptr(data)
		contents[k].ReplacementTemplate = &templates[k]
		entry := types.BulkEmailEntry{Destination: &dests[k], ReplacementEmailContent: &contents[k]}
		if len(e.Headers) > 0 {
			start := len(headers)
			for name, value := range e.Headers {
				headers = append(headers, types.MessageHeader{Name: ptr(name), Value: ptr(value)})
			}
			entry.ReplacementHeaders = headers[start:len(headers):len(headers)]
			sortHeaders(entry.ReplacementHeaders)
		}
		if len(e.Tags) > 0 {
			entry.ReplacementTags = appendTags(&tags, e.Tags, ptr)
		}
		entries = append(entries, entry)
		sent = append(sent, i)
	}
	in.BulkEmailEntries = entries
	in.FromEmailAddress = ptr(m.From)
	in.DefaultContent = &types.BulkEmailContent{Template: &types.Template{TemplateName: ptr(m.Template), TemplateData: ptr("{}")}}
	if m.ConfigurationSet != "" {
		in.ConfigurationSetName = ptr(m.ConfigurationSet)
	}
	if len(m.Tags) > 0 {
		in.DefaultEmailTags = appendTags(&tags, m.Tags, ptr)
	}
	return in, sent
}

// appendTags appends m, made to fit SES (TagValue) and sorted by name, to
// *all and returns them.
func appendTags(all *[]types.MessageTag, m map[string]string, ptr func(string) *string) []types.MessageTag {
	start := len(*all)
	for name, value := range m {
		if n := TagValue(name); n != "" {
			*all = append(*all, types.MessageTag{Name: ptr(n), Value: ptr(TagValue(value))})
		}
	}
	out := (*all)[start:len(*all):len(*all)]
	// Insertion sort: a handful of tags, and no allocation.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && *out[j].Name < *out[j-1].Name; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// sortHeaders sorts a handful of headers by name without allocating.
func sortHeaders(h []types.MessageHeader) {
	for i := 1; i < len(h); i++ {
		for j := i; j > 0 && *h[j].Name < *h[j-1].Name; j-- {
			h[j], h[j-1] = h[j-1], h[j]
		}
	}
}
