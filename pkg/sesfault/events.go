package sesfault

import (
	"encoding/json"

	"github.com/sendonce/sendonce/pkg/sesevents"
)

// Sink is told about every email upstream accepted, also those the proxy
// then answers 503 (the caller cannot tell they were sent): it is how
// sesevents.Publisher publishes SES's events for them. Accepted must not
// block.
type Sink interface {
	Accepted(a sesevents.Accepted)
}

type wireTag struct{ Name, Value string }

type wireDestination struct{ ToAddresses, CcAddresses, BccAddresses []string }

func (d *wireDestination) all() []string {
	if len(d.CcAddresses)+len(d.BccAddresses) == 0 {
		return d.ToAddresses
	}
	out := append([]string{}, d.ToAddresses...)
	out = append(out, d.CcAddresses...)
	return append(out, d.BccAddresses...)
}

func tagMap(base, over []wireTag) map[string]string {
	if len(base)+len(over) == 0 {
		return nil
	}
	m := make(map[string]string, len(base)+len(over))
	for _, t := range base {
		m[t.Name] = t.Value
	}
	for _, t := range over {
		m[t.Name] = t.Value
	}
	return m
}

// emailAccepted tells the sink about a SendEmail upstream accepted.
func (p *Proxy) emailAccepted(req, resp []byte) {
	if p.cfg.Events == nil {
		return
	}
	var out struct{ MessageId string }
	if json.Unmarshal(resp, &out) != nil || out.MessageId == "" {
		return
	}
	var in struct {
		FromEmailAddress     string
		Destination          wireDestination
		ConfigurationSetName string
		EmailTags            []wireTag
		Content              struct {
			Template *struct{ TemplateName string }
		}
	}
	if json.Unmarshal(req, &in) != nil {
		return
	}
	a := sesevents.Accepted{
		MessageID: out.MessageId, From: in.FromEmailAddress, To: in.Destination.all(),
		ConfigurationSet: in.ConfigurationSetName, Tags: tagMap(in.EmailTags, nil), At: p.cfg.Now(),
	}
	if in.Content.Template != nil {
		a.Template = in.Content.Template.TemplateName
	}
	p.cfg.Events.Accepted(a)
	p.count(func(s *Stats) { s.EventsAccepted++ })
}
