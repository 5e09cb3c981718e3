package demo

import (
	"bufio"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// OutboxCheck is what the outbox holds compared with what it must hold:
// exactly one email per valid user, none for a rejected row.
type OutboxCheck struct {
	Dir   string
	Files int
	// Once is the number of valid users with exactly one email.
	Once int
	// Missing are valid users' addresses without an email; Duplicated
	// those with more than one; Forbidden the addresses of rejected rows
	// that got one; Unknown any other recipient. Each is sorted.
	Missing    []string
	Duplicated []string
	Forbidden  []string
	Unknown    []string
	// Unreadable are files whose To header could not be read.
	Unreadable []string
}

// OK reports whether every valid user has exactly one email and nobody else
// has any.
func (c *OutboxCheck) OK() bool {
	return len(c.Missing)+len(c.Duplicated)+len(c.Forbidden)+len(c.Unknown)+len(c.Unreadable) == 0
}

// checkOutbox reads the To header of every .eml file in dir and compares
// the recipients with the population.
func checkOutbox(dir string, p *population) (OutboxCheck, error) {
	c := OutboxCheck{Dir: dir}
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return c, fmt.Errorf("reading the outbox: %w", err)
	}
	got := make(map[string]int, len(p.Valid))
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".eml") {
			continue
		}
		c.Files++
		to, err := recipients(filepath.Join(dir, e.Name()))
		if err != nil || len(to) == 0 {
			c.Unreadable = append(c.Unreadable, e.Name())
			continue
		}
		for _, a := range to {
			got[strings.ToLower(a)]++
		}
	}
	for addr := range p.Valid {
		switch got[strings.ToLower(addr)] {
		case 0:
			c.Missing = append(c.Missing, addr)
		case 1:
			c.Once++
		default:
			c.Duplicated = append(c.Duplicated, addr)
		}
	}
	valid := make(map[string]bool, len(p.Valid))
	for addr := range p.Valid {
		valid[strings.ToLower(addr)] = true
	}
	forbidden := make(map[string]bool, len(p.Forbidden))
	for addr := range p.Forbidden {
		forbidden[strings.ToLower(addr)] = true
	}
	for addr := range got {
		switch {
		case valid[addr]:
		case forbidden[addr]:
			c.Forbidden = append(c.Forbidden, addr)
		default:
			c.Unknown = append(c.Unknown, addr)
		}
	}
	for _, s := range [][]string{c.Missing, c.Duplicated, c.Forbidden, c.Unknown, c.Unreadable} {
		sort.Strings(s)
	}
	return c, nil
}

// recipients parses the header of an .eml file and returns its To
// addresses.
func recipients(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := mail.ReadMessage(bufio.NewReader(f))
	if err != nil {
		return nil, err
	}
	list, err := m.Header.AddressList("To")
	if err != nil {
		return nil, err
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Address
	}
	return out, nil
}
