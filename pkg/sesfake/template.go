package sesfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// compiled is a template part split into literal text and variable paths.
type compiled []segment

type segment struct {
	lit  string
	path []string // nil for a literal
}

// compile parses the supported Handlebars subset.
func compile(src string) (compiled, error) {
	var out compiled
	for {
		i := strings.Index(src, "{{")
		if i < 0 {
			if src != "" {
				out = append(out, segment{lit: src})
			}
			return out, nil
		}
		if i > 0 {
			out = append(out, segment{lit: src[:i]})
		}
		src = src[i+2:]
		closer := "}}"
		if strings.HasPrefix(src, "{") {
			src, closer = src[1:], "}}}"
		}
		j := strings.Index(src, closer)
		if j < 0 {
			return nil, errors.New("unclosed {{")
		}
		expr := strings.TrimSpace(strings.Trim(src[:j], "~"))
		src = src[j+len(closer):]
		switch {
		case strings.HasPrefix(expr, "!"):
			continue
		case expr == "" || strings.ContainsAny(expr, "#/^>(\" ") || expr == "else":
			return nil, fmt.Errorf("{{%s}} is not supported by sesfake (only {{var}} and {{a.b}})", expr)
		}
		out = append(out, segment{path: strings.Split(expr, ".")})
	}
}

// render writes the template with data (nil data renders every variable
// empty).
func (c compiled) render(data map[string]any) string {
	var b strings.Builder
	for _, s := range c {
		if s.path == nil {
			b.WriteString(s.lit)
			continue
		}
		b.WriteString(lookup(data, s.path))
	}
	return b.String()
}

func lookup(data map[string]any, path []string) string {
	var v any = data
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		if v, ok = m[p]; !ok {
			return ""
		}
	}
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// parseData decodes TemplateData, which must be a JSON object (or empty).
func parseData(s string) (map[string]any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader([]byte(s)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil || m == nil {
		return nil, errors.New("TemplateData must be a JSON object")
	}
	return m, nil
}

// template is a stored template, as given and compiled.
type template struct {
	Name                string
	Subject, HTML, Text string
	subject, html, text compiled
}

func newTemplate(name, subject, html, text string) (*template, error) {
	t := &template{Name: name, Subject: subject, HTML: html, Text: text}
	var err error
	for _, p := range []struct {
		dst *compiled
		src string
	}{{&t.subject, subject}, {&t.html, html}, {&t.text, text}} {
		if *p.dst, err = compile(p.src); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// rendered is a template rendered with one set of data.
type rendered struct{ Subject, HTML, Text string }

func (t *template) render(data map[string]any) rendered {
	return rendered{Subject: t.subject.render(data), HTML: t.html.render(data), Text: t.text.render(data)}
}
