package sesfake

import (
	"bytes"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// keep records an accepted email in memory and/or the outbox.
func (s *Server) keep(e *Email) error {
	if s.cfg.OutboxDir != "" {
		if err := s.writeOutbox(e); err != nil {
			return err
		}
	}
	if s.cfg.Keep {
		s.kmu.Lock()
		s.messages = append(s.messages, *e)
		s.kmu.Unlock()
	}
	return nil
}

func (s *Server) writeOutbox(e *Email) error {
	campaign := fileSafe(e.Tags["campaign"])
	if campaign == "" {
		campaign = "default"
	}
	dir := filepath.Join(s.cfg.OutboxDir, campaign)
	if _, ok := s.dirs.Load(dir); !ok {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		s.dirs.Store(dir, true)
	}
	to := "unknown"
	if len(e.To) > 0 {
		to = fileSafe(e.To[0])
	}
	return os.WriteFile(filepath.Join(dir, to+"-"+e.MessageID+".eml"), emlOf(e), 0o644)
}

// fileSafe keeps a name inside its directory and readable.
func fileSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@._+-", r) {
			return r
		}
		return '_'
	}, s)
	return strings.TrimLeft(s, ".")
}

// emlOf writes the email as RFC 5322 text.
func emlOf(e *Email) []byte {
	h := []Header{
		{"From", e.From},
		{"To", strings.Join(e.To, ", ")},
	}
	if len(e.Cc) > 0 {
		h = append(h, Header{"Cc", strings.Join(e.Cc, ", ")})
	}
	h = append(h,
		Header{"Date", time.Now().UTC().Format(time.RFC1123Z)},
		Header{"Message-ID", "<" + e.MessageID + "@sesfake>"},
	)
	h = append(h, e.Headers...)
	if e.ConfigurationSet != "" {
		h = append(h, Header{"X-SES-CONFIGURATION-SET", e.ConfigurationSet})
	}
	if len(e.Tags) > 0 {
		names := make([]string, 0, len(e.Tags))
		for n := range e.Tags {
			names = append(names, n)
		}
		sort.Strings(names)
		for i, n := range names {
			names[i] = n + "=" + e.Tags[n]
		}
		h = append(h, Header{"X-SES-MESSAGE-TAGS", strings.Join(names, ", ")})
	}
	return renderMIME(h, rendered{Subject: e.Subject, HTML: e.HTML, Text: e.Text}, "sesfake-"+e.MessageID)
}

// renderMIME writes headers, Subject and a text and/or HTML body (8bit, so
// that a person can read the file).
func renderMIME(h []Header, r rendered, boundary string) []byte {
	var b bytes.Buffer
	for _, x := range h {
		fmt.Fprintf(&b, "%s: %s\r\n", x.Name, oneLine(x.Value))
	}
	fmt.Fprintf(&b, "Subject: %s\r\nMIME-Version: 1.0\r\n", mime.QEncoding.Encode("utf-8", oneLine(r.Subject)))
	part := func(typ, body string) {
		fmt.Fprintf(&b, "Content-Type: %s; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", typ, body)
	}
	switch {
	case r.HTML != "" && r.Text != "":
		fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n", boundary)
		fmt.Fprintf(&b, "--%s\r\n", boundary)
		part("text/plain", r.Text)
		fmt.Fprintf(&b, "--%s\r\n", boundary)
		part("text/html", r.HTML)
		fmt.Fprintf(&b, "--%s--\r\n", boundary)
	case r.HTML != "":
		part("text/html", r.HTML)
	default:
		part("text/plain", r.Text)
	}
	return b.Bytes()
}

func oneLine(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
